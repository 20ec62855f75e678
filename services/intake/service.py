"""Intake: the system of record for tickets and their threads."""
from __future__ import annotations

import base64
import hashlib
import logging
import sys
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

from marshmallow import ValidationError
from nameko.timer import timer
from pymongo.errors import DuplicateKeyError

from services.automation.schemas import TriggerMailSchema
from services.common import correlation, outbox
from services.common import events as ev
from services.common.batches import BACKGROUND
from services.common.nameko_support import (ClockProvider, OutboxRelay, command, on_event,
                                            on_events, ticket_turns)
from services.common.observability import Observability
from services.common.results import Refusal, fail, not_found, ok, parsed
from services.common.retired_queues import RetiredQueues, handler_queue
from services.common.validation import flatten_line, shared

from . import attachments as att
from . import canned, domain, mail
from . import mail_trust as trust
from . import tags as tag_rules
from .dependencies import Mailer, Settings, Settling, TicketStore, open_ticket_gauges
from .repository import UNSETTLED
from .rollups import day_range
from .schemas import (ActorSchema, AttachmentUploadSchema, AttachmentView, AuditView,
                      CannedCreateSchema, CannedQuerySchema, CannedView, ColleagueSchema,
                      CreateTicketCommand, CreateTicketsCommand, CsatSchema,
                      InboundEmailSchema, LinkSchema,
                      MailSettingsSchema, MergeSchema, MessageCreateSchema,
                      QueueQuerySchema, ReportQuerySchema, RequesterAccountSchema,
                      StatusChangeSchema, TagQuerySchema, TagRenameSchema, TicketCreateSchema,
                      TicketQuerySchema, TicketSchema, TicketUpdateSchema)


log = logging.getLogger(__name__)

DEFAULT_REPORT_PERIOD = timedelta(days=30)
RENAME_BATCH = 200  # tickets retagged (and events staged) per transaction
SLA_DEADLINE_FIELDS = ("policy_id", "first_response_due", "resolution_due")


class Filing(NamedTuple):
    """A create_ticket command, parsed: what ``_create`` takes."""
    fields: dict
    requester: dict
    channel: str
    key: str | None
    verified: bool


def _filing(command: dict) -> Filing:
    """Raises Refusal for a command that does not parse."""
    cmd = parsed(shared(CreateTicketCommand), command)
    requester = cmd["requester"]
    fields = dict(cmd["ticket"], organization=requester.pop("organization"),
                  plan=requester.pop("plan"))
    return Filing(fields, requester, cmd["channel"], cmd["idempotency_key"], cmd["verified"])


# create_tickets' answer to a filing it could not write: its caller asks again under the same
# idempotency key (the ticket may have been kept: the repeat then answers with it).
_ASK_AGAIN = {"ok": False, "again": True}


def _replayed(existing: dict, fields: dict, viewer: dict) -> dict:
    """A retry gets the ticket its key filed; the same key with a different request is refused
    rather than answered with someone's earlier ticket (a reused or guessed key)."""
    if not domain.is_replay_of(existing, fields):
        return fail(422, {"idempotency_key": [
            "This Idempotency-Key was already used for a different request; send a new key."]})
    return ok(ticket=_public_view(existing, viewer["role"]), created=False)


# One instance for every dump: making a schema deep-copies its fields, which cost more than
# the dump itself (a queue page's 50 rows: ~25 ms; BENCHMARKS.md, "Agent console queue").
TICKET_VIEW = TicketSchema()


def _public_view(ticket: dict, role: str) -> dict:
    """Customers never see internal notes (nor their attachments), in any reply."""
    if role not in domain.STAFF:
        ticket = dict(ticket, messages=[m for m in ticket.get("messages", []) if m["public"]],
                      attachments=att.visible_attachments(ticket, staff=False), bounces=[],
                      links=[], agent_followers=[])
    return TICKET_VIEW.dump(ticket)


@dataclass(frozen=True)
class Outcome:
    """Another service's decision about a ticket, as intake records it (_record_outcomes)."""
    event: ev.Event
    changes: dict
    actor: dict = field(default_factory=lambda: domain.SYSTEM_ACTOR)

    @property
    def ticket_id(self) -> str:
        return self.event.data["ticket_id"]


def _valid_tags(tags: list[str]) -> list[str]:
    try:
        return tag_rules.normalize_tags(tags)
    except tag_rules.TagError:
        return []  # routing's rules only name valid tags; never lose the rest over one


class _ChangedMeanwhile(Exception):
    """A conditional write of a multi-ticket change found the ticket changed: roll back."""


def _outbound_message_id(settings: dict, once_id: str | None = None) -> str:
    """A Message-ID for a mail the desk sends, in the sender address's domain: fresh, or
    derived from ``once_id`` so that every attempt at one notification carries the same id
    (which, recorded on the ticket, tells that it was sent)."""
    domain_part = settings["sender_address"].rpartition("@")[2] or "helpdesk.localhost"
    unique = uuid.uuid4().hex if once_id is None else \
        hashlib.sha256(once_id.encode()).hexdigest()[:32]
    return f"<{unique}@{domain_part}>"


# Releases came as ticket_unassignable until intake stopped hearing every waiting ticket.
_RELEASES_BEFORE = handler_queue("intake", ev.TICKET_UNASSIGNABLE, "record_unassigned")


