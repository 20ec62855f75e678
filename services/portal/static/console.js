// Agent console: SLA countdowns that tick, the "who else is here" heartbeat of the workspace,
// and live updates: the page listens to /agent/live (Server-Sent Events) and, when something
// it shows changes, fetches itself again and swaps the parts named in data-live-regions (never
// the editor, never a part holding the focus).  Loaded as a file (CSP: script-src 'self');
// everything works without it, only less live.
(function () {
  "use strict";

  function refreshCountdowns() {
    var now = Date.now();
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      var minutes = Math.floor((Date.parse(el.dataset.due) - now) / 60000);
      el.classList.toggle("sla-breached", minutes < 0);
      el.classList.toggle("sla-soon", minutes >= 0 && minutes <= 60);
      el.classList.toggle("sla-ok", minutes > 60);
      if (el.dataset.minutesLeft !== String(minutes) && el.dataset.left) {
        el.textContent = (minutes < 0 ? el.dataset.late : el.dataset.left)
          .replace("{m}", String(Math.abs(minutes)));
      }
      el.dataset.minutesLeft = String(minutes);
    });
  }

  var workspace = document.getElementById("workspace");
  var body = document.getElementById("body");
  function mode() { return body && body.value.trim() ? "replying" : "viewing"; }

  function heartbeat(announce) {
    if (!workspace) { return; }
    var form = new FormData();
    form.append("mode", mode());
    if (announce) { form.append("announce", "1"); }
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

  // ------------------------------------------------------------------ live regions
  var host = document.querySelector("[data-live-regions]");
  var nav = document.getElementById("console-nav");
  var pending = null, running = false, again = false;
  var RECORDED_LATER = ["ticket_assigned", "ticket_classified", "priority_changed",
                        "sla_deadlines_set", "sla_warning", "sla_breached"];

  function redraw() {
    running = true;
    var url = workspace ? location.pathname : location.pathname + location.search;
    fetch(url, {credentials: "same-origin", headers: {"X-Live-Refresh": "1"}})
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        // Rows picked for a bulk action stay picked when the queue is redrawn.
        var picked = Array.prototype.map.call(
          document.querySelectorAll("input.pick:checked"), function (box) { return box.value; });
        picked.forEach(function (value) {
          var box = fresh.querySelector('input.pick[value="' + value + '"]');
          if (box) { box.setAttribute("checked", "checked"); }
        });
        host.dataset.liveRegions.split(" ").forEach(function (id) {
          var old = document.getElementById(id), next = fresh.getElementById(id);
          if (old && next && !old.contains(document.activeElement)) {
            old.replaceWith(document.importNode(next, true));
          }
        });
        refreshCountdowns();
        document.dispatchEvent(new CustomEvent("console:redrawn"));
      })
      .catch(function () { /* the next change or resync tries again */ })
      .then(function () {
        running = false;
        if (again) { again = false; schedule(); }
      });
  }

  function schedule() {
    if (running) { again = true; return; }
    if (pending) { return; }
    pending = setTimeout(function () { pending = null; redraw(); },
                         Number(host.dataset.livePause || 150));
  }

  if (host && nav && window.EventSource) {
    var ticket = host.dataset.liveTicket ? Number(host.dataset.liveTicket) : null;
    var source = new EventSource(nav.dataset.live + "?since=" +
                                 encodeURIComponent(nav.dataset.liveSince || ""));
    source.addEventListener("change", function (e) {
      var item = JSON.parse(e.data);
      if (item.type === "mention") {  // a colleague named me in an internal note
        var notice = document.getElementById("mention-notice");
        if (notice) {
          var link = notice.querySelector("a");
          link.href = notice.dataset.href.replace("0", String(item.number));
          link.textContent = "#" + item.number;
          notice.hidden = false;
        }
        return;
      }
      if (item.type === "presence") {
        if (ticket !== null && item.number === ticket) { heartbeat(false); }
        return;
      }
      if (ticket !== null && item.type !== "resync" && item.number !== ticket) { return; }
      schedule();
      // Intake records what routing and SLA decide when it hears the same event: the page
      // may be fetched before that, so look once more a moment later.
      if (RECORDED_LATER.indexOf(item.type) >= 0) { setTimeout(schedule, 1000); }
    });
    // Just handed to someone and intake has not recorded it yet (its event may have come
    // before this page was drawn): look again shortly.
    if (host.dataset.liveRecheck) { setTimeout(schedule, 1000); setTimeout(schedule, 2500); }
    source.addEventListener("open", function () { document.body.dataset.live = "on"; });
    source.addEventListener("error", function () { document.body.dataset.live = "off"; });
  }

  // ------------------------------------------------------------------ canned responses, macros
  // Both without leaving the page: the draft in the editor is never lost.
  var cannedForm = document.getElementById("canned-form");
  if (cannedForm && body) {
    cannedForm.addEventListener("submit", function (e) {
      e.preventDefault();
      var id = document.getElementById("canned").value;
      fetch(cannedForm.dataset.text.replace("CANNED", encodeURIComponent(id)),
            {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); }).then(function (data) {
          if (!data.text) { return; }
          var at = body.selectionStart || 0, end = body.selectionEnd || 0;
          if (!body.value || document.activeElement !== body) { at = end = body.value.length; }
          var gap = body.value && at === body.value.length && !/\s$/.test(body.value) ? "\n" : "";
          body.value = body.value.slice(0, at) + gap + data.text + body.value.slice(end);
          body.dispatchEvent(new Event("input"));
          var preview = document.getElementById("canned-preview");
          if (!preview) {
            preview = document.createElement("p");
            preview.id = "canned-preview";
            preview.className = "hint preview";
            cannedForm.after(preview);
          }
          preview.textContent = cannedForm.dataset.templateLabel + " " + data.template;
          body.focus();
        });
    });
  }

  document.querySelectorAll("form.macro-form").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var result = document.getElementById("macro-result");
      fetch(form.action, {method: "POST", body: new FormData(form), credentials: "same-origin",
                          headers: {"Accept": "application/json"}})
        .then(function (r) { return r.json(); }).then(function (data) {
          result.hidden = false;
          result.className = data.errors ? "error" : "notice";
          result.textContent = data.errors
            ? Object.keys(data.errors).map(function (k) { return [].concat(data.errors[k]).join(" "); }).join("; ")
            : form.closest("#macros").dataset.applied + " " + data.applied;
          if (!data.errors && host) { schedule(); }
        });
    });
  });

  // ------------------------------------------------------------------ keyboard shortcuts (listed on "?")
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.ticket-row")); }
  function move(step) {
    var all = rows();
    if (!all.length) { return; }
    var at = all.findIndex(function (r) { return r.classList.contains("selected"); });
    var next = all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))];
    all.forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    next.classList.add("selected");
    next.setAttribute("aria-selected", "true");
    next.scrollIntoView({block: "nearest"});
  }
  function write(visibility) {
    var choice = document.getElementById("visibility-" + visibility);
    if (choice && body) { choice.checked = true; body.focus(); }
  }
  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || (t && (t.isContentEditable ||
        /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName)))) { return; }
    var help = document.getElementById("shortcuts");
    var selected = document.querySelector("tr.ticket-row.selected");
    var assign = document.getElementById("assign-to-me");
    var act = {
      "j": function () { move(1); }, "k": function () { move(-1); },
      "o": function () { if (selected) { location.href = selected.dataset.href; } },
      "Enter": function () { if (selected) { location.href = selected.dataset.href; } },
      "r": function () { write("public"); }, "n": function () { write("internal"); },
      "a": function () { if (assign) { assign.requestSubmit(); } },
      "?": function () { if (help) { help.hidden = !help.hidden; } },
      "Escape": function () { if (help) { help.hidden = true; } }
    }[e.key];
    if (act) { e.preventDefault(); act(); }
  });

  refreshCountdowns();
  setInterval(refreshCountdowns, 1000);

  if (workspace) {
    var last = mode();
    setInterval(function () { heartbeat(false); }, 15000);
    if (body) {
      body.addEventListener("input", function () {
        if (mode() !== last) { last = mode(); heartbeat(true); }
      });
    }
  }
}());
