"""Public knowledge reads: suggestions while typing, published articles, search, and the
"did this solve it?" answer.  Who may see what is decided inside the search query from the
signed-in user (anonymous readers: published articles only)."""
import os

from flask import jsonify, request
from nameko.exceptions import RpcTimeout

from services.search.schemas import SuggestionFeedbackSchema
from services.search.schemas import SearchQuerySchema, SuggestOpenedSchema, SuggestQuerySchema

from ..schemas import (AcceptedView, AnswerView, ArticlePageView, ArticleQuerySchema,
                       ArticleView, FeedbackSchema, SuggestionsView)
from ..web import ApiError, json_body, load, paged, query_args, reply

OPERATIONS = [
    ("/api/suggest", "get", "Articles and solved tickets that may answer a question",
     SuggestQuerySchema, SuggestionsView, False),
    ("/api/suggest/feedback", "post", "Say whether a suggestion solved the problem",
     SuggestionFeedbackSchema, None, False),
    ("/api/feedback", "post", "Record that a suggested article or solved ticket answered the "
     "question (\"this solved it\")", FeedbackSchema, AcceptedView, False),
    ("/api/suggest/opened", "post", "Say that a suggested answer was opened from the ticket "
     "form (the deflection funnel)", SuggestOpenedSchema, None, False),
    ("/api/search", "get", "Full-text search with filters (customers: own tickets and "
     "published articles; tags comma-separated)", SearchQuerySchema, None, False),
    ("/api/articles", "get", "Published knowledge articles, paged", ArticleQuerySchema,
     ArticlePageView, False),
    ("/api/articles/{article_id}", "get", "One published article", None, ArticleView, False),
    ("/api/answers/{answer_id}", "get", "One approved answer (personal data removed)", None,
     AnswerView, False),
]


# Seconds /api/suggest waits for the search service before answering "degraded".
SUGGEST_BUDGET = int(os.environ.get("HELPDESK_SUGGEST_BUDGET_MS") or "300") / 1000


# One instance for every keystroke's request (constructing one costs ~0.1 ms).
SUGGEST_QUERY = SuggestQuerySchema()


def search_args() -> dict:
    """Query string for SearchQuerySchema: ``tags`` may repeat or be comma-separated."""
    args = {k: v for k, v in request.args.items() if k != "tags"}
    tags = [t.strip() for raw in request.args.getlist("tags") for t in raw.split(",")
            if t.strip()]
    if tags:
        args["tags"] = tags
    return load(SearchQuerySchema(), args)


def reader(portal) -> dict | None:
    user = portal.authenticate()
    return portal.actor(user) if user else None


def published_articles(portal, language: str | None) -> list[dict]:
    query = {"published": True, **({"language": language} if language else {})}
    return portal.rpc.call("search", "list_articles", query)["articles"]


def published_article(portal, article_id: str) -> dict:
    """A published article, with its published translations only (drafts stay unseen)."""
    result = portal.rpc.call("search", "get_article", article_id[:64])
    if not result["ok"] or not result["article"]["published"]:
        raise ApiError(404, {"_schema": ["article not found"]})
    article = result["article"]
    return dict(article, translations=[t for t in article.get("translations", [])
                                       if t["published"]])


def published_answer(portal, answer_id: str) -> dict:
    """An approved answer (personal data removed when it was approved); 404 once withdrawn."""
    result = portal.rpc.call("search", "get_answer", answer_id[:64])
    if not result["ok"]:
        raise ApiError(404, {"_schema": ["answer not found"]})
    return result["answer"]


FEEDBACK_FIELDS = {"result_id": "id", "result_kind": "kind"}  # search's names -> this API's


def record_solved(portal, data: dict, user: dict | None, solved: bool = True) -> None:
    """"This solved it" (or, ``solved`` false, "didn't help"): deflection analytics live with
    the search service."""
    result = portal.rpc.call("search", "record_feedback", {
        "q": data.get("query") or data["id"], "result_kind": data["kind"],
        "result_id": data["id"], "solved": solved, "session": data.get("session")},
        portal.actor(user) if user else None)
    if not result["ok"]:
        raise ApiError(result["status"], {FEEDBACK_FIELDS.get(name, name): messages
                                          for name, messages in result["errors"].items()})


def register(app, portal):
    rpc = portal.rpc

    @app.get("/api/suggest")
    def suggest():
        query = query_args(SUGGEST_QUERY)
        try:  # suggestions while typing: late ones are worth nothing
            found = rpc.call_within(SUGGEST_BUDGET, "search", "suggest", query, reader(portal))
        except RpcTimeout:
            return jsonify({"results": [], "degraded": True})
        return reply(found)

    @app.post("/api/suggest/feedback")
    @portal.feedback_limits
    def suggest_feedback():
        body = SuggestionFeedbackSchema().dump(load(SuggestionFeedbackSchema(), json_body()))
        return reply(rpc.call("search", "record_feedback", body, reader(portal)), 201)

    @app.post("/api/suggest/opened")
    @portal.feedback_limits
    def suggest_opened():
        body = SuggestOpenedSchema().dump(load(SuggestOpenedSchema(), json_body()))
        return reply(rpc.call("search", "record_suggest_opened", body), 202)

    @app.post("/api/feedback")
    @portal.feedback_limits
    def feedback():
        record_solved(portal, load(FeedbackSchema(), json_body()), portal.authenticate())
        return jsonify({"status": "recorded"}), 201

    @app.get("/api/search")
    def search():
        query = SearchQuerySchema().dump(search_args())
        return reply(rpc.call("search", "search", query, reader(portal)))

    @app.get("/api/articles")
    def list_articles():
        q = query_args(ArticleQuerySchema())
        return jsonify(paged(published_articles(portal, q.get("language")), q["page"],
                             q["per_page"], "articles"))

    @app.get("/api/articles/<article_id>")
    def get_article(article_id: str):
        return jsonify(published_article(portal, article_id))

    @app.get("/api/answers/<answer_id>")
    def get_answer(answer_id: str):
        return jsonify(published_answer(portal, answer_id))
