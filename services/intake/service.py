"""Intake: the system of record for tickets and their threads."""
from __future__ import annotations

import uuid
from datetime import timedelta

from marshmallow import ValidationError
from nameko.rpc import rpc
from pymongo.errors import DuplicateKeyError

from services.common import events as ev
from services.common.nameko_support import ClockProvider, OutboxRelay, on_event
from services.common.results import fail, not_found, ok

from . import domain
from .dependencies import TicketStore
from .schemas import (ActorSchema, CreateTicketCommand, MessageCreateSchema, ReportQuerySchema,
                      StatusChangeSchema, TicketQuerySchema, TicketSchema)

DEFAULT_REPORT_PERIOD = timedelta(days=30)


def _public_view(ticket: dict, role: str) -> dict:
    """Customers never see internal notes, in any reply."""
    if role not in domain.STAFF:
        ticket = dict(ticket, messages=[m for m in ticket.get("messages", []) if m["public"]])
    return TicketSchema().dump(ticket)


class IntakeService(OutboxRelay):
    name = "intake"

    store = TicketStore("intake")
    clock = ClockProvider()

    # ------------------------------------------------------------------ commands

    @rpc
    def create_ticket(self, command: dict) -> dict:
        try:
            cmd = CreateTicketCommand().load(command)
        except ValidationError as exc:
            return fail(400, exc.messages)
        key = cmd["idempotency_key"]
        if key and (existing := self.store.by_idempotency_key(key)):
            return ok(ticket=_public_view(existing, cmd["requester"]["role"]), created=False)

        now = self.clock.now()
        fields = cmd["ticket"]
        requester = cmd["requester"]
        ticket = domain.new_ticket(
            ticket_id=uuid.uuid4().hex, number=self.store.next_number(), fields=fields,
            requester_id=requester["id"], channel=cmd["channel"], now=now, idempotency_key=key)
        event = ev.new_event(ev.TICKET_CREATED, {
            "ticket_id": ticket["_id"], "number": ticket["number"], "subject": ticket["subject"],
            "description": ticket["description"], "department": ticket["department"],
            "category": ticket["category"], "priority": ticket["priority"],
            "channel": ticket["channel"], "language": ticket["language"], "tags": ticket["tags"],
            "requester_id": ticket["requester_id"], "created_at": now}, occurred_at=now)

        def write(session):
            self.store.insert(ticket, session)
            return [event]

        try:
            self.apply(write)
        except DuplicateKeyError:
            existing = key and self.store.by_idempotency_key(key)
            if not existing:
                raise
            return ok(ticket=_public_view(existing, requester["role"]), created=False)
        return ok(ticket=_public_view(ticket, requester["role"]), created=True)

    @rpc
    def change_status(self, number: int, change: dict, actor: dict) -> dict:
        try:
            actor = ActorSchema().load(actor)
            requested = StatusChangeSchema().load(change)["status"]
        except ValidationError as exc:
            return fail(400, exc.messages)
        ticket = self.store.by_number(number)
        if ticket is None or not self._may_see(ticket, actor):
            return not_found("ticket")
        now = self.clock.now()
        try:
            move = domain.plan_transition(ticket["status"], requested, actor["role"],
                                          closed_at=ticket.get("closed_at"), now=now)
        except domain.TransitionError as exc:
            return fail(409, {"status": [exc.reason], "allowed": exc.allowed})

        changes = {"status": move.new, "updated_at": now}
        events = [self._status_event(ticket, move.new, actor["role"], now)]
        if move.new == "solved":
            changes["solved_at"] = now
            events.append(self._solved_event(ticket, now))
        elif move.new == "closed":
            changes["closed_at"] = now
            events.append(ev.new_event(ev.TICKET_CLOSED, {
                "ticket_id": ticket["_id"], "number": number, "closed_at": now}, now))
        if move.is_reopen:
            changes.update(reopened_at=now, solved_at=None, closed_at=None)
            events.append(ev.new_event(ev.TICKET_REOPENED, {
                "ticket_id": ticket["_id"], "number": number, "department": ticket["department"],
                "priority": ticket["priority"], "previous_assignee_id": ticket["assignee_id"],
                "reopened_at": now}, now))
        if not self._commit(ticket, changes, events, expected_status=move.old):
            return fail(409, {"status": ["the ticket changed meanwhile; reload and retry"]})
        return ok(ticket=_public_view(self.store.by_id(ticket["_id"]), actor["role"]))

    @rpc
    def add_message(self, number: int, message: dict, actor: dict) -> dict:
        try:
            actor = ActorSchema().load(actor)
            body = MessageCreateSchema().load(message)
        except ValidationError as exc:
            return fail(400, exc.messages)
        ticket = self.store.by_number(number)
        if ticket is None or not self._may_see(ticket, actor):
            return not_found("ticket")
        is_staff = actor["role"] in domain.STAFF
        if not is_staff and not body["public"]:
            return fail(403, {"public": ["only staff can write internal notes"]})
        if ticket["status"] == "closed":
            return fail(409, {"status": ["the ticket is closed; reopen it or file a follow-up"]})
        now = self.clock.now()
        entry = {"id": uuid.uuid4().hex, "author_id": actor["id"], "author_role": actor["role"],
                 "author_name": actor.get("name"), "body": body["body"],
                 "public": body["public"], "created_at": now}
        changes = {"updated_at": now}
        events = [ev.new_event(ev.MESSAGE_ADDED, {
            "ticket_id": ticket["_id"], "number": number, "message_id": entry["id"],
            "author_role": actor["role"], "public": body["public"], "added_at": now}, now)]
        if is_staff and body["public"] and ticket["first_response_at"] is None:
            changes["first_response_at"] = now
        # A staff reply opens a new ticket; a customer reply brings a pending one back.
        if (is_staff and body["public"] and ticket["status"] == "new") or (
                not is_staff and ticket["status"] in ("pending", "solved")):
            changes["status"] = "open"
            events.append(self._status_event(ticket, "open", actor["role"], now))
            if ticket["status"] == "solved":
                changes.update(reopened_at=now, solved_at=None)
                events.append(ev.new_event(ev.TICKET_REOPENED, {
                    "ticket_id": ticket["_id"], "number": number,
                    "department": ticket["department"], "priority": ticket["priority"],
                    "previous_assignee_id": ticket["assignee_id"], "reopened_at": now}, now))
        if not self._commit(ticket, changes, events, expected_status=ticket["status"],
                            push={"messages": entry}):
            return fail(409, {"status": ["the ticket changed meanwhile; reload and retry"]})
        return ok(ticket=_public_view(self.store.by_id(ticket["_id"]), actor["role"]))

    # ------------------------------------------------------------------ queries

    @rpc
    def get_ticket(self, number: int, actor: dict) -> dict:
        try:
            actor = ActorSchema().load(actor)
        except ValidationError as exc:
            return fail(400, exc.messages)
        ticket = self.store.by_number(number)
        if ticket is None or not self._may_see(ticket, actor):
            return not_found("ticket")
        return ok(ticket=_public_view(ticket, actor["role"]))

    @rpc
    def list_tickets(self, query: dict, actor: dict) -> dict:
        try:
            actor = ActorSchema().load(actor)
            q = TicketQuerySchema().load(query)
        except ValidationError as exc:
            return fail(400, exc.messages)
        page, per_page = q.pop("page"), q.pop("per_page")
        if actor["role"] not in domain.STAFF:
            q["requester_id"] = actor["id"]  # customers see only their own tickets
        tickets, total = self.store.find(q, page, per_page)
        return ok(tickets=[_public_view(t, actor["role"]) for t in tickets], total=total,
                  page=page, per_page=per_page)

    @rpc
    def report(self, query: dict) -> dict:
        """Supervisor figures for a period (default: the last 30 days)."""
        try:
            q = ReportQuerySchema().load(query)
        except ValidationError as exc:
            return fail(400, exc.messages)
        now = self.clock.now()
        until = q["until"] or now
        since = q["since"] or until - DEFAULT_REPORT_PERIOD
        if since >= until:
            return fail(400, {"until": ["must be later than since"]})
        return ok(report=self.store.report(since, until, q["department"], now),
                  since=since.isoformat(), until=until.isoformat())

    # ------------------------------------------------------------------ outcomes of others

    @on_event(ev.TICKET_ASSIGNED)
    def record_assignment(self, event):
        d = event.data
        self.store.handle_once("record_assignment", event.event_id, lambda s: self.store.update(
            d["ticket_id"], {"assignee_id": d["agent_id"], "assignee_name": d["agent_name"]}, s))

    @on_event(ev.SLA_DEADLINES_SET)
    def record_sla(self, event):
        d = event.data
        sla = {"policy_id": d["policy_id"], "first_response_due": d["first_response_due"],
               "resolution_due": d["resolution_due"], "breached": []}
        self.store.handle_once("record_sla", event.event_id,
                               lambda s: self.store.update(d["ticket_id"], {"sla": sla}, s))

    @on_event(ev.SLA_BREACHED)
    def record_breach(self, event):
        d = event.data

        def write(session):
            self.store.tickets.update_one({"_id": d["ticket_id"], "sla": {"$ne": None}},
                                          {"$addToSet": {"sla.breached": d["target"]}},
                                          session=session)
        self.store.handle_once("record_breach", event.event_id, write)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _may_see(ticket: dict, actor: dict) -> bool:
        return actor["role"] in domain.STAFF or actor["role"] == "system" or (
            ticket["requester_id"] == actor["id"])

    def _commit(self, ticket, changes, events, expected_status, push=None) -> bool:
        """Apply changes only if nobody moved the ticket since we read it."""
        def write(session):
            if not self.store.update(ticket["_id"], changes, session,
                                     expected_status=expected_status, push=push):
                return []
            return events

        return bool(self.apply(write))

    def _status_event(self, ticket, new_status, role, now):
        return ev.new_event(ev.STATUS_CHANGED, {
            "ticket_id": ticket["_id"], "number": ticket["number"], "old_status": ticket["status"],
            "new_status": new_status, "actor_role": role, "department": ticket["department"],
            "priority": ticket["priority"], "assignee_id": ticket["assignee_id"],
            "changed_at": now}, now)

    def _solved_event(self, ticket, now):
        return ev.new_event(ev.TICKET_SOLVED, {
            "ticket_id": ticket["_id"], "number": ticket["number"], "subject": ticket["subject"],
            "description": ticket["description"], "resolution": domain.latest_public_reply(ticket),
            "department": ticket["department"], "category": ticket["category"],
            "priority": ticket["priority"], "language": ticket["language"],
            "tags": ticket["tags"], "requester_id": ticket["requester_id"],
            "assignee_id": ticket["assignee_id"], "solved_at": now}, now)
