"""REST routes for what tickets carry beyond the thread: staff edits and their audit history,
follow-ups, CSAT (signed in, or by the emailed link), attachments, tags and canned
responses.  Every rule lives in intake; these views only translate HTTP."""
from __future__ import annotations

from html import escape

from flask import g, request
from flask_wtf.csrf import generate_csrf
from marshmallow import ValidationError, fields

from services.common.events import CSAT_SCORES
from services.intake.schemas import (CSAT_COMMENT_MAX, AttachmentView, AuditView,
                                     CannedCreateSchema, CannedQuerySchema, CannedView,
                                     CsatSchema, CsatView,
                                     MailSettingsSchema, MessageCreateSchema, TagQuerySchema, TagRenameSchema,
                                     TicketSchema, TicketUpdateSchema)

from .. import admin_forms as forms
from ..schemas import reply_of
from ..uploads import download_response, upload_payload
from ..web import ApiError, json_body, load, query_args, reply
from .agent_pages import render_canned as render_filled

STAFF_ROLES = ("agent", "supervisor", "admin")
# The emailed link proves who rates, not who may read the whole ticket: number and rating only.
RatedByLinkView = reply_of("RatedByLinkView", number=fields.Int(), csat=fields.Nested(CsatView))

OPERATIONS = [
    ("/api/tickets/{number}", "patch", "Staff: change priority, category, department, tags "
     "or organization", TicketUpdateSchema, TicketSchema, True),
    ("/api/tickets/{number}/history", "get", "Staff: who changed which field, when, old -> new",
     None, AuditView(many=True), True),
    ("/api/tickets/{number}/follow-up", "post", "File a follow-up to a closed ticket "
     "(body: the new description)", MessageCreateSchema, TicketSchema, True),
    ("/api/tickets/{number}/csat", "post", "Requester: rate a solved ticket once (score 1-5, "
     "5 = very satisfied, and an optional comment)", CsatSchema, TicketSchema, True),
    ("/api/csat/{token}", "post", "Rate a solved ticket from the emailed link (score 1-5 and "
     "an optional comment)", CsatSchema, RatedByLinkView, False),
    ("/api/tickets/{number}/attachments", "post", "Attach a file (multipart field 'file'; "
     "form field 'public=false' for staff-only)", None, AttachmentView, True),
    ("/api/tickets/{number}/attachments/{attachment_id}", "get", "Download an attachment",
     None, None, True),
    ("/api/tags", "get", "Staff: tag autocomplete by prefix, most used first", TagQuerySchema,
     None, True),
    ("/api/tags/rename", "post", "Supervisor: rename a tag everywhere (merge if it exists)",
     TagRenameSchema, None, True),
    ("/api/canned", "get", "Staff: shared and own canned responses", CannedQuerySchema,
     CannedView(many=True), True),
    ("/api/canned", "post", "Staff: save a canned response ($customer_name, $ticket_number, "
     "$ticket_subject, $agent_name, $department)", CannedCreateSchema, CannedView, True),
    ("/api/tickets/{number}/canned/{canned_id}", "get", "Staff: a canned response filled in "
     "for this ticket", None, None, True),
    ("/api/canned/{canned_id}", "put", "Replace a canned response: shared ones by supervisors "
     "and admins, personal ones by their owner", CannedCreateSchema, CannedView, True),
    ("/api/canned/{canned_id}", "delete", "Delete a canned response (same rights as editing)",
     None, None, True),
    ("/api/admin/email-settings", "get", "Admin: outbound email settings in effect",
     None, MailSettingsSchema, True),
    ("/api/admin/email-settings", "put", "Admin: replace the outbound email settings "
     "(sender, reply-to, notification toggles, fallback language)", MailSettingsSchema,
     MailSettingsSchema, True),
]


