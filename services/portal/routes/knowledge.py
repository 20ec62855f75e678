from flask import request

from services.search.schemas import SuggestQuerySchema

from ..web import ApiError, query_args, reply

OPERATIONS = [
    ("/api/suggest", "get", "Articles and solved tickets that may answer a question",
     SuggestQuerySchema, None, False),
    ("/api/articles", "get", "Published knowledge articles", None, None, False),
]


def register(app, portal):
    rpc = portal.rpc

    @app.get("/api/suggest")
    def suggest():
        return reply(rpc.call("search", "suggest", query_args(SuggestQuerySchema())))

    @app.get("/api/articles")
    def list_articles():
        language = request.args.get("language")
        result = rpc.call("search", "list_articles", language if language in ("en", "ru") else None)
        result["articles"] = [a for a in result["articles"] if a["published"]]
        return reply(result)

    @app.get("/api/articles/<article_id>")
    def get_article(article_id: str):
        result = rpc.call("search", "get_article", article_id[:64])
        if result["ok"] and not result["article"]["published"]:
            raise ApiError(404, {"_schema": ["article not found"]})
        return reply(result, key="article")
