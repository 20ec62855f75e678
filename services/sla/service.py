"""SLA: a clock per ticket, deadlines from the priority's policy, breaches announced once."""
from __future__ import annotations

from marshmallow import ValidationError
from nameko.rpc import rpc
from nameko.timer import timer

from services.common import events as ev
from services.common.nameko_support import ClockProvider, OutboxRelay, on_event
from services.common.results import fail, not_found, ok

from . import domain
from .dependencies import SlaStore
from .schemas import ClockView, PolicySchema

SWEEP_BATCH = 500


class SlaService(OutboxRelay):
    name = "sla"

    store = SlaStore("sla")
    clock = ClockProvider()

    @rpc
    def upsert_policy(self, payload: dict) -> dict:
        try:
            policy = PolicySchema().load(payload)
        except ValidationError as exc:
            return fail(400, exc.messages)
        self.store.upsert_policy(policy)
        return ok(policy=policy)

    @rpc
    def list_policies(self) -> dict:
        return ok(policies=[{"id": p["_id"], "name": p["name"], "priority": p["priority"],
                             "targets": p["targets"]} for p in self.store.policies()])

    @rpc
    def get_clock(self, ticket_id: str) -> dict:
        found = self.store.clock(ticket_id)
        return ok(clock=ClockView().dump(found)) if found else not_found("SLA clock")

    @on_event(ev.TICKET_CREATED)
    def start_clock(self, event):
        d = event.data
        policy = self.store.policy_for(d["priority"])
        clock = domain.new_clock(d, policy, self.clock.now())

        def work(session):
            if not self.store.insert_clock(clock, session):
                return []
            return [ev.new_event(ev.SLA_DEADLINES_SET, {
                "ticket_id": d["ticket_id"], "number": d["number"], "policy_id": policy["_id"],
                "first_response_due": clock["due"].get("first_response"),
                "resolution_due": clock["due"].get("resolution")}, self.clock.now())]

        self.apply(work, event=event, consumer="start_clock")

    @on_event(ev.MESSAGE_ADDED)
    def stop_first_response(self, event):
        d = event.data
        if not d["public"] or d["author_role"] == "customer":
            return
        self._meet(event, "first_response", d["added_at"])

    @on_event(ev.STATUS_CHANGED)
    def stop_resolution(self, event):
        d = event.data
        if d["new_status"] in ("solved", "closed"):
            self._meet(event, "resolution", d["changed_at"])

    def _meet(self, event, target: str, at) -> None:
        def work(session):
            clock = self.store.clock(event.data["ticket_id"], session)
            if clock is None or target in clock["met"] or target in clock["breached"]:
                return
            clock["met"][target] = at
            self.store.save_progress(clock, session)

        self.store.handle_once(f"meet:{target}", event.event_id, work)

    @timer(interval=1.0)
    def detect_breaches(self):
        now = self.clock.now()
        for clock in self.store.due_clocks(now, SWEEP_BATCH):
            for target in domain.breached_targets(clock, now):
                def work(session, clock=clock, target=target):
                    if not self.store.mark_breached(clock, target, session):
                        return []
                    return [ev.new_event(ev.SLA_BREACHED, {
                        "ticket_id": clock["_id"], "number": clock["number"], "target": target,
                        "due_at": clock["due"][target], "policy_id": clock["policy_id"]}, now)]

                self.apply(work)
                clock = self.store.clock(clock["_id"]) or clock
