// Live answers while the customer types: debounced calls to /api/suggest; each card has a
// title linking to the answer's page, a "this solved it" and a "didn't help" button (both
// recorded); no re-render while the same answers come back, in whatever order (no flicker
// while typing); the typed text kept for the Back button.
// A random visit id (kept in this tab's sessionStorage) goes with every call and with the
// ticket form, so the deflection funnel can tell what one visit saw, opened, and whether it
// still filed a ticket (services/search/funnel.py).
(function () {
  var form = document.getElementById('ticket-form');
  if (!form || !window.fetch) return;
  var box = document.getElementById('suggestions');
  var list = box.querySelector('ul');
  var lang = form.dataset.lang;
  var timer = null, seq = 0, lastQuery = '', shown = '', dismissed = {};
  var KEPT = 'helpdesk-ticket-draft', VISIT = 'helpdesk-suggest-session';
  var session = visitId();
  if (form.suggest_session) form.suggest_session.value = session;

  function visitId() {
    var id = null;
    try { id = sessionStorage.getItem(VISIT); } catch (e) { /* storage refused */ }
    if (!id || !/^[A-Za-z0-9_-]{16,64}$/.test(id)) {
      var bytes = new Uint8Array(16);
      (window.crypto || window.msCrypto).getRandomValues(bytes);
      id = Array.prototype.map.call(bytes, function (b) {
        return ('0' + b.toString(16)).slice(-2);
      }).join('');
      try { sessionStorage.setItem(VISIT, id); } catch (e) { /* a new id per page then */ }
    }
    return id;
  }

  // Going to an article and back: the browser may drop the typed text; keep it this session.
  try {
    var kept = JSON.parse(sessionStorage.getItem(KEPT) || '{}');
    if (!form.subject.value && kept.subject) form.subject.value = kept.subject;
    if (!form.description.value && kept.description) form.description.value = kept.description;
  } catch (e) { /* storage refused: nothing kept */ }
  function keep() {
    try {
      sessionStorage.setItem(KEPT, JSON.stringify({subject: form.subject.value,
                                                   description: form.description.value}));
    } catch (e) { /* storage refused */ }
  }
  form.addEventListener('submit', function () {
    // The next question in this tab is another visit.
    try { sessionStorage.removeItem(KEPT); sessionStorage.removeItem(VISIT); } catch (e) { /* storage refused */ }
  });

  // A feedback button: POSTs ``body`` to ``url``; once the server kept it, ``replaced``
  // gives way to a status note.
  function feedbackButton(label, className, url, body, note, noteClass, replaced, kept) {
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary ' + className;
    button.textContent = label;
    button.addEventListener('click', function () {
      fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'},
                  body: JSON.stringify(body())})
        .then(function (reply) {
          if (!reply.ok) return;
          if (kept) kept();
          var p = document.createElement('p');
          p.className = 'notice ' + noteClass;
          p.setAttribute('role', 'status');
          p.textContent = note;
          (replaced || button).replaceWith(p);
        }).catch(function () {});
    });
    return button;
  }

  function solvedButton(r) {
    return feedbackButton(form.dataset.solved, 'solved', '/api/feedback', function () {
      return {kind: r.kind, id: r.id, query: lastQuery.slice(0, 500) || null, session: session};
    }, form.dataset.thanks, 'solved-noted');
  }

  function notHelpedButton(r, li) {
    return feedbackButton(form.dataset.notHelped, 'not-helped', '/api/suggest/feedback',
      function () {
        return {q: lastQuery.slice(0, 500) || r.title || r.id, result_kind: r.kind,
                result_id: r.id, solved: false, session: session};
      }, form.dataset.noted, 'not-helped-noted', li,
      function () { dismissed[r.kind + ':' + r.id] = true; });
  }

  // "Opened": sent with keepalive, so it survives the page going to the article.
  function opened(r) {
    fetch('/api/suggest/opened', {method: 'POST', keepalive: true,
                                  headers: {'Content-Type': 'application/json'},
                                  body: JSON.stringify({session: session, result_kind: r.kind,
                                                        result_id: r.id})})
      .catch(function () {});
  }

  // Where a card leads: an article or an approved answer as a page of its own (carrying the
  // question, so "didn't help" there counts under it), a solved request to its ticket page.
  function link(r) {
    var q = lastQuery ? '?q=' + encodeURIComponent(lastQuery.slice(0, 500)) : '';
    if (r.kind === 'article') return '/kb/' + encodeURIComponent(r.id) + q;
    if (r.kind === 'answer') return '/answers/' + encodeURIComponent(r.id) + q;
    return form.dataset.ticketBase + encodeURIComponent(r.number);
  }

  function label(r) {
    return {article: form.dataset.labelArticle, answer: form.dataset.labelAnswer}[r.kind] ||
      form.dataset.labelTicket;
  }

  function key(r) { return r.kind + ':' + r.id; }

  function render(results, current) {
    if (current !== seq) return; // an older answer arriving late
    results = results.filter(function (r) { return !dismissed[key(r)]; });
    // The same answers in another order (the scores moved by a letter): leave the list as it
    // is, so nothing jumps under the reader's pointer while they type.
    var ids = results.map(key).sort().join(' ');
    if (ids === shown && !box.hidden) return;
    shown = ids;
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
      li.dataset.kind = r.kind;
      var kind = document.createElement('span');
      kind.className = 'kind';
      kind.textContent = label(r);
      var title = document.createElement('a');
      title.className = 'title';
      title.href = link(r);
      title.addEventListener('click', function () { opened(r); });
      title.textContent = r.title;
      var snippet = document.createElement('p');
      // Snippets come HTML-escaped from the server with <mark> highlights only.
      snippet.innerHTML = r.snippet;
      li.appendChild(kind); li.appendChild(title); li.appendChild(snippet);
      li.appendChild(solvedButton(r));
      li.appendChild(notHelpedButton(r, li));
      list.appendChild(li);
    });
  }

  function ask() {
    var text = (form.subject.value + ' ' + form.description.value).trim();
    if (text.length < 3) { box.hidden = true; return; }
    var current = ++seq;
    lastQuery = text;
    fetch('/api/suggest?language=' + lang + '&session=' + session +
          '&q=' + encodeURIComponent(text.slice(0, 500)))
      .then(function (r) { return r.ok ? r.json() : {results: []}; })
      .then(function (body) { render(body.results || [], current); })
      .catch(function () {});
  }

  function schedule() { keep(); clearTimeout(timer); timer = setTimeout(ask, 200); }
  form.subject.addEventListener('input', schedule);
  form.description.addEventListener('input', schedule);
  if (form.subject.value) schedule(); // prefilled from the knowledge base
})();
