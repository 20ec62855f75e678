// Live answers while the customer types: debounced calls to /api/suggest.
(function () {
  var form = document.getElementById('ticket-form');
  if (!form || !window.fetch) return;
  var box = document.getElementById('suggestions');
  var list = box.querySelector('ul');
  var lang = form.dataset.lang;
  var timer = null, seq = 0;

  function render(results, current) {
    if (current !== seq) return; // an older answer arriving late
    list.textContent = '';
    box.hidden = false;
    if (!results.length) {
      var li = document.createElement('li');
      li.className = 'none';
      li.textContent = form.dataset.none;
      list.appendChild(li);
      return;
    }
    results.forEach(function (r) {
      var li = document.createElement('li');
      var kind = document.createElement('span');
      kind.className = 'kind';
      kind.textContent = r.kind === 'article' ? form.dataset.labelArticle : form.dataset.labelTicket;
      var title = document.createElement('strong');
      title.textContent = r.title;
      var snippet = document.createElement('p');
      // Snippets come HTML-escaped from the server with <mark> highlights only.
      snippet.innerHTML = r.snippet;
      li.appendChild(kind); li.appendChild(title); li.appendChild(snippet);
      list.appendChild(li);
    });
  }

  function ask() {
    var text = (form.subject.value + ' ' + form.description.value).trim();
    if (text.length < 3) { box.hidden = true; return; }
    var current = ++seq;
    fetch('/api/suggest?language=' + lang + '&q=' + encodeURIComponent(text.slice(0, 500)))
      .then(function (r) { return r.ok ? r.json() : {results: []}; })
      .then(function (body) { render(body.results || [], current); })
      .catch(function () {});
  }

  function schedule() { clearTimeout(timer); timer = setTimeout(ask, 200); }
  form.subject.addEventListener('input', schedule);
  form.description.addEventListener('input', schedule);
})();