def register(app, portal):
    rpc, actor = portal.rpc, portal.actor

    @app.patch("/api/tickets/<int:number>")
    @portal.requires(*STAFF_ROLES)
    def update_ticket(number: int):
        changes = load(TicketUpdateSchema(), json_body())
        return reply(rpc.call("intake", "update_ticket", number,
                              TicketUpdateSchema().dump(changes), actor(g.user)), key="ticket")

    @app.get("/api/tickets/<int:number>/history")
    @portal.requires(*STAFF_ROLES)
    def ticket_history(number: int):
        return reply(rpc.call("intake", "get_history", number, actor(g.user)), key="history")

    @app.post("/api/tickets/<int:number>/follow-up")
    @portal.requires()
    def follow_up(number: int):
        body = load(MessageCreateSchema(only=("body",)), json_body())
        return reply(rpc.call("intake", "create_follow_up", number, body, actor(g.user)), 201,
                     key="ticket")

    @app.post("/api/tickets/<int:number>/csat")
    @portal.requires("customer")
    def rate(number: int):
        body = load(CsatSchema(), json_body())
        return reply(rpc.call("intake", "submit_csat", number, body, actor(g.user)),
                     key="ticket")

    @app.post("/api/csat/<token>")
    def rate_by_link(token: str):
        body = load(CsatSchema(), json_body())
        result = rpc.call("intake", "submit_csat_by_token", token[:80], body)
        if result["ok"]:  # the link proves who rates, not who may read the whole ticket
            return reply({"ok": True, "number": result["ticket"]["number"],
                          "csat": result["ticket"]["csat"]})
        return reply(result)

    @app.post("/api/tickets/<int:number>/attachments")
    @portal.requires()
    def attach(number: int):
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(400, {"file": ["Send the file as multipart/form-data field 'file'."]})
        public = request.form.get("public", "true").lower() not in ("false", "0", "no")
        result = rpc.call("intake", "add_attachment", number, upload_payload(upload, public),
                          actor(g.user))
        return reply(result, 201, key="attachment")

    @app.get("/api/tickets/<int:number>/attachments/<attachment_id>")
    @portal.requires()
    def download(number: int, attachment_id: str):
        result = rpc.call("intake", "get_attachment", number, attachment_id[:64], actor(g.user))
        if not result["ok"]:
            raise ApiError(result["status"], result["errors"])
        return download_response(result)

    @app.get("/api/tags")
    @portal.requires(*STAFF_ROLES)
    def suggest_tags():
        return reply(rpc.call("intake", "suggest_tags",
                              TagQuerySchema().dump(query_args(TagQuerySchema()))))

    @app.post("/api/tags/rename")
    @portal.requires(*STAFF_ROLES)
    def rename_tag():
        body = load(TagRenameSchema(), json_body())
        return reply(rpc.call("intake", "rename_tag", body, actor(g.user)))

    @app.get("/api/canned")
    @portal.requires(*STAFF_ROLES)
    def list_canned():
        return reply(rpc.call("intake", "list_canned", query_args(CannedQuerySchema()),
                              actor(g.user)), key="canned")

    @app.post("/api/canned")
    @portal.requires(*STAFF_ROLES)
    def save_canned():
        body = load(CannedCreateSchema(), json_body())
        return reply(rpc.call("intake", "save_canned", body, actor(g.user)), 201, key="canned")

    @app.put("/api/canned/<canned_id>")
    @portal.requires(*STAFF_ROLES)
    def update_canned(canned_id: str):
        body = load(CannedCreateSchema(), json_body())
        return reply(rpc.call("intake", "update_canned", canned_id[:64], body, actor(g.user)),
                     key="canned")

    @app.delete("/api/canned/<canned_id>")
    @portal.requires(*STAFF_ROLES)
    def delete_canned(canned_id: str):
        reply(rpc.call("intake", "delete_canned", canned_id[:64], actor(g.user)))
        return "", 204

    @app.get("/api/admin/email-settings")
    @portal.requires("admin")
    def email_settings():
        return reply(rpc.call("intake", "get_mail_settings"), key="settings")

    @app.put("/api/admin/email-settings")
    @portal.requires("admin")
    def update_email_settings():
        body = MailSettingsSchema().dump(load(MailSettingsSchema(), json_body()))
        return reply(rpc.call("intake", "update_mail_settings", body, actor(g.user)),
                     key="settings")

    @app.get("/api/tickets/<int:number>/canned/<canned_id>")
    @portal.requires(*STAFF_ROLES)
    def render_canned(number: int, canned_id: str):
        found = rpc.call("intake", "get_ticket", number, actor(g.user))
        if not found["ok"]:
            return reply(found)
        return reply(render_filled(rpc, canned_id, found["ticket"], actor(g.user)))


    @app.route("/csat/<token>", methods=["GET", "POST"])
    def rate_page(token: str):
        """The page the solved email links to: five scores and a comment, no sign-in.  The
        mail links one URL per score (``?score=N``); opening it only preselects that score,
        because mail scanners open links too: the rating is stored by the POST."""
        if request.method == "GET":
            chosen = forms.integer(request.args.get("score"))
            return _csat_page(token, None, chosen=chosen if chosen in CSAT_SCORES else None), 200
        try:
            answer = CsatSchema().load({"score": forms.integer(request.form.get("score")),
                                        "comment": request.form.get("comment") or None})
        except ValidationError:
            return _csat_page(token, CSAT_TEXT["invalid"]), 400
        result = rpc.call("intake", "submit_csat_by_token", token[:80], answer)
        if result["ok"]:
            return _csat_page(token, CSAT_TEXT["thanks"], done=True), 200
        return _csat_page(token, " ".join(str(m) for ms in result["errors"].values()
                                          for m in ms)), result["status"]


# Bilingual: whoever follows the link is not signed in, so the page has no language of theirs.
CSAT_TEXT = {
    "title": "How did we do? / Как мы справились?",
    "comment": "Comment (optional) / Комментарий (необязательно)",
    "send": "Send / Отправить",
    "thanks": "Thank you for your rating! / Спасибо за оценку!",
    "invalid": "Choose a score from 1 to 5. / Выберите оценку от 1 до 5.",
    1: "1 — Very poor / Очень плохо",
    2: "2 — Poor / Плохо",
    3: "3 — OK / Нормально",
    4: "4 — Good / Хорошо",
    5: "5 — Excellent / Отлично",
}


def _csat_page(token: str, message: str | None, done: bool = False,
               chosen: int | None = None) -> str:
    notice = f"<p class='notice'>{escape(message)}</p>" if message else ""
    form = "" if done else (
        f"<form method='post' action='/csat/{escape(token)}'>"
        f"<input type='hidden' name='csrf_token' value='{generate_csrf()}'><p>"
        + "".join(f"<label><input type='radio' name='score' value='{score}' required"
                  f"{' checked' if score == chosen else ''}> {CSAT_TEXT[score]}</label><br>"
                  for score in reversed(CSAT_SCORES))
        + f"</p><p><label>{CSAT_TEXT['comment']}<br><textarea name='comment' "
        f"maxlength='{CSAT_COMMENT_MAX}'></textarea></label></p>"
        f"<button type='submit'>{CSAT_TEXT['send']}</button></form>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>CSAT</title>"
            "<link rel='stylesheet' href='/static/portal.css'></head><body><main>"
            f"<h1>{CSAT_TEXT['title']}</h1>{notice}{form}</main></body></html>")
