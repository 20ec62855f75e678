"""SLA: a clock per ticket against the most specific policy and its business calendar;
warnings and breaches announced once each per target, with the policy's escalation actions."""
from __future__ import annotations

import random
from datetime import timedelta

from nameko.rpc import rpc
from nameko.timer import timer

from services.common import events as ev
from services.common import outbox
from services.common.batches import BACKGROUND
from services.common.nameko_support import (ClockProvider, NotYet, OutboxRelay,
                                             SomeEventsLater, command, on_event, on_events,
                                             ticket_turns)
from services.common.observability import Observability
from services.common.results import fail, not_found, ok, parsed

from . import domain
from .dependencies import SlaStore, at_risk_gauges
from .repository import ClockChanged, held_events
from .schemas import (CalendarSchema, ClockView, ComplianceQuery, PolicySchema,
                      calendar_document)


SWEEP_BATCH = 500
SWEEP_MAX_BATCHES = 20  # per tick, so a conflict storm cannot keep one worker busy forever
CONFLICT_RETRIES = 5
# Each event type has its own queue, so a ticket's later events can overtake its creation.
# Until the event is this old, one for a clock not started yet is retried; after that it is
# held for the creation to apply (SLA was behind with creations: down, or under a backlog).
CREATION_GRACE = timedelta(minutes=2)
ALERT_EVENTS = {"warning": ev.SLA_WARNING, "breach": ev.SLA_BREACHED}


