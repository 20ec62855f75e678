"""Ticket operations in the agent workspace: merge (also from the queue, as a bulk action),
related-ticket links, department moves, following a ticket, and the workspace's activity log
and followers.  Every decision is intake's (``merge_ticket``, ``link_tickets``,
``update_ticket``, ``follow_ticket``); a person who may not see a ticket gets 404 from it, as
everywhere.  Rules without I/O: ``services/portal/ticket_ops.py``."""
from __future__ import annotations

from flask import abort, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.intake.schemas import LinkSchema, MergeSchema, TicketSchema, TicketUpdateSchema

from .. import ticket_ops
from ..web import ApiError, json_body, load, reply
from .agent_pages import staff_page

STAFF_ROLES = ("agent", "supervisor", "admin")
OPERATIONS = [
    ("/api/tickets/{number}/merge", "post", "Staff: merge this ticket into ticket `into` (same "
     "requester; the thread moves there, this one is closed with merged_into); answers with "
     "the survivor", MergeSchema, TicketSchema, True),
    ("/api/tickets/{number}/links", "post", "Staff: link a related ticket (linked=false "
     "removes the link; both tickets list each other)", LinkSchema, TicketSchema, True),
]


def field_label(field: str) -> str:
    return {"into": _("Merge into"), "other": _("Related ticket"),
            "department": _("Department"), "numbers": _("Selected tickets"),
            "_schema": _("Ticket"), "number": _("Ticket"), "status": _("Status"),
            "body": _("Message"), "attachments": _("Files")}.get(field, field)


def shown_errors(errors: dict) -> dict:
    """intake's refusal as the page shows it: fields by their label, messages translated."""
    return {field_label(field) if not field.startswith("#") else field: messages
            for field, messages in ticket_ops.refusal_messages(errors).items()}


def number_field(raw: str | None) -> int | str:
    """A typed ticket number ("#12" or "12") as a number; anything else as typed, for the
    schema to refuse."""
    text = (raw or "").strip().lstrip("#")[:18]
    return int(text) if text.isascii() and text.isdigit() else text


def activity_label(kind: str) -> str:
    return {"solved": _("Solved"), "closed": _("Closed"), "reopened": _("Reopened"),
            "status": _("Status changed"), "rated": _("Rated"),
            "merged_into": _("Merged into"), "merged_from": _("Merged into this ticket"),
            "linked": _("Linked"), "unlinked": _("Link removed"),
            "department": _("Department changed"), "assignee_id": _("Assignee changed"),
            "priority": _("Priority changed"), "tags": _("Tags changed"),
            "follow_up": _("Follow-up filed"), "followed": _("Started following"),
            "unfollowed": _("Stopped following")}.get(kind, kind)


def role_label(role: str) -> str:
    """Who did something when no name was recorded: their role."""
    return {"system": _("Automatically"), "customer": _("Customer"), "agent": _("Agent"),
            "supervisor": _("Supervisor"), "admin": _("Administrator")}.get(role, role)


