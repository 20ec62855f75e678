// Live answers while the customer types: debounced calls to /api/suggest, and a "this solved
// it" button on each answer that records the feedback and spares a request.
(function () {
  var form = document.getElementById('ticket-form');
  if (!form || !window.fetch) return;
  var box = document.getElementById('suggestions');
  var list = box.querySelector('ul');
  var lang = form.dataset.lang;
  var timer = null, seq = 0, lastQuery = '';

  function solvedButton(r) {
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary solved';
    button.textContent = form.dataset.solved;
    button.addEventListener('click', function () {
      fetch('/api/feedback', {method: 'POST', headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({kind: r.kind, id: r.id, query: lastQuery.slice(0, 500) || null})})
        .then(function () {
          var thanks = document.createElement('p');
          thanks.className = 'notice';
          thanks.setAttribute('role', 'status');
          thanks.textContent = form.dataset.thanks;
          button.replaceWith(thanks);
        }).catch(function () {});
    });
    return button;
  }

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
      li.className = 'suggestion';
      var kind = document.createElement('span');
      kind.className = 'kind';
      kind.textContent = r.kind === 'article' ? form.dataset.labelArticle : form.dataset.labelTicket;
      var title = r.kind === 'article' ? document.createElement('a') : document.createElement('strong');
      if (r.kind === 'article') title.href = '/kb/' + encodeURIComponent(r.id);
      title.textContent = r.title;
      var snippet = document.createElement('p');
      // Snippets come HTML-escaped from the server with <mark> highlights only.
      snippet.innerHTML = r.snippet;
      li.appendChild(kind); li.appendChild(title); li.appendChild(snippet);
      li.appendChild(solvedButton(r));
      list.appendChild(li);
    });
  }

  function ask() {
    var text = (form.subject.value + ' ' + form.description.value).trim();
    if (text.length < 3) { box.hidden = true; return; }
    var current = ++seq;
    lastQuery = text;
    fetch('/api/suggest?language=' + lang + '&q=' + encodeURIComponent(text.slice(0, 500)))
      .then(function (r) { return r.ok ? r.json() : {results: []}; })
      .then(function (body) { render(body.results || [], current); })
      .catch(function () {});
  }

  function schedule() { clearTimeout(timer); timer = setTimeout(ask, 200); }
  form.subject.addEventListener('input', schedule);
  form.description.addEventListener('input', schedule);
  if (form.subject.value) schedule(); // prefilled from the knowledge base
})();
