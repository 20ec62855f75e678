from flask import g, jsonify, request

from services.common.validation import flatten_line

from services.intake.schemas import (MessageCreateSchema, StatusChangeSchema, TicketCreateSchema,
                                     TicketQuerySchema, TicketSchema)

from ..schemas import TicketPageView
from ..web import ApiError, json_body, load, query_args, reply

OPERATIONS = [
    ("/api/tickets", "post", "File a ticket (send Idempotency-Key to retry safely)",
     TicketCreateSchema, TicketSchema, False),
    ("/api/tickets", "get", "List tickets, paged (customers: their own)", TicketQuerySchema,
     TicketPageView, True),
    ("/api/tickets/{number}", "get", "One ticket with its thread", None, TicketSchema, True),
    ("/api/tickets/{number}/messages", "post", "Reply or add an internal note",
     MessageCreateSchema, TicketSchema, True),
    ("/api/tickets/{number}/status", "post", "Move a ticket through its lifecycle",
     StatusChangeSchema, TicketSchema, True),
]


def file_ticket(portal, data: dict, user: dict | None, channel: str) -> dict:
    """Shared by the API and the web form; anonymous requesters are known by email."""
    users = portal.users
    if user is None:
        if not data.get("requester_email"):
            raise ApiError(400, {"requester_email": ["Required when not signed in."]})
        email = data["requester_email"]
        user = users.by_email(email) or users.create(
            email=email, name=data.get("requester_name") or email.split("@")[0],
            role="customer", password_hash=None, language=data["language"]
        ) or users.by_email(email)  # created concurrently by another request
        if user["role"] != "customer":
            raise ApiError(401, {"_schema": ["Staff must sign in to file tickets."]})
    data["requester_email"] = data.get("requester_email") or user["email"]
    # An account name saved before names had to be one line must not block filing.
    data["requester_name"] = data.get("requester_name") or flatten_line(user["name"] or "")[:120] \
        or None
    # Organization and plan come from the requester's account, never from the request.
    requester = dict(portal.actor(user), organization=user.get("organization"),
                     plan=user.get("plan"))
    result = portal.rpc.call("intake", "create_ticket", {
        "ticket": TicketCreateSchema().dump(data), "requester": requester,
        "channel": channel, "idempotency_key": request.headers.get("Idempotency-Key")})
    if not result["ok"]:
        raise ApiError(result["status"], result["errors"])
    return result


def register(app, portal):
    rpc, actor = portal.rpc, portal.actor

    @app.post("/api/tickets")
    @portal.ticket_limits
    def create_ticket():
        data = load(TicketCreateSchema(), json_body())
        result = file_ticket(portal, data, portal.authenticate(), "api")
        return jsonify(result["ticket"]), 201 if result["created"] else 200

    @app.get("/api/tickets")
    @portal.requires()
    def list_tickets():
        return reply(rpc.call("intake", "list_tickets", query_args(TicketQuerySchema()),
                              actor(g.user)))

    @app.get("/api/tickets/<int:number>")
    @portal.requires()
    def get_ticket(number: int):
        return reply(rpc.call("intake", "get_ticket", number, actor(g.user)), key="ticket")

    @app.post("/api/tickets/<int:number>/messages")
    @portal.requires()
    def add_message(number: int):
        body = load(MessageCreateSchema(), json_body())
        return reply(rpc.call("intake", "add_message", number, body, actor(g.user)), 201,
                     key="ticket")

    @app.post("/api/tickets/<int:number>/status")
    @portal.requires()
    def change_status(number: int):
        body = load(StatusChangeSchema(), json_body())
        return reply(rpc.call("intake", "change_status", number, body, actor(g.user)),
                     key="ticket")
