"""The knowledge base for people: browse, search, read an article or an approved answer, and
say "this solved it" or "didn't help"."""
from flask import render_template, request
from flask_babel import get_locale

from .knowledge import published_answer, published_article, published_articles, record_solved

OPERATIONS: list = []

# What a reader can open from a suggestion: kind -> how it is loaded (404 unless published).
READABLE = {"article": published_article, "answer": published_answer}


def question() -> str | None:
    """The question a suggestion was opened from (``q`` on the link, then on the forms), so
    the page's feedback counts under it."""
    q = (request.values.get("q") or "").strip()[:500]
    return q or None


def register(app, portal):
    def language() -> str:
        return str(get_locale() or "en")

    @app.get("/kb")
    def kb_page():
        q = request.args.get("q", "").strip()[:500]
        results, articles = [], []
        if q:
            found = portal.rpc.call("search", "suggest", {"q": q, "language": language(),
                                                          "limit": 20})
            results = [r for r in found.get("results", []) if r["kind"] == "article"]
        else:
            articles = published_articles(portal, language())
        return render_template("kb.html", q=q, results=results, articles=articles)

    def reading(kind: str, doc_id: str, outcome: str | None = None):
        doc = READABLE[kind](portal, doc_id)  # a 404 page if not published
        return render_template("article.html", article=doc, kind=kind, outcome=outcome,
                               q=question())

    def feedback(kind: str, doc_id: str, solved: bool):
        READABLE[kind](portal, doc_id)  # 404 for anything not published
        record_solved(portal, {"kind": kind, "id": doc_id, "query": question()},
                      portal.page_user(), solved=solved)
        return reading(kind, doc_id, outcome="solved" if solved else "not-helped")

    # The same three routes for each readable kind: /kb/<id> (articles), /answers/<id>.
    for kind, base in (("article", "/kb"), ("answer", "/answers")):
        for suffix, method, view in _views(kind, reading, feedback):
            if method == "POST":
                view = portal.feedback_limits(view)
            app.add_url_rule(base + "/<doc_id>" + suffix, view.__name__, view, methods=[method])


def _views(kind: str, reading, feedback):
    def page(doc_id: str):
        return reading(kind, doc_id)

    def solved(doc_id: str):
        return feedback(kind, doc_id, solved=True)

    def not_helped(doc_id: str):
        return feedback(kind, doc_id, solved=False)
    for view, name in ((page, "page"), (solved, "solved"), (not_helped, "not_helped")):
        view.__name__ = f"{kind}_{name}"
    return [("", "GET", page), ("/solved", "POST", solved), ("/not-helped", "POST", not_helped)]
