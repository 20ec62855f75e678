"""Knowledge work for staff: write, edit, publish and unpublish articles (drafts included),
similar solved tickets beside the one being worked on, and deflection feedback."""
from flask import g

from services.intake.schemas import STAFF
from services.search.schemas import (AnswerApprovalSchema, ArticleEditSchema,
                                     ArticleListSchema, ArticleSchema, SimilarLimitSchema)

from .. import console
from ..web import json_body, load, query_args, reply
from .article_versions import localized

ARTICLE = "/api/admin/articles/<article_id>"
OPERATIONS = [
    ("/api/admin/articles", "get", "All articles, drafts included (staff)", ArticleListSchema,
     None, True),
    ("/api/admin/articles", "post", "Write an article (staff; an agent's is a draft waiting "
     "for an editor)", ArticleSchema, None, True),
    ("/api/admin/articles/{article_id}", "get", "One article, draft or not (staff)", None,
     None, True),
    ("/api/admin/articles/{article_id}", "patch", "Edit an article: a new version (staff; an "
     "agent's waits for an editor, an editor's applies now or at publish_at)",
     ArticleEditSchema, None, True),
    ("/api/admin/articles/{article_id}/publish", "post", "Publish an article (editors: "
     "supervisors, admins)", None, None, True),
    ("/api/admin/articles/{article_id}/unpublish", "post", "Unpublish an article (editors)",
     None, None, True),
    ("/api/tickets/{number}/similar", "get", "Similar solved tickets with their resolutions "
     "(staff)", SimilarLimitSchema, None, True),
    ("/api/tickets/{number}/answer-draft", "get", "A solved ticket as a reusable answer with "
     "personal data removed, to read before approving (staff)", None, None, True),
    ("/api/tickets/{number}/answer", "post", "Approve the (edited) answer for reuse in "
     "suggestions: title, body (staff)", AnswerApprovalSchema, None, True),
    ("/api/tickets/{number}/answer", "delete", "Withdraw an approved answer (staff)", None,
     None, True),
    ("/api/admin/suggest-feedback", "get", "Which suggestions solved problems (supervisors)",
     None, None, True),
]
STAFF_ROLES = tuple(sorted(STAFF))


def register(app, portal):
    rpc, staff = portal.rpc, portal.requires(*STAFF_ROLES)

    @app.get("/api/admin/articles")
    @staff
    def admin_list_articles():
        query = ArticleListSchema().dump(query_args(ArticleListSchema()))
        return reply(rpc.call("search", "list_articles", query))

    @app.post("/api/admin/articles")
    @staff
    def create_article():
        body = ArticleSchema().dump(load(ArticleSchema(), json_body()))
        return reply(localized(rpc.call("search", "create_article", body, portal.actor(g.user))),
                     201, key="article")

    @app.get(ARTICLE)
    @staff
    def admin_get_article(article_id: str):
        return reply(rpc.call("search", "get_article", article_id[:64]), key="article")

    @app.patch(ARTICLE)
    @staff
    def edit_article(article_id: str):
        body = ArticleEditSchema().dump(load(ArticleEditSchema(), json_body()))
        return reply(localized(rpc.call("search", "update_article", article_id[:64], body,
                                       portal.actor(g.user))), key="article")

    @app.post(ARTICLE + "/publish")
    @staff
    def publish_article(article_id: str):
        return reply(localized(rpc.call("search", "publish_article", article_id[:64],
                                       portal.actor(g.user))), key="article")

    @app.post(ARTICLE + "/unpublish")
    @staff
    def unpublish_article(article_id: str):
        return reply(localized(rpc.call("search", "unpublish_article", article_id[:64],
                                       portal.actor(g.user))), key="article")

    @app.get("/api/tickets/<int:number>/similar")
    @staff
    def similar_tickets(number: int):
        acting = portal.actor(g.user)
        found = rpc.call("intake", "get_ticket", number, acting)
        if found["ok"]:
            query = query_args(SimilarLimitSchema())
            found = rpc.call("search", "similar_tickets",
                             console.similar_query(found["ticket"], query["limit"]), acting)
        return reply(found)

    def ticket_names(number: int) -> dict:
        """Names in the ticket (console.ticket_names), or intake's refusal (not found)."""
        found = rpc.call("intake", "get_ticket", number, portal.actor(g.user))
        return {"ok": True, "names": console.ticket_names(found["ticket"])} if found["ok"] \
            else found

    @app.get("/api/tickets/<int:number>/answer-draft")
    @staff
    def answer_draft(number: int):
        known = ticket_names(number)
        if known["ok"]:
            known = rpc.call("search", "answer_draft", {"number": number, "names": known["names"]})
        return reply(known, key="answer")

    @app.post("/api/tickets/<int:number>/answer")
    @staff
    def approve_answer(number: int):
        body = json_body()
        known = ticket_names(number)
        if known["ok"]:
            approval = load(AnswerApprovalSchema(), dict(body, number=number,
                                                          names=known["names"]))
            known = rpc.call("search", "approve_answer", AnswerApprovalSchema().dump(approval),
                             portal.actor(g.user))
        return reply(known, 201, key="answer")

    @app.delete("/api/tickets/<int:number>/answer")
    @staff
    def withdraw_answer(number: int):
        known = ticket_names(number)  # the agent may see the ticket (department scope)
        if known["ok"]:
            known = rpc.call("search", "withdraw_answer", number)
        return reply(known, key="answer")

    @app.get("/api/admin/suggest-feedback")
    @portal.requires("supervisor", "admin")
    def suggest_feedback_summary():
        return reply(rpc.call("search", "feedback_summary"))