def _with_id(doc: dict) -> dict:
    return {"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}


class ClockNotStartedYet(NotYet):
    """The ticket's creation has not been handled yet: redeliver the event shortly."""

    def __init__(self, ticket_id: str):
        super().__init__(f"the clock of {ticket_id} has not started yet")


class SlaService(OutboxRelay):
    name = "sla"

    store = SlaStore("sla")
    clock = ClockProvider()
    observe = Observability(business=at_risk_gauges)

    # ------------------------------------------------------------------ calendars

    @command
    def upsert_calendar(self, payload: dict) -> dict:
        calendar = parsed(CalendarSchema(), payload)
        self.store.upsert_calendar(calendar_document(calendar))
        return ok(calendar=CalendarSchema().dump(calendar))

    @rpc
    def list_calendars(self) -> dict:
        return ok(calendars=[_with_id(c) for c in self.store.calendars()])

    @rpc
    def delete_calendar(self, calendar_id: str) -> dict:
        users = self.store.calendar_in_use(calendar_id)
        if users:
            return fail(409, {"calendar_id": [f"Used by policies {', '.join(users)}; "
                                              "change them first."]})
        return ok() if self.store.delete_calendar(calendar_id) else not_found("Calendar")

    # ------------------------------------------------------------------ policies

    @command
    def upsert_policy(self, payload: dict) -> dict:
        policy = parsed(PolicySchema(), payload)
        if policy["calendar_id"] and self.store.calendar_spec(policy["calendar_id"]) is None:
            return fail(400, {"calendar_id": [f"Unknown calendar {policy['calendar_id']!r}; "
                                              "create it first."]})
        self.store.upsert_policy(policy)
        return ok(policy=PolicySchema().dump(policy))

    @rpc
    def list_policies(self) -> dict:
        return ok(policies=[_with_id(p) for p in self.store.policies()])

    @rpc
    def delete_policy(self, policy_id: str) -> dict:
        return ok() if self.store.delete_policy(policy_id) else not_found("Policy")

    # ------------------------------------------------------------------ clocks and reports

    @rpc
    def get_clock(self, ticket_id: str) -> dict:
        found = self.store.clock(ticket_id)
        return ok(clock=ClockView().dump(found)) if domain.started(found) \
            else not_found("SLA clock")

    @command
    def compliance(self, query: dict | None = None) -> dict:
        q = parsed(ComplianceQuery(), query or {})
        return ok(by=q["by"], groups=self.store.compliance(q["by"], q["since"], q["until"]))

    # ------------------------------------------------------------------ ticket events

    @on_events(ev.TICKET_CREATED)
    def start_clock(self, events):
        # One write for the tickets filed together, no transaction or outbox: a clock is
        # inserted only if absent, and its deadlines are announced before the events are
        # acknowledged, together (bundles: two services consume each, and RabbitMQ's work is
        # per message).  Should this process die in between, the redelivery finds the clocks
        # and announces them again (consumers keep the newest version only).
        new, announced = [], []
        for event in events:
            d = event.data
            policy = self.store.policy_for(d)
            new.append(domain.new_clock(
                d, policy, self.store.business_calendar(policy.get("calendar_id"))))
        for fresh, kept in zip(new, self.store.start_clocks(new)):
            if domain.started(kept):
                announced.append(self._deadlines_event(kept, kept["version"]))
            else:
                self._start_with_held(fresh, kept)
        outbox.send_unstaged(self.dispatch, announced)

    @on_event(ev.MESSAGE_ADDED)
    def count_message(self, event):
        self._evolve(event)

    @on_event(ev.STATUS_CHANGED)
    def follow_status(self, event):
        self._evolve(event)

    @on_event(ev.PRIORITY_CHANGED)
    def follow_priority(self, event):
        self._evolve(event)

    @on_event(ev.TICKET_UPDATED)
    def follow_edit(self, event):
        self._evolve(event)

    @on_events(ev.TICKET_ASSIGNED, **BACKGROUND)
    def remember_assignee(self, events):
        self._evolve_together(events)

    def _rule(self, event):
        """What the event does to its ticket's clock, ``rule(clock) -> clock``, or None when
        nothing.  Made of the event alone: a held event is applied as it would have been."""
        d = event.data
        if event.event_type == ev.MESSAGE_ADDED:
            counted = domain.message_rule(d["author_role"], d["public"])
            return counted and (lambda clock: counted(clock, d["added_at"], event.event_id))
        if event.event_type == ev.STATUS_CHANGED:
            return lambda clock: domain.status_changed(clock, d["new_status"], d["changed_at"],
                                                       event.event_id)
        if event.event_type == ev.PRIORITY_CHANGED:
            return self._reselect_policy(event, {"priority": d["new_priority"]},
                                         event.occurred_at)
        if event.event_type == ev.TICKET_UPDATED:
            if not {"priority", "department", *domain.ACCOUNT_FIELDS} & set(d["changes"]):
                return None
            # Organization and plan (a staff edit, or a sender verified) come as changes.
            account = {name: d["changes"][name]["new"] for name in domain.ACCOUNT_FIELDS
                       if name in d["changes"]}
            return self._reselect_policy(event, {
                "priority": d["priority"], "department": d["department"], **account},
                d["updated_at"])
        return lambda clock: domain.assigned(clock, d["agent_id"], d["assigned_at"],  # assigned
                                             event.event_id)

    def _reselect_policy(self, event, changes: dict, at):
        def rule(clock):
            ticket = {**clock, **changes}
            policy = self.store.policy_for(ticket)
            calendar = self.store.business_calendar(policy.get("calendar_id"))
            return domain.policy_changed(clock, policy, calendar, ticket, at, event.event_id)

        return rule

    def _start_with_held(self, fresh: dict, held: dict) -> None:
        """The clock the creation starts, with the events held for it applied, in place of
        what held them (compare-and-set on its version: should another event be held
        meanwhile, ClockChanged fails the creation, and its redelivery applies that one too),
        with its compliance records and its announcement in one transaction."""
        start = dict(fresh, version=held["version"])
        clock = start
        for event in held_events(held):
            rule = self._rule(event)
            if rule is not None:
                clock = rule(clock)

        def work(session):
            return [self._deadlines_event(clock, self.store.save_clock(clock, start, session))]

        self.apply(work)

    def _evolve(self, event) -> None:
        """Apply the event's rule (``_rule``), retrying if a concurrent writer changed the clock
        between our read and our write (compare-and-set on its version).  No marker: every
        rule records its event in the clock's inputs by id (domain._recorded), so an event
        seen again changes nothing and is not written; what its first handling announced was
        staged with it.  A change that moves no deadline and decides nothing (an assignment,
        most edits) is the clock's own write, without a transaction; one that does is saved
        with its compliance records and its announcement in one."""
        rule = self._rule(event)
        if rule is None:
            return
        for attempt in range(CONFLICT_RETRIES):
            try:
                self._save_evolved(event, rule)
                return
            except ClockChanged:
                if attempt == CONFLICT_RETRIES - 1:
                    raise

    def _evolve_together(self, events) -> None:
        """``_evolve`` for events waiting together, in their tickets' turns (as each alone
        would be): one read of their clocks, each clock's events applied in order to it, and
        one write of the clocks that change alone (``domain.evolved_together``).  The events of
        a clock not started yet, or whose change goes with compliance records or an
        announcement, go one at a time (``_evolve``), as do, should another writer (a replica)
        have changed one of the clocks meanwhile, those of every clock that write saved.  An
        event whose clock has not started yet comes back later alone (``SomeEventsLater``)."""
        rules: dict[str, list] = {}
        for event in events:
            rules.setdefault(event.data["ticket_id"], []).append(self._rule(event))
        not_started: list = []
        with ticket_turns(self.name, list(rules)):
            saved, alone = domain.evolved_together(self.store.clocks(list(rules)), rules)
            if not self.store.replace_clocks(saved):
                alone.update(clock["_id"] for clock in saved)
            for event in events:
                if event.data["ticket_id"] in alone:
                    try:
                        self._evolve(event)
                    except ClockNotStartedYet:
                        not_started.append(event)
        if not_started:  # only these wait for their creation, not the whole batch again
            raise SomeEventsLater(not_started, "their clocks have not started yet")

    def _save_evolved(self, event, rule) -> None:
        clock = self.store.clock(event.data["ticket_id"])
        kind, updated = domain.evolution(clock, [rule])
        if kind == domain.NOT_STARTED:
            if self.clock.now() - event.occurred_at < CREATION_GRACE:
                raise ClockNotStartedYet(event.data["ticket_id"])
            # Dropped, a solve would leave the clock to run (and breach) once it starts.  (A
            # ticket from before SLA was running keeps its events held for good: a few.)
            if self.store.hold_for_creation(event):
                return
            raise ClockChanged(event.data["ticket_id"])  # started meanwhile: apply to it
        if kind == domain.ALONE:  # no record changes: the clock alone
            self.store.replace_clock(updated)
        if kind != domain.RECORDED:
            return

        def work(session):
            version = self.store.save_clock(updated, clock, session)
            if domain.deadlines(updated) == domain.deadlines(clock):
                return []
            return [self._deadlines_event(updated, version)]

        self.apply(work)

    def _deadlines_event(self, clock: dict, version: int) -> dict:
        """The clock's version orders these per ticket: consumers keep the newest only, as
        the outbox may deliver an older announcement after a newer one."""
        return ev.new_event(ev.SLA_DEADLINES_SET, {
            "ticket_id": clock["_id"], "number": clock["number"], "policy_id": clock["policy_id"],
            "version": version, **domain.deadlines(clock)}, self.clock.now())

    # ------------------------------------------------------------------ the sweep

    @timer(interval=1.0)
    def detect_alerts(self):
        """Look only at clocks whose next warning or deadline has come (an index range scan);
        the version check makes exactly one replica announce each alert."""
        now = self.clock.now()
        for _ in range(SWEEP_MAX_BATCHES):
            due = self.store.due_clocks(now, SWEEP_BATCH)
            # Replicas read the same due clocks; visiting them in different orders makes
            # them mostly work on different clocks instead of colliding on each one.
            for clock in random.sample(due, len(due)):
                self._announce(clock, now)
            if len(due) < SWEEP_BATCH:
                return

    def _announce(self, clock: dict, now) -> None:
        updated, alerts = domain.raise_alerts(clock, now)

        def work(session):
            self.store.save_clock(updated, clock, session)
            return [ev.new_event(ALERT_EVENTS[stage], {
                "ticket_id": clock["_id"], "number": clock["number"], "target": target,
                # A warning found while paused has no deadline yet: it carries its own instant.
                "due_at": updated["targets"][target]["due_at"]
                or updated["targets"][target]["warn_at"],
                "policy_id": clock["policy_id"], "department": clock["department"],
                "priority": clock["priority"],
                "actions": domain.actions_for(clock, target, stage)}, now)
                for stage, target in alerts]

        try:
            self.apply(work)
        except ClockChanged:
            pass  # another replica (or an event) got there first; the next tick re-reads it