def register(app, portal):
    rpc = portal.rpc
    staff = staff_page(portal)

    def me() -> dict:
        return portal.page_user()

    def acting() -> dict:
        return portal.actor(me())

    def refused(result: dict):
        if result["status"] == 404 and "into" not in result["errors"] and (
                "other" not in result["errors"]):
            abort(404)
        return render_template("agent/refused.html", errors=shown_errors(result["errors"])), \
            result["status"]

    def as_number(raw: str | None, field: str, schema) -> int:
        try:
            return load(schema, {field: number_field(raw)})[field]
        except ApiError as exc:
            raise _Refused(exc.status, exc.errors) from None

    @app.errorhandler(_Refused)
    def show_refusal(exc):
        return render_template("agent/refused.html", errors=shown_errors(exc.errors)), \
            exc.status

    def workspace_extras(ticket: dict) -> dict:
        """What the workspace shows of these operations: the activity log, the departments
        to move to, and whether the viewer follows the ticket."""
        history = rpc.call("intake", "get_history", ticket["number"], acting())
        departments = rpc.call("routing", "list_departments").get("departments", [])
        names = {a["id"]: a["name"] for a in rpc.call("routing", "list_agents").get(
            "agents", [])}
        return {"activity": ticket_ops.activity(history.get("history", []), names),
                "activity_label": activity_label, "role_label": role_label,
                "move_departments": [d["id"] for d in departments],
                "following": any(f["id"] == me()["_id"]
                                 for f in ticket.get("agent_followers", []))}

    app.extensions["workspace_extras"] = workspace_extras

    def mentions_in(number: int, body: str, public: bool) -> list[dict]:
        """Colleagues an internal note names (agents of the ticket's department: only they
        may read it)."""
        if public or "@" not in body:
            return []
        ticket = rpc.call("intake", "get_ticket", number, acting())
        if not ticket["ok"]:
            return []
        agents = rpc.call("routing", "list_agents", ticket["ticket"]["department"])
        return ticket_ops.find_mentions(body, [a for a in agents.get("agents", [])
                                               if a["id"] != me()["_id"]])

    app.extensions["mentions_in"] = mentions_in

    @app.post("/api/tickets/<int:number>/merge")
    @portal.requires(*STAFF_ROLES)
    def api_merge(number: int):
        body = load(MergeSchema(), json_body())
        return reply(rpc.call("intake", "merge_ticket", number, body["into"],
                              portal.actor(g.user)), key="ticket")

    @app.post("/api/tickets/<int:number>/links")
    @portal.requires(*STAFF_ROLES)
    def api_link(number: int):
        body = load(LinkSchema(), json_body())
        return reply(rpc.call("intake", "link_tickets", number, body["other"], body["linked"],
                              portal.actor(g.user)), key="ticket")

    @app.post("/agent/tickets/<int:number>/merge")
    @staff
    def agent_merge(number: int):
        """Merge this ticket into the one typed; the survivor's workspace opens."""
        into = as_number(request.form.get("into"), "into", MergeSchema())
        result = rpc.call("intake", "merge_ticket", number, into, acting())
        if not result["ok"]:
            return refused(result)
        return redirect(url_for("agent_ticket", number=into, merged=number), 303)

    @app.post("/agent/queue/merge")
    @staff
    def agent_bulk_merge():
        """Bulk merge: every selected ticket into the one typed (it may be selected too)."""
        into = as_number(request.form.get("into"), "into", MergeSchema())
        numbers = [int(n) for n in request.form.getlist("numbers")[:100]
                   if n.isdigit() and len(n) <= 18 and int(n) != into]
        if not numbers:
            raise _Refused(400, {"numbers": [_("Select at least one ticket.")]})
        failed = {}
        for number in numbers:
            result = rpc.call("intake", "merge_ticket", number, into, acting())
            if not result["ok"]:
                failed[f"#{number}"] = [m for messages in ticket_ops.refusal_messages(
                    result["errors"]).values() for m in messages]
        if failed:
            return render_template("agent/refused.html", errors=failed), 409
        return redirect(url_for("agent_ticket", number=into, merged=numbers[0]), 303)

    @app.post("/agent/tickets/<int:number>/links")
    @staff
    def agent_link(number: int):
        other = as_number(request.form.get("other"), "other", LinkSchema())
        linked = request.form.get("action") != "unlink"
        result = rpc.call("intake", "link_tickets", number, other, linked, acting())
        if not result["ok"]:
            return refused(result)
        return redirect(url_for("agent_ticket", number=number) + "#links", 303)

    @app.post("/agent/tickets/<int:number>/department")
    @staff
    def agent_department(number: int):
        """Move the ticket to another department: routing re-routes it there and the SLA
        service re-picks its policy (both from the ticket_updated event)."""
        department = (request.form.get("department") or "")[:64]
        known = [d["id"] for d in rpc.call("routing", "list_departments").get(
            "departments", [])]
        if department not in known:
            raise _Refused(400, {"department": [_("Choose one of the departments.")]})
        try:
            change = TicketUpdateSchema().dump(load(TicketUpdateSchema(),
                                                    {"department": department}))
        except ApiError as exc:
            raise _Refused(exc.status, exc.errors) from None
        result = rpc.call("intake", "update_ticket", number, change, acting())
        if not result["ok"]:
            return refused(result)
        if not rpc.call("intake", "get_ticket", number, acting())["ok"]:
            # a department-scoped agent handed it out of their departments
            return redirect(url_for("agent_queue", name="mine"), 303)
        return redirect(url_for("agent_ticket", number=number), 303)

    @app.post("/agent/tickets/<int:number>/follow")
    @staff
    def agent_follow(number: int):
        person = me()
        profile = next((a for a in rpc.call("routing", "list_agents").get("agents", [])
                        if a["id"] == person["_id"]), {})
        follower = {"id": person["_id"], "name": person.get("name") or person["email"],
                    "email": profile.get("email") or person["email"],
                    "language": person.get("language") if person.get("language") in (
                        "en", "ru") else None}
        result = rpc.call("intake", "follow_ticket", number, follower,
                          request.form.get("following") != "0", acting())
        if not result["ok"]:
            return refused(result)
        return redirect(url_for("agent_ticket", number=number), 303)


class _Refused(Exception):
    """A form value the page refuses before asking a service."""

    def __init__(self, status: int, errors: dict):
        super().__init__(status)
        self.status, self.errors = status, errors