class IntakeService(OutboxRelay):
    name = "intake"

    store = TicketStore("intake")
    clock = ClockProvider()
    settings = Settings()
    mailer = Mailer()
    settling = Settling()
    observe = Observability(business=open_ticket_gauges)
    retired = RetiredQueues({_RELEASES_BEFORE: handler_queue("intake", ev.TICKET_RELEASED,
                                                             "record_unassigned")},
                            {_RELEASES_BEFORE: ev.released_of_unassignable})

    # ------------------------------------------------------------------ commands

    @command
    def create_ticket(self, command: dict) -> dict:
        return self._create_filing(_filing(command))

    @command
    def create_tickets(self, filings: list) -> list[dict]:
        """``create_ticket`` for several filings at once (a portal's filings that arrive
        together), each answered as create_ticket answers it, in order, and each under its
        own correlation id.  The new tickets without tags (nearly all: tag counts take a
        transaction) are written in one insert, the others one by one.  A filing that could
        not be written is answered ``again``: its caller asks once more under the same
        idempotency key, which files nothing twice (it may have been kept after all)."""
        filings = parsed(shared(CreateTicketsCommand), {"filings": filings})["filings"]
        batch_id, now = correlation.current(), self.clock.now()
        answers: list[dict | None] = [None] * len(filings)
        together, alone = [], []
        for position, filing in enumerate(filings):
            correlation.bind(filing["correlation_id"] or batch_id)
            try:
                planned = _filing(filing["command"])
                if planned.fields["tags"]:
                    alone.append((position, filing["correlation_id"], planned))
                    continue
                ticket = self._new_ticket(planned, now)
                together.append((position, ticket, self._creation_staged(ticket, None, now),
                                 planned))
            except Refusal as exc:
                answers[position] = fail(exc.status, exc.errors)
        self._write_together(together, answers, now)
        for position, correlation_id, planned in alone:
            correlation.bind(correlation_id or batch_id)
            answers[position] = self._answer_alone(planned)
        correlation.bind(batch_id)
        return answers

    def _write_together(self, together: list, answers: list, now) -> None:
        """One insert for these new tickets; a repeat of an earlier filing (its idempotency
        key taken) is answered with that filing's ticket."""
        if not together:
            return
        try:
            stored, repeats = self.store.insert_all(
                [(ticket, staged) for _, ticket, staged, _ in together], now)
        except Exception:  # noqa: BLE001 - whatever it was, each filing is asked again
            log.warning("%d new tickets not written together; asked again", len(together),
                        exc_info=True)
            for position, *_ in together:
                answers[position] = _ASK_AGAIN
            return
        repeated = set(repeats)
        for index, ((position, ticket, staged, planned), doc) in enumerate(zip(together,
                                                                                 stored)):
            correlation.bind(staged[0]["correlation_id"])
            existing = index in repeated and planned.key and self.store.by_idempotency_key(
                planned.requester["id"], planned.key)
            if existing:
                answers[position] = _replayed(existing, planned.fields, planned.requester)
            elif index in repeated:  # refused by another unique index: a number, say
                answers[position] = self._answer_alone(planned)
            else:
                answers[position] = self._created(doc, ticket, planned.requester)

    def _answer_alone(self, planned: Filing) -> dict:
        """``_create`` for one of create_tickets' filings, its failure that filing's alone."""
        try:
            return self._create_filing(planned)
        except Refusal as exc:
            return fail(exc.status, exc.errors)
        except Exception:  # noqa: BLE001 - the filing's caller asks again under its key
            log.warning("a new ticket not written; asked again", exc_info=True)
            return _ASK_AGAIN

    @command
    def verify_requester(self, number: int, account: dict) -> dict:
        """The sender of an unverified ticket proved they own its address (the emailed link):
        mark it verified and apply their account's organization and plan, announced as an
        edit so SLA re-picks its policy.  Verifying again changes nothing."""
        account = parsed(RequesterAccountSchema(), account)
        ticket = self.store.by_number(number)
        if ticket is None or ticket["requester_id"] != account["requester_id"]:
            return not_found("ticket")
        if ticket.get("requester_verified", True):
            return ok(number=number, verified=True)
        wanted = {"requester_verified": True, "organization": account["organization"],
                  "plan": account["plan"]}
        diff = domain.field_changes(ticket, wanted, fields=tuple(wanted))
        now = self.clock.now()
        event = self._updated_event(ticket, diff, "system", now)
        result = self._commit_and_show(ticket, dict(wanted, updated_at=now), [event],
                                       domain.SYSTEM_ACTOR,
                                       expected={"requester_verified": False})
        return ok(number=number, verified=True) if result["ok"] else result

    @command
    def change_status(self, number: int, change: dict, actor: dict) -> dict:
        actor = parsed(ActorSchema(), actor)
        requested = parsed(StatusChangeSchema(), change)["status"]
        ticket = self._visible_ticket(number, actor)
        if ticket.get("merged_into") is not None:
            return fail(409, {"status": [
                f"this ticket was merged into #{ticket['merged_into']}; continue there"]})
        now = self.clock.now()
        try:
            move = domain.plan_transition(ticket["status"], requested, actor["role"],
                                          closed_at=ticket.get("closed_at"), now=now,
                                          reopen_window=self.settings.reopen_window)
        except domain.TransitionError as exc:
            return fail(409, {"status": [exc.reason], "allowed": exc.allowed})

        changes = {"status": move.new, "updated_at": now}
        if move.new == "solved":
            changes["solved_at"] = now
        elif move.new == "closed":
            changes["closed_at"] = now
        if move.is_reopen:
            changes.update(reopened_at=now, solved_at=None, closed_at=None)
        state = domain.ticket_state(dict(ticket, **changes))
        events = [self._status_event(ticket, move.new, actor["role"], now, state)]
        if move.new == "solved":
            events.append(self._solved_event(ticket, now, state))
        elif move.new == "closed":
            events.append(ev.new_event(ev.TICKET_CLOSED, {
                "ticket_id": ticket["_id"], "number": number, "closed_at": now,
                "ticket": state}, now))
        if move.is_reopen:
            events.append(self._reopened_event(ticket, now, state))
        return self._commit_and_show(ticket, changes, events, actor,
                                     expected={"status": move.old})

    @command
    def add_message(self, number: int, message: dict, actor: dict,
                    attachments: list | None = None, mentions: list | None = None) -> dict:
        """A reply or internal note.  ``attachments``: files sent with it (base64, the
        ticket's attachment rules; the whole message is refused if one is).  ``mentions``:
        colleagues named with ``@`` in a staff note, as the portal resolved them (id, name,
        email, language): they are mailed a notice (see notify_mentioned)."""
        actor = parsed(ActorSchema(), actor)
        body = parsed(MessageCreateSchema(), message)
        mentioned = parsed(ColleagueSchema(many=True), mentions or [])
        if mentioned and (body["public"] or actor["role"] not in domain.STAFF):
            return fail(400, {"body": ["colleagues can be mentioned in internal notes only"]})
        ticket = self._visible_ticket(number, actor)
        changes, push, events, files = self._plan_message(ticket, body, actor,
                                                          list(attachments or [])[:10],
                                                          mentioned)
        return self._commit_and_show(ticket, changes, events, actor,
                                     expected={"status": ticket["status"]}, push=push,
                                     files=files)

    @command
    def update_ticket(self, number: int, changes: dict, actor: dict) -> dict:
        """Staff edit priority, category, department, tags or organization."""
        actor = parsed(ActorSchema(), actor)
        wanted = parsed(TicketUpdateSchema(), changes)
        ticket = self._visible_ticket(number, actor)
        diff = domain.plan_edit(ticket, wanted, actor["role"])
        now = self.clock.now()
        new = {name: change["new"] for name, change in diff.items()}
        event = self._updated_event(ticket, diff, actor["role"], now)
        return self._commit_and_show(ticket, dict(new, updated_at=now), [event], actor,
                                     expected={name: ticket.get(name) for name in diff})

    @command
    def merge_ticket(self, number: int, into: int, actor: dict) -> dict:
        """Merge ticket ``number`` into ticket ``into`` (the survivor): its thread and files
        join the survivor's in time order, it is closed with ``merged_into`` and the survivor
        lists it in ``merged_from``; both documents change in one transaction.  Merging again
        answers with the survivor (idempotent).  Rules: domain.plan_merge."""
        actor = parsed(ActorSchema(), actor)
        into = parsed(MergeSchema(), {"into": into})["into"]
        source = self._visible_ticket(number, actor)
        target = self._visible_ticket(into, actor)
        if not domain.plan_merge(source, target, actor):
            return ok(ticket=_public_view(target, actor["role"]), merged=False)
        now = self.clock.now()
        survivor, push, merged = domain.merge_changes(source, target, now)
        source_state = domain.ticket_state(dict(source, **merged))
        target_state = domain.ticket_state(dict(
            target, **survivor, messages=domain.merged_thread(source, target)))
        events = [self._status_event(source, "closed", actor["role"], now, source_state),
                  ev.new_event(ev.TICKET_CLOSED, {
                      "ticket_id": source["_id"], "number": number, "closed_at": now,
                      "ticket": source_state}, now),
                  ev.new_event(ev.TICKET_MERGED, {
                      "ticket_id": target["_id"], "number": target["number"],
                      "merged_ticket_id": source["_id"], "merged_number": number,
                      "actor_role": actor["role"], "merged_at": now, "ticket": target_state,
                      "merged_ticket": source_state}, now)]
        # Both writes are conditional on what the rules were checked against (statuses, not
        # merged): if either changed meanwhile the pair is rolled back, nothing half-merged.
        unmerged = {"merged_into": None}
        return self._commit_pair(
            [(target, survivor, dict(unmerged, status=target["status"]), push),
             (source, merged, dict(unmerged, status=source["status"]), None)],
            events, actor, target["_id"], merged=True)

    @command
    def link_tickets(self, number: int, other: int, linked: bool, actor: dict) -> dict:
        """Link (or with ``linked`` False unlink) two related tickets; both list each other
        in ``links``, in one transaction.  Doing it twice changes nothing."""
        actor = parsed(ActorSchema(), actor)
        request = parsed(LinkSchema(), {"other": other, "linked": linked})
        ticket = self._visible_ticket(number, actor)
        peer = self._visible_ticket(request["other"], actor)
        if not domain.plan_link(ticket, peer, actor, request["linked"]):
            return ok(ticket=_public_view(ticket, actor["role"]), changed=False)
        now = self.clock.now()
        pairs, events = [], []
        for one, two in ((ticket, peer), (peer, ticket)):
            links = domain.with_link(one.get("links", []), two["number"], request["linked"])
            pairs.append((one, {"links": links, "updated_at": now},
                          {"links": one.get("links")}, None))
            events.append(self._updated_event(
                one, domain.field_changes(one, {"links": links}), actor["role"], now))
        return self._commit_pair(pairs, events, actor, ticket["_id"], changed=True)

    @command
    def follow_ticket(self, number: int, follower: dict, following: bool, actor: dict) -> dict:
        """A colleague follows a ticket (or stops): they are mailed about its new messages
        (see notify_followers).  ``follower`` is the acting person's own profile (id, name,
        email, language) as the portal knows it; only staff follow, only themselves."""
        actor = parsed(ActorSchema(), actor)
        follower = parsed(ColleagueSchema(), follower)
        if actor["role"] not in domain.STAFF or follower["id"] != actor["id"]:
            return fail(403, {"_schema": ["staff follow tickets, each for themselves"]})
        ticket = self._visible_ticket(number, actor)
        current = ticket.get("agent_followers", [])
        others = [f for f in current if f["id"] != actor["id"]]
        wanted = sorted(others + [follower], key=lambda f: f["id"]) if following else others
        if [f["id"] for f in wanted] == sorted(f["id"] for f in current):
            return ok(ticket=_public_view(ticket, actor["role"]))
        return self._commit_and_show(ticket, {"agent_followers": wanted,
                                              "updated_at": self.clock.now()}, [], actor,
                                     expected={"agent_followers": ticket.get("agent_followers")})

    @command
    def create_follow_up(self, number: int, follow_up: dict, actor: dict) -> dict:
        """A new ticket continuing a closed one; both point at each other."""
        actor = parsed(ActorSchema(), actor)
        description = parsed(MessageCreateSchema(only=("body",)), follow_up)["body"]
        old = self._visible_ticket(number, actor)
        fields = domain.plan_follow_up(old, actor)
        fields["description"] = description
        requester = {"id": old["requester_id"], "role": "customer",
                     "name": old.get("requester_name")}
        return self._create(fields, requester, "portal", None, viewer=actor, follow_up_of=old)

    @command
    def submit_csat(self, number: int, rating: dict, actor: dict) -> dict:
        """``rating``: {"score": 1..5, "comment": optional text}; once per ticket."""
        actor = parsed(ActorSchema(), actor)
        answer = parsed(CsatSchema(), rating)
        ticket = self._visible_ticket(number, actor)
        now = self.clock.now()
        csat = domain.plan_csat(ticket, actor, answer["score"], answer["comment"], now)
        event = ev.new_event(ev.TICKET_RATED, {
            "ticket_id": ticket["_id"], "number": number, "score": csat["score"],
            "satisfied": csat["satisfied"], "comment": csat["comment"],
            "department": ticket["department"], "assignee_id": ticket["assignee_id"],
            "rated_at": now}, now)
        # The condition csat == None makes "once" hold even for two simultaneous ratings.
        return self._commit_and_show(ticket, {"csat": csat, "updated_at": now}, [event], actor,
                                     expected={"csat": None}, conflict=(
                                         "score", "this ticket has already been rated"))

    @command
    def submit_csat_by_token(self, token: str, rating: dict) -> dict:
        """The email link: the signed token stands in for the requester's sign-in."""
        number = domain.csat_token_number(str(token)[:80], self._requester_of,
                                          self._link_secrets(), self.clock.now())
        if number is None:
            return fail(404, {"token": ["This rating link is not valid."]})
        return self.submit_csat(number, rating, {"id": self._requester_of(number),
                                                 "role": "customer"})

    @command
    def confirmed_sender(self, token: str) -> dict:
        """The ticket and requester a confirm link (mailed with the acknowledgement of a
        ticket filed without signing in) names; the portal then calls verify_requester."""
        number = domain.link_token_number(domain.CONFIRM_LINK, str(token)[:80],
                                          self._requester_of, self._link_secrets(),
                                          self.clock.now())
        if number is None:
            return fail(404, {"token": ["This link is invalid or expired."]})
        return ok(number=number, requester_id=self._requester_of(number))

    def _requester_of(self, number: int) -> str | None:
        found = self.store.by_number(number)
        return found and found["requester_id"]

    @command
    def add_attachment(self, number: int, upload: dict, actor: dict) -> dict:
        actor = parsed(ActorSchema(), actor)
        upload = parsed(AttachmentUploadSchema(), upload)
        ticket = self._visible_ticket(number, actor)
        if not domain.may(actor["role"], "attach") or (
                not upload["public"] and actor["role"] not in domain.STAFF):
            return fail(403, {"public": ["only staff can attach files to internal notes"]})
        entry, blob = self._plan_attachment(ticket, upload, actor, message_id=None,
                                            from_mail=False)
        now = self.clock.now()
        event = ev.new_event(ev.ATTACHMENT_ADDED, {
            "ticket_id": ticket["_id"], "number": number, "attachment_id": entry["id"],
            "content_type": entry["content_type"], "size": entry["size"],
            "public": entry["public"], "author_role": actor["role"], "added_at": now,
            "ticket": domain.ticket_state(dict(ticket, updated_at=now))}, now)
        result = self._commit_and_show(ticket, {"updated_at": now}, [event], actor, expected={},
                                       push={"attachments": entry}, files=[blob])
        if result["ok"]:
            result["attachment"] = AttachmentView().dump(entry)
        return result

    @command
    def get_attachment(self, number: int, attachment_id: str, actor: dict) -> dict:
        """The file as base64, with its stored (sanitised) name and type."""
        actor = parsed(ActorSchema(), actor)
        ticket = self._visible_ticket(number, actor)
        staff = actor["role"] in domain.STAFF or actor["role"] == "system"
        entry = next((a for a in att.visible_attachments(ticket, staff)
                      if a["id"] == attachment_id), None)
        data = entry and self.store.read_file(entry["id"])
        if data is None:
            return not_found("attachment")
        return ok(attachment=AttachmentView().dump(entry),
                  data=base64.b64encode(data).decode("ascii"))

    # ------------------------------------------------------------------ tags and canned

    @command
    def suggest_tags(self, query: dict) -> dict:
        q = parsed(TagQuerySchema(), query)
        try:
            pattern = tag_rules.prefix_pattern(q["prefix"]) if q["prefix"].strip() else "^"
        except tag_rules.TagError as exc:
            return fail(400, {"prefix": [str(exc)]})
        return ok(tags=[{"tag": d["_id"], "count": d["count"]}
                        for d in self.store.suggest_tags(pattern, q["limit"])])

    @command
    def rename_tag(self, rename: dict, actor: dict) -> dict:
        """Rename a tag on every ticket; into an existing tag it is a merge."""
        actor = parsed(ActorSchema(), actor)
        r = parsed(TagRenameSchema(), rename)
        if not domain.may(actor["role"], "manage_tags"):
            return fail(403, {"_schema": [f"a {actor['role']} cannot rename tags"]})
        if r["old"] == r["new"]:
            return fail(409, {"new": ["the new name is the same as the old one"]})
        now = self.clock.now()
        changed, batch = [], []

        def rename_batch(session):
            # Like a staff edit, each retagged ticket is announced (search and routing keep
            # copies of the tags), in the transaction that changes it.
            batch.clear()
            events = []
            for ticket in self.store.tickets_tagged(r["old"], session, limit=RENAME_BATCH):
                new_tags = tag_rules.renamed(ticket["tags"], r["old"], r["new"])
                if self._write_changes(session, ticket, {"tags": new_tags, "updated_at": now},
                                       actor, expected={"tags": ticket["tags"]}):
                    batch.append(ticket["number"])
                    events.append(self._updated_event(
                        ticket, domain.field_changes(ticket, {"tags": new_tags}),
                        actor["role"], now))
            return events

        # Batches keep each transaction (and its outbox) small on a tag used by thousands of
        # tickets; a rename cut short is finished by sending it again.
        while True:
            self.apply(rename_batch)
            if not batch:
                break
            changed.extend(batch)

        def drop_old_tag(session):
            if self.store.any_tagged(r["old"], session):
                return False  # edited meanwhile: keep the dictionary entry, ask for a retry
            self.store.drop_tag(r["old"], session)
            return True

        if not self.store.transaction(drop_old_tag):
            return fail(409, {"old": ["some tickets changed meanwhile; rename again to finish"]})
        return ok(renamed=r, tickets=sorted(changed))

    @command
    def save_canned(self, template: dict, actor: dict) -> dict:
        actor = parsed(ActorSchema(), actor)
        doc = dict(self._checked_canned(template, actor), _id=uuid.uuid4().hex,
                   owner_id=actor["id"], created_at=self.clock.now())
        self.store.save_canned(doc)
        return ok(canned=CannedView().dump(doc))

    @command
    def update_canned(self, canned_id: str, template: dict, actor: dict) -> dict:
        """Replace a canned response's title, body, language and scope (owner kept)."""
        actor = parsed(ActorSchema(), actor)
        current = self._managed_canned(canned_id, actor)
        doc = dict(current, **self._checked_canned(template, actor, current["owner_id"]),
                   updated_at=self.clock.now())
        self.store.save_canned(doc)
        return ok(canned=CannedView().dump(doc))

    @command
    def delete_canned(self, canned_id: str, actor: dict) -> dict:
        actor = parsed(ActorSchema(), actor)
        self.store.delete_canned(self._managed_canned(canned_id, actor)["_id"])
        return ok()

    @command
    def list_canned(self, query: dict, actor: dict) -> dict:
        actor = parsed(ActorSchema(), actor)
        q = parsed(CannedQuerySchema(), query)
        if not domain.may(actor["role"], "use_canned"):
            return fail(403, {"_schema": ["only staff use canned responses"]})
        return ok(canned=CannedView(many=True).dump(
            self.store.canned_for(actor["id"], q.get("language"))))

    @command
    def render_canned(self, canned_id: str, number: int, actor: dict,
                      department_names: dict | None = None) -> dict:
        """The template filled in for one ticket, ready to edit and send as a reply.
        ``department_names`` ({"en": ..., "ru": ...}, from routing) puts the department's
        display name in the template's language for ``${department}``, not its id."""
        actor = parsed(ActorSchema(), actor)
        if not domain.may(actor["role"], "use_canned"):
            return fail(403, {"_schema": ["only staff use canned responses"]})
        template = self.store.canned.find_one({"_id": str(canned_id)})
        if template is None or not canned.visible_to(template, actor):
            return not_found("canned response")
        ticket = self._visible_ticket(number, actor)
        try:
            text = canned.render(template["body"], canned.values_for(
                ticket, actor.get("name"), canned.display_name(department_names,
                                                               template["language"])),
                template["language"])
        except canned.PlaceholderError as exc:
            return fail(400, {"body": [str(exc)]})
        return ok(text=text)

    # ------------------------------------------------------------------ email settings

    @command
    def get_mail_settings(self) -> dict:
        return ok(settings=MailSettingsSchema().dump(self._mail_settings(afresh=True)))

    @command
    def update_mail_settings(self, payload: dict, actor: dict) -> dict:
        """Admins only; the whole document is validated and replaced, never half-written."""
        actor = parsed(ActorSchema(), actor)
        if actor["role"] != "admin":
            return fail(403, {"_schema": [f"a {actor['role']} cannot change email settings"]})
        settings = parsed(MailSettingsSchema(), payload)
        self.store.save_mail_settings(settings)
        return ok(settings=MailSettingsSchema().dump(self._mail_settings(afresh=True)))

    # ------------------------------------------------------------------ email channel

    @command
    def receive_email(self, message: dict) -> dict:
        """An inbound mail from the SMTP listener: a reply on the ticket its In-Reply-To/
        References, reply address or subject number point at, when the sender may write there
        (mail_trust.reply_accepted); otherwise a new ticket.  A bounce is recorded on the
        ticket whose mail bounced."""
        m = parsed(InboundEmailSchema(), message)
        if m["message_id"] and (seen := self.store.by_message_ids([m["message_id"]])):
            return ok(action="duplicate", number=seen["number"])
        if m["bounce"]:
            return self._record_bounce(m)
        if m["auto"]:
            return ok(action="ignored", reason=m["auto"])
        token_number = trust.token_number(m["reply_tokens"], self._mail_token_secret())
        ticket = m["references"] and self.store.by_message_ids(m["references"]) or None
        for number in (token_number, mail.subject_number(m["subject"])):
            if ticket is None and number is not None:
                ticket = self.store.by_number(number)
        for _hop in range(5):  # a mail to a merged ticket goes on in its survivor
            if ticket is None or ticket.get("merged_into") is None:
                break
            ticket = self.store.by_number(ticket["merged_into"])
        email_ids = [m["message_id"]] if m["message_id"] else []
        accepted = ticket is not None and trust.reply_accepted(
            ticket, m["from_email"], token_number, m["sender_authenticated"])
        settings = self._mail_settings()
        desk = [settings["sender_address"], settings["reply_to"], self.settings.mail_from]
        if accepted and ticket["status"] != "closed":
            is_requester = m["from_email"] == (ticket.get("requester_email") or "").lower()
            actor = {"id": ticket["requester_id"] if is_requester else f"email:{m['from_email']}",
                     "role": "customer", "name": m["from_name"]}
            own_words = trust.trim_signature(mail.strip_quoted(m["body"]))
            body = {"body": own_words or m["body"] or "(empty)", "public": True}
            changes, push, events, files = self._plan_message(ticket, body, actor,
                                                              m["attachments"])
            changes["followers"] = trust.new_followers(
                m["cc"], ticket.get("followers", []), sender=m["from_email"],
                requester=ticket.get("requester_email"), desk_addresses=desk)
            push["email_message_ids"] = {"$each": email_ids}
            result = self._commit_and_show(ticket, changes, events, actor,
                                           expected={"status": ticket["status"]}, push=push,
                                           files=files)
            return dict(result, action="replied") if result["ok"] else result
        # A mail is kept whatever its subject looks like: a line break (an encoded word can
        # carry one) becomes a space rather than a refusal.
        fields = parsed(TicketCreateSchema(), {
            "subject": flatten_line(m["subject"])[:200] or "(no subject)",
            "description": m["body"][:20_000] or "(empty)",
            "language": m["language"], "requester_email": m["from_email"],
            "requester_name": flatten_line(m["from_name"] or "")[:120] or None})
        fields.update(email_message_ids=email_ids,
                      followers=trust.new_followers(m["cc"], [], sender=m["from_email"],
                                                    requester=None, desk_addresses=desk))
        requester = {"id": f"email:{m['from_email']}", "role": "customer",
                     "name": m["from_name"]}
        follow_up_of = None
        if accepted and m["from_email"] == (ticket.get("requester_email") or "").lower():
            # writing to a closed ticket: continue it in a linked follow-up
            requester["id"], follow_up_of = ticket["requester_id"], ticket
            fields["follow_up_of"] = ticket["number"]
        # A reply that proved nothing starts an unverified ticket (as does forged mail).
        result = self._create(fields, requester, "email", None, attachments=m["attachments"],
                              follow_up_of=follow_up_of,
                              verified=accepted or m["sender_authenticated"])
        return dict(result, action="created") if result["ok"] else result

    def _record_bounce(self, m: dict) -> dict:
        """A delivery status notification about one of our mails: kept on that ticket (staff
        see it), never posted into the conversation."""
        ticket = m["references"] and self.store.by_message_ids(m["references"]) or None
        if ticket is None:
            return ok(action="ignored", reason="bounce of a message we do not know")
        now = self.clock.now()
        entry = {k: v for k, v in m["bounce"].items() if k != "original_message_id"}
        push = {"bounces": dict(entry, received_at=now)}
        if m["message_id"]:
            push["email_message_ids"] = m["message_id"]  # a redelivered DSN is a duplicate
        result = self._commit_and_show(ticket, {"updated_at": now}, [], domain.SYSTEM_ACTOR,
                                       expected={}, push=push)
        return dict(result, action="bounce") if result["ok"] else result

    @command
    def remind_requester(self, number: int, reminder_id: str) -> dict:
        """The automation's time rule: a pending ticket's requester is asked whether they
        still need help; once per ``reminder_id`` however often it is asked."""
        ticket = self.store.by_number(number)
        if ticket is None:
            return not_found("ticket")
        if ticket["status"] != "pending":
            return fail(409, {"status": ["only a pending ticket's requester is reminded"]})
        self._notify("remind_requester", str(reminder_id)[:200], ticket["_id"], "reminder")
        return ok(number=number)

    @command
    def send_trigger_mail(self, number: int, message: dict, once_id: str) -> dict:
        """An automation trigger's email to the ticket's requester, assignee or followers, in
        the ticket's language (the assignee's for them) with canned-response placeholders;
        once per ``once_id``."""
        m = parsed(TriggerMailSchema(), message)
        ticket = self.store.by_number(number)
        if ticket is None:
            return not_found("ticket")
        if not self.mailer.enabled:
            return ok(sent=0)
        settings = self._mail_settings()
        to_assignee = m["to"] == "assignee"
        recipients = {"requester": [ticket.get("requester_email")],
                      "assignee": [ticket.get("assignee_email")],
                      "followers": ticket.get("followers", [])}[m["to"]]
        recipients = [r for r in recipients if r]
        if not recipients:
            return ok(sent=0)
        wanted = ticket.get("assignee_language") if to_assignee else ticket["language"]
        language = next(code for code in (wanted, settings["default_language"], "en")
                        if code in m["subject"])
        values = canned.values_for(ticket, ticket.get("assignee_name"))
        try:
            subject, body = (canned.render(m[part][language], values, language)
                             for part in ("subject", "body"))
        except canned.PlaceholderError as exc:
            return fail(400, {"body": [str(exc)]})
        outbound_id = _outbound_message_id(settings)
        # One mail to all of them (followers were in Cc together); not threaded for the
        # assignee, who works in the workspace.
        msg = mail.compose_text(
            flatten_line(f"[#{number}] {subject}"), body, to=", ".join(recipients),
            settings=dict(settings, reply_to=self._reply_address(settings, number)),
            message_id=outbound_id,
            references=[] if to_assignee else ticket.get("email_message_ids", []))

        def send(session):
            if not to_assignee:
                self.store.tickets.update_one({"_id": ticket["_id"]},
                                              {"$push": {"email_message_ids": outbound_id}},
                                              session=session)
            self.mailer.send(msg)
        self.store.handle_once("send_trigger_mail", str(once_id)[:200], send)
        return ok(sent=len(recipients))

    def _reply_address(self, settings: dict, number: int) -> str:
        """Replies go to this ticket's signed address (docs/tickets.md, "Who may reply")."""
        return trust.reply_address(settings["reply_to"] or settings["sender_address"], number,
                                   self._mail_token_secret())

    # ------------------------------------------------------------------ queries

    @command
    def get_ticket(self, number: int, actor: dict) -> dict:
        actor = parsed(ActorSchema(), actor)
        ticket = self._visible_ticket(number, actor)
        return ok(ticket=_public_view(ticket, actor["role"]))

    @command
    def get_history(self, number: int, actor: dict) -> dict:
        """The append-only audit history of a ticket's fields (staff only)."""
        actor = parsed(ActorSchema(), actor)
        ticket = self._visible_ticket(number, actor)
        if not domain.may(actor["role"], "read_audit"):
            return fail(403, {"_schema": ["only staff can read the audit history"]})
        return ok(history=AuditView(many=True).dump(self.store.history(ticket["_id"])))

    @command
    def list_tickets(self, query: dict, actor: dict) -> dict:
        actor = parsed(ActorSchema(), actor)
        q = parsed(TicketQuerySchema(), query)
        page, per_page = q.pop("page"), q.pop("per_page")
        q = domain.visible_filters(q, actor)
        tickets, total = self.store.find(q, page, per_page) if q is not None else ([], 0)
        return ok(tickets=[_public_view(t, actor["role"]) for t in tickets], total=total,
                  page=page, per_page=per_page)

    @command
    def queue(self, query: dict, actor: dict) -> dict:
        """The agents' queue: filters, search, sort and one page with the total, in one
        database request (see queue.py).  Staff only."""
        actor = parsed(ActorSchema(), actor)
        if actor["role"] not in domain.STAFF:
            return fail(403, {"_schema": ["Only staff see the queue."]})
        q = domain.scoped_queue(parsed(QueueQuerySchema(), query), actor)
        found = self.store.queue_page(q, self.clock.now())
        return ok(tickets=[_public_view(t, actor["role"]) for t in found["rows"]],
                  total=found["total"], has_more=found["has_more"], page=q["page"],
                  per_page=q["per_page"])

    @command
    def report(self, query: dict) -> dict:
        """Supervisor figures for a period (default: the last 30 days), widened to whole UTC
        days (the daily rollups' grain); ``since``/``until`` in the reply say which."""
        q = parsed(ReportQuerySchema(), query)
        now = self.clock.now()
        until = q["until"] or now
        since = q["since"] or until - DEFAULT_REPORT_PERIOD
        if since >= until:
            return fail(400, {"until": ["must be later than since"]})
        since, until = day_range(since, until)
        return ok(report=self.store.report(since, until, q["department"]),
                  since=since.isoformat(), until=until.isoformat())

    # ------------------------------------------------------------------ outcomes of others

    @on_events(ev.TICKET_ASSIGNED, **BACKGROUND)
    def record_assignment(self, events):
        # A person's reassignment is recorded as theirs in the history; routing's own as system.
        # The address and language are kept for notices to the assignee (SLA warnings).
        self._record_outcomes("record_assignment", [Outcome(e, {
            "assignee_id": e.data["agent_id"], "assignee_name": e.data["agent_name"],
            "assignee_email": e.data["agent_email"],
            "assignee_language": e.data["agent_language"]},
            e.data.get("assigned_by") or domain.SYSTEM_ACTOR) for e in events])

    @on_event(ev.TICKET_RELEASED)
    def record_unassigned(self, event):
        """The ticket left its agent to wait in another department's queue (a department
        change): nobody holds it now, unless someone newer was recorded meanwhile."""
        d = event.data

        def write(session):
            ticket = self.store.by_id(d["ticket_id"], session)
            if ticket is not None and ticket.get("assignee_id") == d["previous_agent_id"]:
                self._write_changes(session, ticket, {
                    "assignee_id": None, "assignee_name": None, "assignee_email": None,
                    "updated_at": event.occurred_at}, domain.SYSTEM_ACTOR,
                    expected={"assignee_id": d["previous_agent_id"]})
        self.store.handle_once("record_unassigned", event.event_id, write)

    @on_events(ev.PRIORITY_CHANGED, **BACKGROUND)
    def record_priority_change(self, events):
        self._record_outcomes("record_priority_change", [
            Outcome(e, {"priority": e.data["new_priority"]}) for e in events])

    @on_events(ev.TICKET_CLASSIFIED, **BACKGROUND)
    def record_classification(self, events):
        self._record_outcomes("record_classification", [Outcome(e, {
            "department": e.data["department"], "category": e.data["category"],
            "priority": e.data["priority"], "tags": _valid_tags(e.data["tags"])})
            for e in events])

    @on_events(ev.SLA_DEADLINES_SET, **BACKGROUND)
    def record_sla(self, events):
        # Versioned: a redelivery or an older announcement delivered late changes nothing.
        self.store.record_sla_deadlines([
            (e.data["ticket_id"], {k: e.data[k] for k in SLA_DEADLINE_FIELDS}, e.data["version"])
            for e in events])

    @on_event(ev.SLA_BREACHED)
    def record_breach(self, event):
        d = event.data

        self.store.handle_once("record_breach", event.event_id,
                               lambda s: self.store.add_breach(d["ticket_id"], d["target"], s))

    # ------------------------------------------------------------------ notifications

    @on_events(ev.TICKET_CREATED, **BACKGROUND)
    def notify_received(self, events):
        self._notify_received(events)

    @on_event(ev.MESSAGE_ADDED)
    def notify_replied(self, event):
        d = event.data
        # Only public staff replies reach the customer; internal notes never leave intake.
        if d["public"] and d["author_role"] in domain.STAFF:
            self._notify("notify_replied", event.event_id, d["ticket_id"], "replied",
                         message_id=d["message_id"])

    @on_event(ev.TICKET_SOLVED)
    def notify_solved(self, event):
        d = event.data
        self._notify("notify_solved", event.event_id, d["ticket_id"], "solved")

    @on_event(ev.TICKET_MERGED)
    def notify_merged(self, event):
        d = event.data
        self._notify("notify_merged", event.event_id, d["ticket_id"], "merged",
                     merged_number=d["merged_number"])

    @on_event(ev.MESSAGE_ADDED)
    def notify_mentioned(self, event):
        """Colleagues named with @ in an internal note hear about it by mail."""
        if event.data["mentioned_ids"]:
            self._notify_staff("notify_mentioned", event, "mentioned",
                               lambda message, ticket: message.get("mentions", []))

    @on_event(ev.MESSAGE_ADDED)
    def notify_followers(self, event):
        """Staff following the ticket hear of every new message but their own (a colleague
        mentioned in it gets that mail instead)."""
        self._notify_staff("notify_followers", event, "followed", lambda message, ticket: [
            f for f in ticket.get("agent_followers", [])
            if f["id"] != message["author_id"]
            and f["id"] not in {m["id"] for m in message.get("mentions", [])}])

    def _notify_staff(self, consumer, event, kind, recipients):
        """One mail per colleague ``recipients(message, ticket)`` names, in their language,
        not threaded into the customer's conversation; once per event."""
        if not self.mailer.enabled:
            return
        settings = self._mail_settings()
        ticket = self.store.by_id(event.data["ticket_id"])
        message = ticket and next((m for m in ticket["messages"]
                                   if m["id"] == event.data["message_id"]), None)
        if not settings["notifications"][kind] or message is None:
            return
        mails = [mail.compose(kind, mail.language_for(kind, person.get("language"), settings),
                              to=person["email"], settings=settings,
                              message_id=_outbound_message_id(settings), references=[],
                              number=ticket["number"], subject=ticket["subject"],
                              name=person["name"], body=message["body"],
                              author=message.get("author_name") or message["author_id"],
                              portal_url=self.settings.portal_url)
                 for person in recipients(message, ticket)]

        def send(session):
            for msg in mails:
                self.mailer.send(msg)
        if mails:
            self.store.handle_once(consumer, event.event_id, send)

    @on_event(ev.SLA_WARNING)
    def notify_sla_warning(self, event):
        """The assignee hears that a deadline is near; the requester never gets this mail.
        The marker is kept even when nothing is sent, so a warning is decided once: one mail
        per warning event, however often it is delivered."""
        msg = self._sla_warning_mail(event.data)

        def send(session):
            if msg is not None:
                self.mailer.send(msg)
        self.store.handle_once("notify_sla_warning", event.event_id, send)

    # ------------------------------------------------------------------ helpers

    def _mail_settings(self, afresh: bool = False) -> dict:
        """What mail is sent with: as read recently in this process (once per notification);
        ``afresh`` for the admin's pages, which may follow a change on another replica."""
        saved = self.store.mail_settings() if afresh else self.store.recent_mail_settings()
        return mail.effective_settings(saved, self.settings.mail_from)

    def _checked_canned(self, template: dict, actor: dict, owner_id: str | None = None) -> dict:
        """A valid template this actor may save with its scope (raises a Refusal)."""
        t = parsed(CannedCreateSchema(), template)
        if not domain.may(actor["role"], "use_canned") or not canned.may_manage(
                dict(t, owner_id=owner_id), actor, domain.may(actor["role"], "share_canned")):
            raise domain.Refusal(403, {"scope": [f"a {actor['role']} cannot save "
                                                 f"{t['scope']} canned responses"]})
        try:
            canned.check_template(t["body"], t["language"])
        except canned.PlaceholderError as exc:
            raise domain.Refusal(400, {"body": [str(exc)]}) from None
        return t

    def _managed_canned(self, canned_id: str, actor: dict) -> dict:
        """A canned response this actor may change; 404 when it is someone else's own."""
        current = self.store.canned.find_one({"_id": str(canned_id)})
        if current is None or not canned.visible_to(current, actor):
            raise domain.Refusal(404, {"_schema": ["canned response not found"]})
        if not domain.may(actor["role"], "use_canned") or not canned.may_manage(
                current, actor, domain.may(actor["role"], "share_canned")):
            raise domain.Refusal(403, {"_schema": [f"a {actor['role']} cannot change "
                                                   f"{current['scope']} canned responses"]})
        return current


    def _visible_ticket(self, number: int, actor: dict) -> dict:
        """The ticket, or 404 also when this actor may not see it (no existence leak)."""
        ticket = self.store.by_number(number)
        if ticket is None or not domain.may_see(ticket, actor):
            raise domain.Refusal(404, {"_schema": ["ticket not found"]})
        return ticket

    def _create(self, fields: dict, requester: dict, channel: str, key: str | None, *,
                attachments: list | None = None, viewer: dict | None = None,
                follow_up_of: dict | None = None, verified: bool = True) -> dict:
        viewer = viewer or requester
        # A retry under the same key is told by the unique index when the ticket is written
        # (below), not by a read before it: almost every filing is a first one.
        now = self.clock.now()
        ticket = self._new_ticket(Filing(fields, requester, channel, key, verified), now)
        files = []
        for upload in attachments or []:
            entry, blob = self._plan_attachment(ticket, self._email_upload(upload), requester,
                                                message_id=None)
            ticket["attachments"].append(entry)
            files.append(blob)
        staged, stored = self._creation_staged(ticket, follow_up_of, now), []

        def write(session):
            stored[:] = [self.store.insert(ticket, staged, now, session)]
            self.store.count_tags({tag: 1 for tag in ticket["tags"]}, session)
            if follow_up_of is not None:
                self._write_changes(session, follow_up_of, {
                    "follow_ups": follow_up_of.get("follow_ups", []) + [ticket["number"]],
                    "updated_at": now}, viewer, expected={"status": "closed"})

        try:
            with self._files_kept_if(files, lambda: True):
                # The ticket carries its events and its rollups (see repository.UNSETTLED):
                # one write, a transaction only when tag counts or the closed ticket it
                # follows up change with it.
                if follow_up_of is None and not ticket["tags"]:
                    write(None)
                else:
                    self.store.transaction(write)
        except DuplicateKeyError:
            existing = key and self.store.by_idempotency_key(requester["id"], key)
            if not existing:
                raise
            return _replayed(existing, fields, viewer)
        return self._created(stored[0], ticket, viewer)

    def _create_filing(self, filing: Filing) -> dict:
        return self._create(filing.fields, filing.requester, filing.channel, filing.key,
                            verified=filing.verified)

    def _new_ticket(self, filing: Filing, now) -> dict:
        return domain.new_ticket(
            ticket_id=uuid.uuid4().hex, number=self.store.next_number(), fields=filing.fields,
            requester_id=filing.requester["id"], channel=filing.channel, now=now,
            idempotency_key=filing.key, requester_verified=filing.verified)

    def _created(self, stored: dict, ticket: dict, viewer: dict) -> dict:
        """The customer hears back now; the events go out with those of the tickets written
        meanwhile (should that fail or the process die, settle_left_behind does it)."""
        self.settling.publish(self.store, self.dispatch, stored)
        return ok(ticket=_public_view(ticket, viewer["role"]), created=True)

    @staticmethod
    def _creation_staged(ticket: dict, follow_up_of: dict | None, now) -> list[dict]:
        """A new ticket's ``ticket_created``, staged for its outbox (under the current
        correlation id)."""
        event = ev.new_event(ev.TICKET_CREATED, {
            "ticket_id": ticket["_id"], "number": ticket["number"], "subject": ticket["subject"],
            "description": ticket["description"], "department": ticket["department"],
            "category": ticket["category"], "priority": ticket["priority"],
            "channel": ticket["channel"], "language": ticket["language"], "tags": ticket["tags"],
            "requester_id": ticket["requester_id"], "created_at": now,
            # SLA policies and routing rules can be chosen by organization and plan.
            "organization": ticket.get("organization"), "plan": ticket.get("plan"),
            # A follow-up goes back to the agent of the ticket it continues, when available.
            "previous_assignee_id": (follow_up_of or {}).get("assignee_id"),
            "ticket": domain.ticket_state(ticket)}, occurred_at=now)
        return outbox.entries([event], now)

    @timer(interval=1.0)
    def settle_left_behind(self):
        """New tickets whose writer died (or failed to publish) before settling them: their
        events are published (again, perhaps: consumers absorb repeats), then settled."""
        left = self.store.unsettled(self.clock.now(), outbox.SWEEP_CLAIM,
                                    skip=self.settling.in_hand)
        for ticket in left:
            outbox.resend(self.dispatch, ticket[UNSETTLED]["events"])
        if left:
            self.store.settle(left)

    def _plan_message(self, ticket, body, actor, uploads, mentioned=()):
        """Changes, pushes, events and files for one thread entry (raises domain.Refusal)."""
        is_staff = actor["role"] in domain.STAFF
        if not body["public"] and not domain.may(actor["role"], "write_internal_note"):
            raise domain.Refusal(403, {"public": ["only staff can write internal notes"]})
        if ticket["status"] == "closed":
            raise domain.Refusal(409, {"status": ["the ticket is closed; reopen it or file a follow-up"]})
        now = self.clock.now()
        entry = {"id": uuid.uuid4().hex, "author_id": actor["id"], "author_role": actor["role"],
                 "author_name": actor.get("name"), "body": body["body"],
                 "public": body["public"], "created_at": now}
        if mentioned:
            entry["mentions"] = list(mentioned)
        pushed_files, files = [], []
        for upload in uploads:
            file_entry, blob = self._plan_attachment(
                ticket, self._email_upload(upload), actor, message_id=entry["id"],
                public=body["public"])
            pushed_files.append(file_entry)
            files.append(blob)
        changes = {"updated_at": now}
        if is_staff and body["public"] and ticket["first_response_at"] is None:
            changes["first_response_at"] = now
        # A staff reply opens a new ticket; a customer reply brings a pending one back.
        opens = (is_staff and body["public"] and ticket["status"] == "new") or (
            not is_staff and ticket["status"] in ("pending", "solved"))
        if opens:
            changes["status"] = "open"
            if ticket["status"] == "solved":
                changes.update(reopened_at=now, solved_at=None)
        state = domain.ticket_state(dict(ticket, **changes,
                                         messages=ticket.get("messages", []) + [entry]))
        events = [ev.new_event(ev.MESSAGE_ADDED, {
            "ticket_id": ticket["_id"], "number": ticket["number"], "message_id": entry["id"],
            "author_role": actor["role"], "author_id": actor["id"], "public": body["public"],
            "added_at": now, "mentioned_ids": [m["id"] for m in mentioned],
            "ticket": state}, now)]
        if opens:
            events.append(self._status_event(ticket, "open", actor["role"], now, state))
            if ticket["status"] == "solved":
                events.append(self._reopened_event(ticket, now, state))
        push = {"messages": entry}
        if pushed_files:
            push["attachments"] = {"$each": pushed_files}
        return changes, push, events, files

    def _plan_attachment(self, ticket, upload, actor, message_id, public=None,
                         from_mail=True):
        """The ticket's attachment entry and the GridFS blob to store (raises domain.Refusal)."""
        name = att.sanitize_filename(upload["filename"])
        errors = att.attachment_errors(name, upload["content_type"], len(upload["data"]))
        if len(ticket.get("attachments", [])) >= att.MAX_ATTACHMENTS_PER_TICKET:
            errors["_schema"] = [f"at most {att.MAX_ATTACHMENTS_PER_TICKET} files per ticket"]
        if errors:
            raise domain.Refusal(400, {"attachments": {name: errors}} if from_mail else errors)
        file_id = uuid.uuid4().hex
        entry = {"id": file_id, "filename": name, "content_type": upload["content_type"].lower(),
                 "size": len(upload["data"]),
                 "public": upload.get("public", True) if public is None else public,
                 "message_id": message_id, "uploaded_by": actor["id"],
                 "created_at": self.clock.now()}
        return entry, (upload["data"], file_id, name, entry["content_type"])

    @staticmethod
    def _email_upload(upload: dict) -> dict:
        """Attachments arriving with a mail are base64 in JSON."""
        if isinstance(upload.get("data"), bytes):
            return upload
        try:
            return AttachmentUploadSchema().load(
                {k: upload.get(k) for k in ("filename", "content_type", "data")})
        except ValidationError as exc:
            raise domain.Refusal(400, {"attachments": exc.messages}) from None

    def _write_changes(self, session, ticket, changes, actor, expected, push=None) -> bool:
        """One conditional ticket update with its audit rows and tag counts, inside the
        caller's transaction."""
        if not self.store.update(ticket["_id"], changes, session, expected=expected, push=push):
            return False
        self._record_history(session, [(ticket, changes, actor)])
        return True

    def _record_history(self, session, changed: list[tuple[dict, dict, dict]]) -> None:
        """The audit rows and tag counts of ``(ticket before, changes, actor)`` written in
        the caller's transaction (a ticket's later change listed after its earlier one)."""
        rows, tag_deltas = [], Counter()
        for ticket, changes, actor in changed:
            diff = domain.field_changes(ticket, changes)
            rows += domain.audit_entries(ticket, diff, actor, changes["updated_at"])
            if "tags" in diff:
                tag_deltas.update(tag_rules.usage_deltas(ticket.get("tags", []),
                                                         changes["tags"]))
        self.store.record_audit(rows, session)
        if moved := {tag: delta for tag, delta in tag_deltas.items() if delta}:
            self.store.count_tags(moved, session)

    def _commit_and_show(self, ticket, changes, events, actor, expected, push=None, files=(),
                         conflict=("status", "the ticket changed meanwhile; reload and retry")
                         ) -> dict:
        """Apply the change only if nobody changed the same fields since we read them."""
        applied = []

        def write(session):
            applied[:] = [self._write_changes(session, ticket, changes, actor, expected, push)]
            return events if applied[0] else []

        with self._files_kept_if(files, lambda: applied[0]):
            self.apply(write)
        if not applied[0]:
            return fail(409, {conflict[0]: [conflict[1]]})
        return ok(ticket=_public_view(self.store.by_id(ticket["_id"]), actor["role"]))

    def _commit_pair(self, writes, events, actor, shown_id, **answer) -> dict:
        """Several tickets' conditional writes (``(ticket, changes, expected, push)``) and
        their events in one transaction: all or nothing."""
        def write(session):
            for ticket, changes, expected, push in writes:
                if not self._write_changes(session, ticket, changes, actor, expected, push):
                    raise _ChangedMeanwhile()
            return events

        try:
            self.apply(write)
        except _ChangedMeanwhile:
            return fail(409, {"_schema": ["a ticket changed meanwhile; reload and retry"]})
        return ok(ticket=_public_view(self.store.by_id(shown_id), actor["role"]), **answer)

    @contextmanager
    def _files_kept_if(self, files, committed):
        """GridFS cannot take part in a transaction: store the files first and delete them
        again unless the ticket write that references them commits."""
        stored = []
        try:
            for blob in files:
                self.store.put_file(*blob)
                stored.append(blob[1])
            yield
        finally:
            if stored and not (sys.exc_info()[0] is None and committed()):
                for file_id in stored:
                    self.store.delete_file(file_id)

    def _record_outcomes(self, consumer: str, outcomes: list[Outcome]) -> None:
        """Other services decided something about tickets: each decision recorded once, with
        its history, in the order announced (this service's turn on each ticket is held, so
        a later batch about one of them waits); the batch in one transaction, whose read of
        the tickets is the pre-image of their writes (a concurrent write aborts and retries
        it)."""
        def write(session):
            fresh = set(self.store.first_handlings(
                consumer, [o.event.event_id for o in outcomes], session))
            todo = [o for o in outcomes if o.event.event_id in fresh]
            tickets = self.store.by_ids(list({o.ticket_id for o in todo}), session)
            changed = []
            for outcome in todo:
                ticket = tickets.get(outcome.ticket_id)
                if ticket is not None:
                    changes = dict(outcome.changes, updated_at=outcome.event.occurred_at)
                    changed.append((ticket, changes, outcome.actor))
                    tickets[outcome.ticket_id] = {**ticket, **changes}
            self.store.update_as_read([(ticket, changes) for ticket, changes, _ in changed],
                                      session)
            self._record_history(session, changed)

        with ticket_turns(self.name, [o.ticket_id for o in outcomes]):
            self.store.transaction(write)

    def _notify(self, consumer, once_id, ticket_id, kind, message_id=None, **extra):
        """Email the requester once per ``once_id`` and ``consumer``: the mail's Message-ID is
        derived from them and recorded on the ticket after the send, so a failed send is
        retried on redelivery and a recorded one is not repeated (a crash between the send and
        the record sends it again, with the same Message-ID).  No transaction spans the SMTP
        send: it would hold the new ticket while routing's and SLA's outcomes arrive."""
        if not self.mailer.enabled:
            return
        settings = self._mail_settings()
        if not settings["notifications"][kind] and kind != "received":
            return
        notice = self._notice(settings, self.store.by_id(ticket_id), consumer, once_id, kind,
                              message_id, extra)
        if notice is not None:
            self.mailer.send(notice[0])
            self.store.record_sent_mail([(ticket_id, notice[1])])

    def _notify_received(self, events) -> None:
        """``_notify`` of the received notice for tickets filed together: one read and one
        write for all.  The sent ones are recorded before a failed send is raised, so the
        retry of each event alone sends only what is still owed."""
        if not self.mailer.enabled:
            return
        settings = self._mail_settings()
        tickets = self.store.by_ids([e.data["ticket_id"] for e in events])
        owed = []  # (ticket id, (mail, Message-ID))
        for event in events:
            notice = self._notice(settings, tickets.get(event.data["ticket_id"]),
                                  "notify_received", event.event_id, "received", None, {})
            if notice is not None:
                # The request that filed this ticket, not the batch's first one.
                correlation.stamp(notice[0], event.correlation_id)
                owed.append((event.data["ticket_id"], notice))
        failures = self.mailer.send_all([message for _, (message, _) in owed])
        self.store.record_sent_mail([(ticket_id, message_id)
                                     for (ticket_id, (_, message_id)), failure
                                     in zip(owed, failures) if failure is None])
        failure = next((f for f in failures if f is not None), None)
        if failure is not None:
            raise failure

    def _notice(self, settings, ticket, consumer, once_id, kind, message_id, extra):
        """``(mail, Message-ID)`` of the requester's notice of ``kind`` about ``ticket``, or
        None: no ticket or address, this kind switched off, or sent already."""
        wanted = settings["notifications"][kind]
        if ticket is None or not ticket.get("requester_email"):
            return None
        values = {"number": ticket["number"], "subject": ticket["subject"],
                  "name": ticket.get("requester_name") or ticket["requester_email"],
                  "portal_url": self.settings.portal_url, **extra}
        if kind == "received" and ticket.get("requester_verified") is False:
            # Filed without signing in: the one acknowledgement carries the confirm link; the
            # sender must be able to confirm even when the received notice is switched off.
            kind = "received_unconfirmed" if wanted else "confirm_sender"
            token = domain.link_token(domain.CONFIRM_LINK, ticket["number"],
                                      ticket["requester_id"], self._link_signing_secret(),
                                      self.clock.now())
            values["confirm_url"] = f"{self.settings.portal_url}/tickets/confirm/{token}"
        elif not wanted:
            return None
        if kind == "replied":
            message = next((m for m in ticket["messages"] if m["id"] == message_id), None)
            if message is None or not message["public"]:
                return None
            values.update(author=message.get("author_name") or "Support", body=message["body"])
        if kind == "solved":
            token = domain.csat_token(ticket["number"], ticket["requester_id"],
                                      self._link_signing_secret(), self.clock.now())
            values["csat_url"] = f"{self.settings.portal_url}/csat/{token}"
        outbound_id = _outbound_message_id(settings, f"{consumer}:{once_id}")
        if outbound_id in ticket.get("email_message_ids", []):
            return None
        msg = mail.compose(kind, ticket["language"], to=ticket["requester_email"],
                           settings=dict(settings, reply_to=self._reply_address(
                               settings, ticket["number"])), message_id=outbound_id,
                           references=ticket.get("email_message_ids", []),
                           cc=ticket.get("followers", []) if kind == "replied" else [],
                           **values)
        return msg, outbound_id

    def _mail_token_secret(self) -> str:
        return self.settings.mail_token_secret or self.store.mail_token_secret()

    def _link_secrets(self) -> list[str]:
        """The secret that signs the requester's links (CSAT, confirm), then the retired ones
        still accepted (read afresh: a link signed by another replica right after a rotation
        checks out)."""
        if self.settings.csat_secret:
            return [self.settings.csat_secret, *self.settings.csat_previous_secrets]
        return self.store.csat_secrets(self.clock.now())

    def _link_signing_secret(self) -> str:
        return self.settings.csat_secret or self.store.recent_csat_signing_secret()

    def _sla_warning_mail(self, warning: dict):
        """The mail to the ticket's assignee about an SLA warning, or None (mail off, this kind
        switched off, ticket solved or closed, nobody assigned or no address known)."""
        if not self.mailer.enabled:
            return None
        settings = self._mail_settings()
        ticket = self.store.by_id(warning["ticket_id"])
        if (not settings["notifications"]["sla_warning"] or ticket is None
                or not domain.warn_assignee(ticket)):
            return None
        language = mail.language_for("sla_warning", ticket.get("assignee_language"), settings)
        # Not threaded into the customer's conversation (no References, not remembered on
        # the ticket): it is a note between the desk and its agent.
        return mail.compose("sla_warning", language, to=ticket["assignee_email"],
                            settings=settings, message_id=_outbound_message_id(settings),
                            references=[], **mail.sla_warning_values(
                                ticket, warning, language, self.settings.portal_url))

    def _updated_event(self, ticket, diff, role, now):
        """ticket_updated: ``diff`` is {field: {"old", "new"}} of what changed."""
        after = dict(ticket, **{name: change["new"] for name, change in diff.items()})
        return ev.new_event(ev.TICKET_UPDATED, {
            "ticket_id": ticket["_id"], "number": ticket["number"], "changes": diff,
            "actor_role": role, "department": after["department"],
            "priority": after["priority"], "updated_at": now,
            "ticket": domain.ticket_state(dict(after, updated_at=now))}, now)

    # ``state``: domain.ticket_state of the ticket after the change these events announce.

    def _status_event(self, ticket, new_status, role, now, state):
        return ev.new_event(ev.STATUS_CHANGED, {
            "ticket_id": ticket["_id"], "number": ticket["number"], "old_status": ticket["status"],
            "new_status": new_status, "actor_role": role, "department": ticket["department"],
            "priority": ticket["priority"], "assignee_id": ticket["assignee_id"],
            "changed_at": now, "ticket": state}, now)

    def _reopened_event(self, ticket, now, state):
        return ev.new_event(ev.TICKET_REOPENED, {
            "ticket_id": ticket["_id"], "number": ticket["number"],
            "department": ticket["department"], "priority": ticket["priority"],
            "previous_assignee_id": ticket["assignee_id"], "reopened_at": now,
            "ticket": state}, now)

    def _solved_event(self, ticket, now, state):
        return ev.new_event(ev.TICKET_SOLVED, {
            "ticket_id": ticket["_id"], "number": ticket["number"], "subject": ticket["subject"],
            "description": ticket["description"], "resolution": state["last_public_reply"],
            "department": ticket["department"], "category": ticket["category"],
            "priority": ticket["priority"], "language": ticket["language"],
            "tags": ticket["tags"], "requester_id": ticket["requester_id"],
            "assignee_id": ticket["assignee_id"], "solved_at": now, "ticket": state}, now)
