"""The knowledge base for people: browse, search, read, and say "this solved it"."""
from flask import render_template, request
from flask_babel import get_locale

from .knowledge import published_article, published_articles, record_solved

OPERATIONS: list = []


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

    def article_view(article_id: str, thanked: bool = False):
        article = published_article(portal, article_id)  # a 404 page if not published
        return render_template("article.html", article=article, thanked=thanked)

    @app.get("/kb/<article_id>")
    def article_page(article_id: str):
        return article_view(article_id)

    @app.post("/kb/<article_id>/solved")
    @portal.feedback_limits
    def article_solved(article_id: str):
        published_article(portal, article_id)  # 404 for anything not published
        user = portal.page_user()
        record_solved(portal, {"kind": "article", "id": article_id, "query": None}, user)
        return article_view(article_id, thanked=True)
