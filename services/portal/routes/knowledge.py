"""Public knowledge reads: suggestions while typing, published articles, search, and the
"did this solve it?" answer.  Who may see what is decided inside the search query from the
signed-in user (anonymous readers: published articles only)."""
from flask import request

from services.search.schemas import (ArticleListSchema, FeedbackSchema, SearchQuerySchema,
                                     SuggestQuerySchema)

from ..web import ApiError, json_body, load, query_args, reply

OPERATIONS = [
    ("/api/suggest", "get", "Articles and solved tickets that may answer a question",
     SuggestQuerySchema, None, False),
    ("/api/suggest/feedback", "post", "Say whether a suggestion solved the problem",
     FeedbackSchema, None, False),
    ("/api/search", "get", "Full-text search with filters (customers: own tickets and "
     "published articles; tags comma-separated)", SearchQuerySchema, None, False),
    ("/api/articles", "get", "Published knowledge articles", ArticleListSchema, None, False),
]


def search_args() -> dict:
    """Query string for SearchQuerySchema: ``tags`` may repeat or be comma-separated."""
    args = {k: v for k, v in request.args.items() if k != "tags"}
    tags = [t.strip() for raw in request.args.getlist("tags") for t in raw.split(",")
            if t.strip()]
    if tags:
        args["tags"] = tags
    return load(SearchQuerySchema(), args)


def register(app, portal):
    rpc = portal.rpc

    def reader():
        user = portal.authenticate()
        return portal.actor(user) if user else None

    @app.get("/api/suggest")
    def suggest():
        return reply(rpc.call("search", "suggest", query_args(SuggestQuerySchema()), reader()))

    @app.post("/api/suggest/feedback")
    def suggest_feedback():
        body = FeedbackSchema().dump(load(FeedbackSchema(), json_body()))
        return reply(rpc.call("search", "record_feedback", body, reader()), 201)

    @app.get("/api/search")
    def search():
        query = SearchQuerySchema().dump(search_args())
        return reply(rpc.call("search", "search", query, reader()))

    @app.get("/api/articles")
    def list_articles():
        query = dict(ArticleListSchema().dump(query_args(ArticleListSchema())), published=True)
        return reply(rpc.call("search", "list_articles", query))

    @app.get("/api/articles/<article_id>")
    def get_article(article_id: str):
        result = rpc.call("search", "get_article", article_id[:64])
        if result["ok"] and not result["article"]["published"]:
            raise ApiError(404, {"_schema": ["article not found"]})
        return reply(result, key="article")
