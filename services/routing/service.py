"""Routing: gives every ticket to an agent with the capacity for it, or queues it until one
frees up.  Safe with several replicas: slots are taken by conditional updates inside
transactions, and each event's effects apply once."""
from __future__ import annotations

from marshmallow import ValidationError
from nameko.rpc import rpc

from services.common import events as ev
from services.common.nameko_support import ClockProvider, OutboxRelay, on_event
from services.common.results import fail, ok

from . import domain
from .dependencies import RoutingStore
from .schemas import AgentSchema, AgentView, DepartmentSchema

QUEUE_DRAIN_BATCH = 50


class RoutingService(OutboxRelay):
    name = "routing"

    store = RoutingStore("routing")
    clock = ClockProvider()

    # ------------------------------------------------------------------ administration

    @rpc
    def upsert_department(self, payload: dict) -> dict:
        try:
            department = DepartmentSchema().load(payload)
        except ValidationError as exc:
            return fail(400, exc.messages)
        self.store.upsert_department(department)
        return ok(department=department)

    @rpc
    def list_departments(self) -> dict:
        return ok(departments=[{"id": d["_id"], "name": d["name"], "name_ru": d.get("name_ru")}
                               for d in self.store.departments()])

    @rpc
    def upsert_agent(self, payload: dict) -> dict:
        try:
            agent = AgentSchema().load(payload)
        except ValidationError as exc:
            return fail(400, exc.messages)
        unknown = [d for d in agent["departments"] if not self.store.department_exists(d)]
        if unknown:
            return fail(400, {"departments": [f"unknown department: {d}" for d in unknown]})
        saved = self.store.upsert_agent(agent)
        for department in agent["departments"]:  # more capacity may unblock queued tickets
            self._drain_queue(department)
        return ok(agent=AgentView().dump(saved))

    @rpc
    def list_agents(self, department: str | None = None) -> dict:
        return ok(agents=AgentView(many=True).dump(self.store.agents(department)))

    # ------------------------------------------------------------------ events

    @on_event(ev.TICKET_CREATED)
    def route_new_ticket(self, event):
        self._assign(event, dict(event.data, preferred_agent_id=None))

    @on_event(ev.TICKET_REOPENED)
    def route_reopened_ticket(self, event):
        d = event.data
        self._assign(event, {"ticket_id": d["ticket_id"], "number": d["number"],
                             "department": d["department"], "priority": d["priority"],
                             "preferred_agent_id": d["previous_assignee_id"]})

    @on_event(ev.STATUS_CHANGED)
    def release_on_solve(self, event):
        d = event.data
        if d["new_status"] not in ("solved", "closed"):
            return
        now = self.clock.now()
        released = {}

        def work(session):
            assignment = self.store.end_assignment(d["ticket_id"], now, session)
            if assignment:
                self.store.free_slot(assignment["agent_id"], session)
                released["department"] = assignment["department"]
            self.store.dequeue(d["ticket_id"], session)

        self.store.handle_once("release_on_solve", event.event_id, work)
        if released:
            self._drain_queue(released["department"])

    # ------------------------------------------------------------------ internals

    def _assign(self, event, ticket: dict) -> None:
        now = self.clock.now()

        def work(session):
            if self.store.active_assignment(ticket["ticket_id"], session):
                return []
            agents = self.store.agents(ticket["department"], session)
            for agent in domain.rank_candidates(agents, ticket["department"],
                                                ticket["preferred_agent_id"]):
                taken = self.store.take_slot(agent["_id"], now, session)
                if taken is None:
                    continue
                self.store.record_assignment(ticket["ticket_id"], agent["_id"],
                                             ticket["department"], now, session)
                self.store.dequeue(ticket["ticket_id"], session)
                return [ev.new_event(ev.TICKET_ASSIGNED, {
                    "ticket_id": ticket["ticket_id"], "number": ticket["number"],
                    "agent_id": agent["_id"], "agent_name": agent["name"],
                    "department": ticket["department"], "assigned_at": now}, now)]
            if self.store.enqueue(ticket, now, session):
                reason = ("no agent in this department" if not agents
                          else "every agent is at capacity or away")
                return [ev.new_event(ev.TICKET_UNASSIGNABLE, {
                    "ticket_id": ticket["ticket_id"], "number": ticket["number"],
                    "department": ticket["department"], "reason": reason}, now)]
            return []

        self.apply(work, event=event, consumer=event and f"assign:{event.event_type}")

    def _drain_queue(self, department: str) -> None:
        for queued in self.store.queued(department, QUEUE_DRAIN_BATCH):
            before = self.store.active_assignment(queued["_id"])
            if before:
                continue
            self._assign(None, {"ticket_id": queued["_id"], "number": queued["number"],
                                "department": department, "priority": queued["priority"],
                                "preferred_agent_id": queued.get("preferred_agent_id")})
            if self.store.active_assignment(queued["_id"]) is None:
                break  # nobody had room for the oldest; the rest must wait too
