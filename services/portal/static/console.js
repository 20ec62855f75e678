// Agent console: live SLA countdowns and the "who else is here" heartbeat of the workspace.
// Loaded as a file (CSP: script-src 'self'); everything works without it, only less live.
(function () {
  "use strict";

  function refreshCountdowns() {
    var now = Date.now();
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      var minutes = Math.floor((Date.parse(el.dataset.due) - now) / 60000);
      el.classList.toggle("sla-breached", minutes < 0);
      el.classList.toggle("sla-soon", minutes >= 0 && minutes <= 60);
      el.dataset.minutesLeft = String(minutes);
    });
  }

  function heartbeat(workspace, mode) {
    var form = new FormData();
    form.append("mode", mode);
    fetch(workspace.dataset.presence, {
      method: "POST", body: form, credentials: "same-origin",
      headers: {"X-CSRFToken": workspace.dataset.csrf}
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) { return; }
      var box = document.getElementById("viewers");
      var names = data.viewers.map(function (v) {
        return v.name + " (" + (v.mode === "replying" ? box.dataset.replying : box.dataset.viewing) + ")";
      });
      box.hidden = names.length === 0;
      if (names.length) { box.textContent = box.dataset.prefix + " " + names.join(", "); }
    }).catch(function () { /* offline for a moment: try again on the next beat */ });
  }

  refreshCountdowns();
  setInterval(refreshCountdowns, 60000);

  var workspace = document.getElementById("workspace");
  if (workspace) {
    var body = document.getElementById("body");
    var mode = function () { return body && body.value.trim() ? "replying" : "viewing"; };
    var last = mode();
    setInterval(function () { heartbeat(workspace, mode()); }, 15000);
    if (body) {
      body.addEventListener("input", function () {
        if (mode() !== last) { last = mode(); heartbeat(workspace, last); }
      });
    }
  }
}());
