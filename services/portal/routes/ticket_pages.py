"""A signed-in customer's requests: the list, one request's public thread, reply, close and
reopen.  Someone else's request is "not found", exactly like a missing one."""
from flask import abort, render_template, request, url_for, redirect

from services.intake.schemas import MessageCreateSchema, StatusChangeSchema, TicketQuerySchema

from .. import domain
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

    def ticket_page(ticket: dict, errors: dict | None = None, status: int = 200):
        return render_template("ticket.html", t=ticket, errors=errors,
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
