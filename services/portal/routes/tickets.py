import uuid

from flask import g, jsonify, request
from flask_babel import gettext as _
from nameko.exceptions import RpcTimeout

from services.common.validation import flatten_line, shared

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


FILING_ATTEMPTS = 2  # a timed-out filing is asked once more, under the same key


def file_ticket(portal, data: dict, user: dict | None, channel: str) -> dict:
    """Shared by the API and the web form; anonymous requesters are known by email.  The
    result's ``answer`` is what the caller may be shown: someone not signed in gets back only
    what they sent plus the ticket number, nothing of any account behind that address.
    Filings take turns (``Portal.filing_turns``); one that waited as long as an answer from
    intake may take without getting its turn is refused with nothing filed (intake down or
    far behind: waiting on would only make a longer queue of answers that come too late)."""
    with portal.filing_turn() as turn:
        if not turn:
            raise ApiError(503, {"_schema": [_(
                "So many requests are being filed right now that yours did not get its turn. "
                "Nothing was filed: send it again in a moment.")]})
        return _file_ticket(portal, data, user, channel)


def _file_ticket(portal, data: dict, user: dict | None, channel: str) -> dict:
    users = portal.users
    anonymous = user is None
    if anonymous:
        if not data.get("requester_email"):
            raise ApiError(400, {"requester_email": ["Required when not signed in."]})
        email = data["requester_email"]
        user = users.requester(email=email, language=data["language"],
                               name=data.get("requester_name") or email.split("@")[0])
        if user["role"] != "customer":
            raise ApiError(401, {"_schema": ["Staff must sign in to file tickets."]})
    else:
        data["requester_email"] = data.get("requester_email") or user["email"]
        # An account name saved before names had to be one line must not block filing.
        data["requester_name"] = data.get("requester_name") or \
            flatten_line(user["name"] or "")[:120] or None
    # Organization and plan come from the requester's account, never from the request, and
    # only once the sender has shown they own it (signed in, or later by the emailed link).
    requester = dict(portal.actor(user), organization=None if anonymous else
                     user.get("organization"), plan=None if anonymous else user.get("plan"))
    # What was sent; for someone signed in, completed with their account's address and name.
    sent = shared(TicketCreateSchema).dump(data)
    result = resolved_filing(portal, {
        "ticket": sent, "requester": requester, "channel": channel,
        "verified": not anonymous,
        # Always a key, so a filing whose answer was lost can be asked about again.
        "idempotency_key": request.headers.get("Idempotency-Key") or f"portal-{uuid.uuid4().hex}"})
    if not result["ok"]:
        raise ApiError(result["status"], result["errors"])
    if not anonymous:
        return dict(result, answer=result["ticket"])
    # Intake's acknowledgement mail carries the link that confirms the address.
    return dict(result, answer=dict(sent, number=result["ticket"]["number"]))


def resolved_filing(portal, command: dict) -> dict:
    """intake's create_ticket (sent with the filings under way, see filings.py), with its
    outcome known: when an answer does not come in time the same request is sent again under
    the same key, which files nothing twice and answers with the ticket the first attempt
    filed, if it did.  Still nothing: 503 naming the key, so the caller can ask once more
    without risking a second ticket (never "failed")."""
    for _attempt in range(FILING_ATTEMPTS):
        try:
            return portal.filings.file(command)
        except RpcTimeout:
            continue
    raise ApiError(503, {"_schema": [_(
        "We could not confirm in time whether your request was filed. Send it again with "
        "Idempotency-Key: %(key)s and it will not be filed twice.",
        key=command["idempotency_key"])], "idempotency_key": [command["idempotency_key"]]})


def register(app, portal):
    rpc, actor = portal.rpc, portal.actor

    @app.post("/api/tickets")
    @portal.ticket_limits
    def create_ticket():
        data = load(shared(TicketCreateSchema), json_body())
        result = file_ticket(portal, data, portal.authenticate(), "api")
        return jsonify(result["answer"]), 201 if result["created"] else 200

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
