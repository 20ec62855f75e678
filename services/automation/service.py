"""Automation: time rules evaluated on a schedule over only the tickets whose rule can have
come due (see time_rules.py), acting on tickets through intake's RPC."""
from __future__ import annotations

import logging

from nameko.rpc import RpcProxy
from nameko.timer import timer

from services.common import events as ev
from services.common.nameko_support import ClockProvider, OutboxRelay, command, on_event
from services.common.results import fail, ok, parsed

from . import time_rules as tr
from .contract import TimeRulesSchema, rules_from_payload, rules_to_payload
from .repository import AutomationStore, StateChanged

log = logging.getLogger(__name__)

SWEEP_BATCH = 500
CONFLICT_RETRIES = 5
AUTOMATION_ACTOR = {"id": "automation", "role": "system", "name": "Automation"}


class AutomationService(OutboxRelay):
    name = "automation"

    store = AutomationStore("automation")
    clock = ClockProvider()
    intake = RpcProxy("intake")

    # ------------------------------------------------------------------ admin

    @command
    def get_time_rules(self) -> dict:
        return ok(rules=rules_to_payload(self._rules()))

    @command
    def update_time_rules(self, payload: dict, actor: dict) -> dict:
        """Admins only; the whole document is validated and replaced.  A new delay applies
        from the next sweep: nothing is re-indexed (the sweep subtracts the delay)."""
        if (actor or {}).get("role") != "admin":
            return fail(403, {"_schema": ["only an admin changes the time rules"]})
        rules = parsed(TimeRulesSchema(), payload)
        self.store.save_rules(rules)
        return ok(rules=rules_to_payload(self._rules()))

    def _rules(self) -> tr.TimeRules:
        saved = self.store.saved_rules()
        return tr.TimeRules() if saved is None else rules_from_payload(saved)

    # ------------------------------------------------------------------ following tickets

    @on_event(ev.TICKET_CREATED)
    def follow_creation(self, event):
        d = event.data
        self._evolve(event, "follow_creation", d["ticket_id"], d["number"], lambda s: (
            tr.status_changed(s, "new", d["created_at"]) if s["status"] is None else s))

    @on_event(ev.STATUS_CHANGED)
    def follow_status(self, event):
        d = event.data
        self._evolve(event, "follow_status", d["ticket_id"], d["number"],
                     lambda s: tr.status_changed(s, d["new_status"], d["changed_at"]))

    @on_event(ev.TICKET_ASSIGNED)
    def follow_assignment(self, event):
        d = event.data
        self._evolve(event, "follow_assignment", d["ticket_id"], d["number"],
                     lambda s: tr.assigned(s, d["agent_id"]))

    def _evolve(self, event, consumer: str, ticket_id: str, number: int, rule) -> None:
        """Apply ``rule(state) -> state`` once per event; a concurrent writer makes it read
        again (compare-and-set on the state's version)."""
        def work(session):
            state = self.store.state(ticket_id, session) or tr.blank(ticket_id, number)
            self.store.save_state(rule(state), session)

        for attempt in range(CONFLICT_RETRIES):
            try:
                self.store.handle_once(consumer, event.event_id, work)
                return
            except StateChanged:
                if attempt == CONFLICT_RETRIES - 1:
                    raise

    # ------------------------------------------------------------------ the sweep

    @timer(interval=1.0)
    def apply_time_rules(self):
        """Per rule, an index range scan for tickets waiting since before now - delay."""
        now = self.clock.now()
        rules = self._rules()
        for rule in tr.RULES:
            delay = rules.delay(rule)
            if delay is not None:
                for state in self.store.due(rule, now - delay, SWEEP_BATCH):
                    self._fire(state, rule, now)

    def _fire(self, state: tr.TicketState, rule: tr.Rule, now) -> None:
        # Claim first (compare-and-set): of two replicas, one acts.
        try:
            self.store.save_state(tr.acted(state, rule, now))
        except StateChanged:
            return
        try:
            result = self._act(state, rule)
        except Exception:  # noqa: BLE001 - intake unreachable: give the claim back, retry later
            log.exception("time rule %s on ticket #%s failed; retried", rule, state["number"])
            try:
                self.store.save_state(tr.TicketState(state, version=state["version"] + 1))
            except StateChanged:
                pass  # an event moved the ticket on meanwhile; it decides the next rule
            return
        if not result["ok"]:
            # The ticket moved on (reopened, assigned, closed by hand): its event re-decides.
            log.info("time rule %s on #%s not applied: %s", rule, state["number"],
                     result["errors"])

    def _act(self, state: tr.TicketState, rule: tr.Rule) -> dict:
        number = state["number"]
        if rule in ("close", "solve"):
            target = "closed" if rule == "close" else "solved"
            return self.intake.change_status(number, {"status": target}, AUTOMATION_ACTOR)
        if rule == "remind":
            return self.intake.remind_requester(
                number, f"{state['_id']}:{state['status_at'].isoformat()}")
        found = self.intake.get_ticket(number, AUTOMATION_ACTOR)
        if not found["ok"]:
            return found
        ticket = found["ticket"]
        if ticket["status"] != "new" or ticket["assignee_id"]:
            return fail(409, {"status": ["taken meanwhile"]})
        return self.intake.update_ticket(number, tr.escalation(ticket), AUTOMATION_ACTOR)
