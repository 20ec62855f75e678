"""A signed-in customer's requests: the list, one request's public thread, reply, close and
reopen, attachments (upload and download) and the satisfaction rating once solved.  Someone
else's request is "not found", exactly like a missing one."""
from flask import abort, get_flashed_messages, render_template, request, url_for, redirect
from flask_babel import gettext as _

from services.intake.schemas import (CSAT_COMMENT_MAX, CsatSchema, MessageCreateSchema,
                                     StatusChangeSchema, TicketQuerySchema)

from .. import admin_forms as forms
from .. import domain
from ..uploads import attach_files, download_response, upload_hint
from ..web import ApiError, load

OPERATIONS: list = []
PER_PAGE = 20


def register(app, portal):
    rpc = portal.rpc

    def acting():
        return portal.actor(portal.page_user())

    def ticket_or_404(number: int) -> dict:
        result = rpc.call("intake", "get_ticket", number, acting())
        if not result["ok"]:
            abort(404)
        return result["ticket"]

    def ticket_page(ticket: dict, errors: dict | None = None, status: int = 200,
                    refused: list | None = None, csat_error: str | None = None):
        # Files refused while the ticket was being filed arrive flashed across the redirect.
        refused = refused or get_flashed_messages(category_filter=["refused-file"])
        return render_template("ticket.html", t=ticket, errors=errors, refused=refused,
                               csat_error=csat_error, upload_hint=upload_hint(),
                               actions=domain.customer_actions(ticket["status"])), status

    @app.get("/my/tickets")
    @portal.page_requires
    def my_tickets_page():
        try:
            page = load(TicketQuerySchema(), {"page": request.args.get("page", "1"),
                                              "per_page": PER_PAGE})["page"]
        except ApiError:
            page = 1
        user = portal.page_user()
        # Staff use the agent tools; on these pages everyone sees their own requests only.
        result = rpc.call("intake", "list_tickets", {"page": page, "per_page": PER_PAGE,
                                                     "requester_id": user["_id"]}, acting())
        return render_template("my_tickets.html", tickets=result["tickets"], page=page,
                               per_page=PER_PAGE, total=result["total"])

    @app.get("/my/tickets/<int:number>")
    @portal.page_requires
    def my_ticket_page(number: int):
        return ticket_page(ticket_or_404(number))

    @app.post("/my/tickets/<int:number>/reply")
    @portal.page_requires
    def reply_page(number: int):
        try:
            body = load(MessageCreateSchema(), {"body": request.form.get("body") or ""})
        except ApiError as exc:
            return ticket_page(ticket_or_404(number), exc.errors, exc.status)
        return follow_up(number, rpc.call("intake", "add_message", number, body, acting()))

    @app.post("/my/tickets/<int:number>/status")
    @portal.page_requires
    def status_page(number: int):
        try:
            change = load(StatusChangeSchema(), {"status": request.form.get("status") or ""})
        except ApiError as exc:
            return ticket_page(ticket_or_404(number), exc.errors, exc.status)
        return follow_up(number, rpc.call("intake", "change_status", number, change, acting()))

    def follow_up(number: int, result: dict):
        if result["ok"]:
            return redirect(url_for("my_ticket_page", number=number), 303)
        if result["status"] == 404:
            abort(404)
        errors = {k: v for k, v in result["errors"].items() if k != "allowed"}
        return ticket_page(ticket_or_404(number), errors, result["status"])

    @app.post("/my/tickets/<int:number>/attachments")
    @portal.page_requires
    def upload_page(number: int):
        files = request.files.getlist("files")
        if not any(f.filename for f in files):
            return ticket_page(ticket_or_404(number), status=400,
                               refused=[("", _("Choose a file to attach."))])
        _stored, refused, status = attach_files(portal, number, files, acting())
        if status == 404:
            abort(404)
        if refused:
            return ticket_page(ticket_or_404(number), status=status, refused=refused)
        return redirect(url_for("my_ticket_page", number=number) + "#attachments", 303)

    @app.get("/tickets/<int:number>/attachments/<attachment_id>")
    @portal.page_requires
    def attachment_page(number: int, attachment_id: str):
        """For anyone signed in to a page (customer or staff): intake decides who sees what."""
        result = rpc.call("intake", "get_attachment", number, attachment_id[:64], acting())
        if not result["ok"]:
            abort(404)
        return download_response(result)

    @app.post("/my/tickets/<int:number>/csat")
    @portal.page_requires
    def csat_page(number: int):
        try:
            answer = load(CsatSchema(), {"score": forms.integer(request.form.get("score")),
                                         "comment": request.form.get("comment") or None})
        except ApiError as exc:
            return ticket_page(ticket_or_404(number), status=exc.status,
                               csat_error=csat_refusal(exc.errors, exc.status))
        result = rpc.call("intake", "submit_csat", number, answer, acting())
        if result["ok"]:
            return redirect(url_for("my_ticket_page", number=number) + "#csat", 303)
        if result["status"] == 404:
            abort(404)
        return ticket_page(ticket_or_404(number), status=result["status"],
                           csat_error=csat_refusal(result["errors"], result["status"]))


def csat_refusal(errors: dict, status: int) -> str:
    """intake's (or the schema's) field messages about a rating, for a person."""
    if "status" in errors:
        return _("You can rate the request once it is solved.")
    if "comment" in errors:
        return _("The comment is too long (at most %(n)s characters).", n=CSAT_COMMENT_MAX)
    if "score" in errors:
        return (_("You have already rated this request.") if status == 409
                else _("Choose a score from 1 to 5."))
    return _("Only the person who filed the request can rate it.")
