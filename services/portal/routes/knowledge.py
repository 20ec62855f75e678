"""Knowledge base and suggestions over the API."""
from flask import jsonify

from services.search.schemas import SuggestQuerySchema

from ..schemas import (AcceptedView, ArticlePageView, ArticleQuerySchema, ArticleView,
                       FeedbackSchema, SuggestionsView)
from ..web import ApiError, json_body, load, paged, query_args, reply

OPERATIONS = [
    ("/api/suggest", "get", "Articles and solved tickets that may answer a question",
     SuggestQuerySchema, SuggestionsView, False),
    ("/api/articles", "get", "Published knowledge articles, paged", ArticleQuerySchema,
     ArticlePageView, False),
    ("/api/articles/{article_id}", "get", "One published article", None, ArticleView, False),
    ("/api/feedback", "post", "Record that a suggested article or solved ticket answered the "
     "question (\"this solved it\")", FeedbackSchema, AcceptedView, False),
]


def published_articles(portal, language: str | None) -> list[dict]:
    result = portal.rpc.call("search", "list_articles", language)
    return [a for a in result["articles"] if a["published"]]


def published_article(portal, article_id: str) -> dict:
    result = portal.rpc.call("search", "get_article", article_id[:64])
    if not result["ok"] or not result["article"]["published"]:
        raise ApiError(404, {"_schema": ["article not found"]})
    return result["article"]


def record_solved(portal, data: dict, user: dict | None) -> None:
    """Kept in the portal's own collection: the search service has no feedback RPC yet."""
    portal.users.record_feedback(kind=data["kind"], target_id=data["id"], query=data["query"],
                                 user_id=user and user["_id"], now=portal.clock.now())


def register(app, portal):
    rpc = portal.rpc

    @app.get("/api/suggest")
    def suggest():
        return reply(rpc.call("search", "suggest", query_args(SuggestQuerySchema())))

    @app.get("/api/articles")
    def list_articles():
        q = query_args(ArticleQuerySchema())
        return jsonify(paged(published_articles(portal, q.get("language")), q["page"],
                             q["per_page"], "articles"))

    @app.get("/api/articles/<article_id>")
    def get_article(article_id: str):
        return jsonify(published_article(portal, article_id))

    @app.post("/api/feedback")
    def feedback():
        data = load(FeedbackSchema(), json_body())
        record_solved(portal, data, portal.authenticate())
        return jsonify({"status": "recorded"}), 201
