"""Routing: classifies every new ticket with the routing rules, gives it to an available agent
with the skills and the capacity for it, or queues it until one frees up; reacts to SLA
escalations and declares incidents when many similar tickets arrive.  Safe with several
replicas: slots are taken by conditional updates inside transactions, and each event's effects
apply once."""
from __future__ import annotations

import uuid
from datetime import timedelta

from nameko.rpc import rpc
from nameko.timer import timer
from pymongo.errors import DuplicateKeyError

from services.common import events as ev
from services.common.batches import BACKGROUND
from services.common.nameko_support import (ClockProvider, OutboxRelay, command, on_event,
                                            on_events)
from services.common.results import Refusal, fail, not_found, ok, parsed

from . import domain
from .dependencies import RoutingStore, SlotsBeingTaken
from .repository import QUEUE_LIMIT, AlikeQuery
from .schemas import (AgentSchema, AgentView, AlertView, AvailabilitySchema, DepartmentSchema,
                      DryRunTicketSchema, QueueEntryView, ReassignSchema, RuleSchema,
                      RuleView)

QUEUE_DRAIN_BATCH = 50
ESCALATIONS = ("raise_priority", "reassign", "notify_supervisor")
# How often every replica looks for waiting tickets that an agent has room for.
RECONCILE_SECONDS = 3.0


class RoutingService(OutboxRelay):
    name = "routing"

    store = RoutingStore("routing")
    clock = ClockProvider()
    slots = SlotsBeingTaken()

    # ------------------------------------------------------------------ departments and agents

    @command
    def upsert_department(self, payload: dict) -> dict:
        department = parsed(DepartmentSchema(), payload)
        self.store.upsert_department(department)
        return ok(department=department)

    @rpc
    def list_departments(self) -> dict:
        return ok(departments=[dict(DepartmentSchema().dump(dict(d, id=d["_id"])))
                               for d in self.store.departments()])

    @command
    def upsert_agent(self, payload: dict) -> dict:
        agent = parsed(AgentSchema(), payload)
        unknown = [d for d in agent["departments"] if not self.store.department_exists(d)]
        if unknown:
            return fail(400, {"departments": [f"unknown department: {d}" for d in unknown]})
        saved = self.store.upsert_agent(agent)
        self._drain_queues(agent["departments"])  # more capacity may unblock queued tickets
        return ok(agent=AgentView().dump(saved))

    @command
    def set_availability(self, agent_id: str, payload: dict) -> dict:
        change = parsed(AvailabilitySchema(), payload)
        saved = self.store.set_availability(agent_id, change["status"], change["vacation_until"])
        if saved is None:
            return not_found("agent")
        if domain.is_available(saved, self.clock.now()):
            self._drain_queues(saved["departments"])
        return ok(agent=AgentView().dump(saved))

    @rpc
    def list_agents(self, department: str | None = None) -> dict:
        return ok(agents=AgentView(many=True).dump(self.store.agents(department)))

    @rpc
    def get_agent(self, agent_id: str) -> dict:
        """One agent's profile (the portal scopes an agent to its departments)."""
        found = self.store.agent(str(agent_id)[:64])
        return ok(agent=AgentView().dump(found)) if found else not_found("agent")

    # ------------------------------------------------------------------ rules

    @rpc
    def list_rules(self) -> dict:
        return ok(rules=RuleView(many=True).dump(self.store.rules()))

    @command
    def save_rule(self, payload: dict) -> dict:
        """Every problem is found here, so routing never meets a rule it cannot apply."""
        rule = domain.normalised_rule(parsed(RuleSchema(), payload))
        problems = domain.rule_problems(rule, [d["_id"] for d in self.store.departments()])
        if problems:
            return fail(400, problems)
        self.store.save_rule(rule)
        return ok(rule=rule)

    @rpc
    def delete_rule(self, rule_id: str) -> dict:
        return ok() if self.store.delete_rule(rule_id) else not_found("rule")

    @command
    def dry_run(self, payload: dict) -> dict:
        """Which rules would fire for this ticket, why, and what it would look like after."""
        ticket = parsed(DryRunTicketSchema(), payload)
        outcome = domain.evaluate_rules(self.store.rules(), ticket)
        return ok(ticket=outcome["ticket"], fired=outcome["fired"], trace=outcome["trace"])

    # ------------------------------------------------------------------ queue and alerts

    @rpc
    def queue(self, department: str) -> dict:
        """Unassigned waiting tickets in the order an agent of the department sees them."""
        settings = self.store.department(department)
        if settings is None:
            return not_found("department")
        mode = settings.get("queue_mode", "fifo")
        entries = domain.queue_order(self.store.queued(department, mode), mode)
        return ok(mode=mode, tickets=QueueEntryView(many=True).dump(entries))

    @command
    def claim(self, agent_id: str, ticket_id: str) -> dict:
        """An agent takes a waiting ticket themself (the console's "Take"), whatever their
        availability (they are at work) but within capacity: the slot is taken atomically, so
        it fails with 409 when the agent is full, and with 404 when the ticket has already
        left the queue (taken by someone else or by routing)."""
        now, outcome = self.clock.now(), {}

        def work(session):
            waiting = self.store.queue_entry(str(ticket_id), session)
            agent = self.store.agent(str(agent_id), session)
            if waiting is None or agent is None:
                outcome["result"] = not_found("queued ticket" if agent else "agent")
                return []
            if str(waiting["department"]) not in agent.get("departments", []):
                outcome["result"] = fail(403, {"department": [
                    "not one of the agent's departments"]})
                return []
            if not self.store.dequeue(str(ticket_id), session):  # the atomic claim
                outcome["result"] = not_found("queued ticket")
                return []
            taken = self.store.take_slot(agent, now, session, if_available=False)
            if taken is None:  # the exception rolls the claim back: the ticket keeps waiting
                raise Refusal(409, {"agent_id": ["at capacity"]})
            ticket = dict(waiting, ticket_id=waiting["_id"])
            self.store.record_assignment(ticket["ticket_id"], taken, ticket["department"], now,
                                         session)
            outcome["result"] = ok(ticket_id=ticket["ticket_id"], number=ticket["number"])
            return [_assigned(ticket, taken, now)]

        self.apply(work)
        return outcome["result"]

    @command
    def reassign(self, ticket_id: str, payload: dict) -> dict:
        """A person hands a waiting or assigned ticket to a chosen agent.  One transaction:
        the old assignment ends (conditionally: a concurrent change makes one side retry or
        refuse) and the new agent's slot is taken atomically within capacity, unless a
        supervisor overrides it; if the slot cannot be taken, nothing changes."""
        r = parsed(ReassignSchema(), payload)
        now, outcome = self.clock.now(), {}

        def work(session):
            current = self.store.active_assignment(str(ticket_id), session)
            waiting = None if current else self.store.queue_entry(str(ticket_id), session)
            known = self.store.ticket(str(ticket_id), session)
            if not domain.creation_seen(known):
                raise Refusal(404, {"_schema": ["ticket not found"]})
            department = (current or waiting or known)["department"]
            target = self.store.agent(r["agent_id"], session)
            refusal = domain.reassign_refusal(department, r["actor"],
                                              self.store.agent(r["actor"]["id"], session),
                                              target, r["override_capacity"])
            if refusal:
                raise Refusal(*refusal)
            if not (current or waiting):
                raise Refusal(409, {"_schema": ["The ticket is not waiting or assigned "
                                                "(solved or closed?)."]})
            if current and current["agent_id"] == target["_id"]:
                raise Refusal(409, {"agent_id": [f"Already assigned to {target['name']}."]})
            if current:
                self.store.end_assignment(str(ticket_id), now, session)
            taken = self.store.take_slot(target, now, session, if_available=False,
                                         within_capacity=not r["override_capacity"])
            if taken is None:  # the exception rolls back the ended assignment too
                raise Refusal(409, {"agent_id": [
                    f"{target['name']} is at capacity ({target['load']}/{target['capacity']})."]})
            self.store.record_assignment(str(ticket_id), taken, department, now, session)
            self.store.dequeue(str(ticket_id), session)
            ticket = {"ticket_id": str(ticket_id), "number": known["number"],
                      "department": department}
            outcome["result"] = ok(ticket_id=str(ticket_id), number=known["number"],
                                   agent_id=taken["_id"], agent_name=taken["name"],
                                   load=taken["load"], capacity=taken["capacity"])
            return [_assigned(ticket, taken, now, assigned_by=r["actor"])]

        self.apply(work)
        return outcome["result"]

    @rpc
    def list_alerts(self, limit: int = 100) -> dict:
        return ok(alerts=AlertView(many=True).dump(self.store.alerts(min(int(limit), 500))))

    # ------------------------------------------------------------------ events

    @on_events(ev.TICKET_CREATED)
    def route_new_ticket(self, events):
        """Classify, assign or queue, and watch for incidents.  Tickets arriving together are
        routed in one transaction, with one read of their agents (chosen in memory,
        ``domain.place_batch``) and one bulk write each for their copies, their agents'
        slots, their assignments, their assignment log, their queue entries and their
        events, however many they are; one arriving alone, or one an earlier event placed
        ahead of its creation, goes the careful way.  Should the batch fail, or an agent
        change between its read and its write, each is routed alone.
        A ticket solved or closed before its creation got here (``domain.settled_ahead``) is
        remembered and classified all the same (its classification does not depend on which
        event came first) but neither assigned nor queued."""
        if len(events) == 1:
            self._route_alone(events[0])
        else:
            self._route_together(events)

    def _route_alone(self, event) -> None:
        now, remembered = self.clock.now(), []

        def classify_and_place(session, first_sight_unplaced: bool):
            arrived = event.data
            outcome = domain.evaluate_rules(self.store.recent_rules(), arrived)
            before, after = self.store.remember_creation(self._routing_copy(outcome["ticket"]),
                                                         session)
            remembered[:] = [after]
            classified = self._classification_events(arrived, outcome, now)
            if domain.settled_ahead(after):
                return classified
            return classified + self._place(
                self._arrival(arrived, outcome, after), now, session,
                never_placed=first_sight_unplaced and not (before or {}).get("placed_ahead"))

        # The creation's copy is written only where none was remembered: a redelivery meets
        # the unique _id, which is the once-marker (no marker document of its own).  Before
        # its creation a ticket is placed only by an event that overtook it (a department
        # change, a reopening), which marks the copy (placed_ahead); otherwise neither its
        # assignment nor its queue entry is looked for.  Should an assignment exist all the
        # same, its unique _id refuses a second one, and the creation is routed again the
        # careful way.
        for first_sight_unplaced in (True, False):
            try:
                self.apply(lambda session: classify_and_place(session, first_sight_unplaced))
                break
            except DuplicateKeyError:
                if self.store.creation_remembered(event.data["ticket_id"]):
                    return
                if not first_sight_unplaced:
                    raise
        self._watch_for_incidents(remembered, now)

    def _route_together(self, events) -> None:
        now, remembered, careful = self.clock.now(), [], []
        arrivals = {event.data["ticket_id"]: event for event in events}  # one creation a ticket
        rules = self.store.recent_rules()

        def classify_and_place(session):
            known = self.store.routing_copies(list(arrivals), session)
            # Remembered already (a redelivery): done.  Placed ahead: the careful way.  Solved
            # ahead (and not placed since): remembered here, placed nowhere.
            careful[:] = [i for i in arrivals if known.get(i, {}).get("placed_ahead")
                          and not domain.creation_seen(known[i])]
            fresh = [(event.data, domain.evaluate_rules(rules, event.data))
                     for i, event in arrivals.items()
                     if not domain.creation_seen(known.get(i)) and i not in careful]
            copies = [{**known.get(arrived["ticket_id"], {}),
                       **self._routing_copy(outcome["ticket"])} for arrived, outcome in fresh]
            self.store.remember_creations(copies, set(known), session)
            remembered[:] = copies
            placed = domain.place_batch(
                [self._arrival(arrived, outcome, copy)
                 for (arrived, outcome), copy in zip(fresh, copies)
                 if not domain.settled_ahead(copy)],
                self.store.agents_of({c["department"] for c in copies}, session), now,
                being_taken=self.slots.by_others())
            for taken in placed.taken:
                self.slots.hold(taken.agent["_id"])  # before the write: others rank meanwhile
            # Every agent's slots in one write, each only while the agent stands as read:
            # should one have changed since, none are taken and each ticket goes alone.
            if not self.store.take_slots(placed.taken, now, session):
                raise _AgentsChanged()
            self.store.record_assignments(placed.given, now, session)
            queued = self.store.enqueue_many(placed.waiting, now, session)
            given = {g.ticket["ticket_id"]: _assigned(g.ticket, g.agent, now)
                     for g in placed.given}
            announced = []
            for arrived, outcome in fresh:  # in the order tickets routed one by one announce
                announced += self._classification_events(arrived, outcome, now)
                if arrived["ticket_id"] in given:
                    announced.append(given[arrived["ticket_id"]])
            return announced + [self._unassignable(ticket, now) for ticket in placed.waiting
                                if ticket["ticket_id"] in queued]

        try:
            self.apply(classify_and_place)
        except _AgentsChanged:
            for event in arrivals.values():  # nothing was written: each the careful way
                self._route_alone(event)
            return
        self._watch_for_incidents(remembered, now)
        for ticket_id in careful:
            self._route_alone(arrivals[ticket_id])

    def _watch_for_incidents(self, remembered: list[dict], now) -> None:
        """List the routed tickets among the alike, then look for an incident around each
        (the alike of all of them read together).  A department that looks for no incidents
        keeps no lists: they serve nothing else, and where all tickets look alike (the
        reason to switch detection off) each ticket rewrote the same full lists."""
        watched = [(ticket, settings) for ticket in remembered
                   if domain.detects_incidents(settings := self.store.recent_department(
                       ticket["department"]) or {})]
        self.store.note_alike([ticket for ticket, _ in watched])
        for (ticket, _), cluster in zip(watched, self._clusters(watched, now)):
            if not self._incident_in_sight(cluster):
                continue  # the common case: too few alike, so no second transaction
            # A second transaction, started after the ticket is committed: of several
            # similar tickets arriving at once, the last to get here sees all the others
            # (snapshots would hide tickets still being routed), and two replicas declaring
            # the same incident collide on the linked tickets, so one retries and joins the
            # other's.
            self.apply(lambda session, ticket_id=ticket["_id"]: self._detect_recurring(
                ticket_id, now, session))

    @on_event(ev.TICKET_REOPENED)
    def route_reopened_ticket(self, event):
        d, now = event.data, self.clock.now()

        def work(session):
            known = self.store.ticket(d["ticket_id"], session) or {}
            if not domain.creation_seen(known):  # reopened before routing saw it filed
                self.store.mark_placed_ahead(d["ticket_id"], session)
            self.store.note_reopened(d["ticket_id"], d["reopened_at"], session)
            return self._place({**known, "ticket_id": d["ticket_id"], "number": d["number"],
                                "department": d["department"], "priority": d["priority"],
                                "preferred_agent_id": d["previous_assignee_id"]}, now, session)

        self.apply(work, event=event, consumer="assign:ticket_reopened")

    @on_event(ev.STATUS_CHANGED)
    def release_on_solve(self, event):
        d = event.data
        if d["new_status"] not in ("solved", "closed"):
            return
        now = self.clock.now()
        released = {}

        def work(session):
            known = self.store.order_marks(d["ticket_id"], session)
            # Solve and reopen travel as separate events: if the reopening was handled first
            # (it found the agent still holding the ticket and kept it there), this older
            # solve must not free the slot, or the open ticket would be nobody's.
            if domain.reopened_after(known, d["changed_at"]):
                return
            # So do solve and creation: the creation, handled later, must not place the
            # solved ticket (the slot it took or its queue entry would never be freed).
            if not domain.creation_seen(known):
                self.store.mark_settled_ahead(d["ticket_id"], d["changed_at"], session)
            assignment = self.store.end_assignment(d["ticket_id"], now, session)
            if assignment:
                released["department"] = assignment["department"]
            self.store.dequeue(d["ticket_id"], session)

        self.store.handle_once("release_on_solve", event.event_id, work)
        if released:
            self._drain_queues([released["department"]], slots=1)

    @on_event(ev.TICKET_UPDATED)
    def follow_department(self, event):
        """Staff moved an open ticket to another department: it leaves its agent unless they
        work there too (their slot is given back) and its old waiting queue, and is placed
        in the new department like a new arrival (an agent there, or its queue)."""
        d = event.data
        if "department" not in d["changes"] or d["ticket"]["status"] in ("solved", "closed"):
            return
        now, released = self.clock.now(), []

        def work(session):
            self.store.move_ticket(d["ticket_id"], d["department"], session)
            current = self.store.active_assignment(d["ticket_id"], session)
            if current and current["department"] == d["department"]:
                return []
            if current:
                agent = self.store.agent(current["agent_id"], session) or {}
                if d["department"] in agent.get("departments", []):
                    self.store.move_assignment(d["ticket_id"], d["department"], session)
                    return []
                self.store.end_assignment(d["ticket_id"], now, session)
                released.append(current["department"])
            self.store.dequeue(d["ticket_id"], session)
            known = self.store.ticket(d["ticket_id"], session) or {}
            if domain.settled_ahead(known):  # a change from before a solve that came first
                return []
            return self._place({**known, "ticket_id": d["ticket_id"], "number": d["number"],
                                "department": d["department"], "priority": d["priority"],
                                "preferred_agent_id": None,
                                "released_agent_id": current and current["agent_id"]},
                               now, session)

        self.apply(work, event=event, consumer="follow_department")
        moved = self.store.ticket(d["ticket_id"])
        if domain.creation_seen(moved):  # alike to its new department's from now on
            self.store.note_alike([moved])
        if released:
            self._drain_queues(released, slots=1)

    @on_events(ev.SLA_DEADLINES_SET, **BACKGROUND)
    def note_sla_deadlines(self, events):
        self.store.set_sla_dues([(e.data["ticket_id"], domain.earliest_due(e.data),
                                  e.data["version"]) for e in events])

    @on_event(ev.SLA_WARNING)
    def escalate_warning(self, event):
        self._escalate(event, "warning")

    @on_event(ev.SLA_BREACHED)
    def escalate_breach(self, event):
        self._escalate(event, "breached")

    @timer(interval=RECONCILE_SECONDS)
    def reconcile_queues(self):
        """The backstop that keeps a queue from waiting while an agent has room.  The event
        handlers drain on the spot, but a wake-up can be lost: a new ticket's transaction may
        see everyone full in its snapshot and queue the ticket while a solve commits a freed
        slot and drains before that queue entry is visible; a replica may die between a solve
        and its drain; and nothing happens when a ``vacation_until`` passes.  Cheap whatever
        the backlog: a department's queue is read only when one of its agents has room, and
        drained only where some waiting ticket has an available agent with its skills (agents
        work only in departments that exist, so no other queue could move).  Every replica
        runs it; the atomic slot and queue claims keep concurrent drains safe."""
        now = self.clock.now()
        for department in self.store.recent_department_ids():
            agents = self.store.agents(department)
            if not domain.rank_candidates(agents, department, now=now):
                continue  # nobody free: queue_can_move would say no without the queue
            mode = (self.store.recent_department(department) or {}).get("queue_mode", "fifo")
            if domain.queue_can_move(self.store.queued(department, mode), agents, department,
                                     now):
                self._drain_queue(department, QUEUE_DRAIN_BATCH, mode)

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _routing_copy(ticket: dict) -> dict:
        fingerprint = domain.fingerprint(ticket["subject"], ticket["description"])
        return {"_id": ticket["ticket_id"], "number": ticket["number"],
                "department": ticket["department"], "category": ticket.get("category"),
                "priority": ticket["priority"], "language": ticket.get("language"),
                "product": ticket.get("product"), "created_at": ticket["created_at"],
                "fingerprint": sorted(fingerprint),
                "bands": domain.signature_bands(fingerprint),
                "subject": ticket["subject"][:200], "incident_id": None}

    @staticmethod
    def _arrival(arrived: dict, outcome: dict, copy: dict) -> dict:
        """The classified ticket as placed: a follow-up prefers the agent of the ticket it
        continues, a deadline that overtook the creation orders its queue entry, and it waits
        from its filing (tickets routed together would otherwise share the batch's moment,
        and FIFO order fall to their ids)."""
        return dict(outcome["ticket"], preferred_agent_id=arrived.get("previous_assignee_id"),
                    sla_due=copy.get("sla_due"), sla_version=copy.get("sla_version"),
                    waiting_since=arrived["created_at"])

    @staticmethod
    def _classification_events(arrived: dict, outcome: dict, now) -> list[dict]:
        if not outcome["fired"]:
            return []
        ticket = outcome["ticket"]
        events = [ev.new_event(ev.TICKET_CLASSIFIED, {
            "ticket_id": ticket["ticket_id"], "number": ticket["number"],
            "department": ticket["department"], "category": ticket.get("category"),
            "priority": ticket["priority"], "tags": ticket["tags"],
            "rule_ids": outcome["fired"]}, now)]
        if ticket["priority"] != arrived["priority"]:
            events.append(_priority_changed(ticket, arrived["priority"], ticket["priority"],
                                            f"routing rules {', '.join(outcome['fired'])}", now))
        return events

    def _take_best(self, ticket: dict, now, session, exclude=()) -> dict | None:
        """The slot of the best agent who can take the ticket, taken atomically, or None."""
        agents = self.store.agents(ticket["department"], session)
        for agent in domain.rank_candidates(agents, ticket["department"],
                                            ticket.get("preferred_agent_id"), ticket, now,
                                            exclude, being_taken=self.slots.by_others()):
            self.slots.hold(agent["_id"])  # before the write: others rank meanwhile
            taken = self.store.take_slot(agent, now, session)
            if taken is not None:
                return taken
        return None

    def _place(self, ticket: dict, now, session, never_placed: bool = False) -> list[dict]:
        """Assign to the best available agent, or queue (announcing it once).
        ``never_placed``: a creation seen first, so the ticket holds no assignment to read and
        no queue entry to remove."""
        if not never_placed and self.store.active_assignment(ticket["ticket_id"], session):
            return []
        taken = self._take_best(ticket, now, session)
        if taken is not None:
            given = self._give(ticket, taken, now, session)
            if not never_placed:
                self.store.dequeue(ticket["ticket_id"], session)
            return given
        if not self.store.enqueue_many([ticket], now, session):
            return []
        waits = [self._unassignable(ticket, now)]
        if ticket.get("released_agent_id"):
            waits.append(ev.new_event(ev.TICKET_RELEASED, dict(
                _where(ticket), previous_agent_id=ticket["released_agent_id"]), now))
        return waits

    @staticmethod
    def _unassignable(ticket: dict, now) -> dict:
        return ev.new_event(ev.TICKET_UNASSIGNABLE, dict(
            _where(ticket), reason="no available agent with the skills and capacity"), now)

    def _reassign(self, ticket: dict, current: dict, now, session) -> list[dict]:
        """Move to another agent; the new slot is taken first, so when nobody else can take
        the ticket it stays with its current agent."""
        ticket = dict(ticket, department=current["department"], preferred_agent_id=None)
        taken = self._take_best(ticket, now, session, exclude=[current["agent_id"]])
        if taken is None:
            return []
        self.store.end_assignment(ticket["ticket_id"], now, session)
        return self._give(ticket, taken, now, session)

    def _give(self, ticket: dict, taken: dict, now, session) -> list[dict]:
        """Record the assignment to the agent whose slot was taken; its announcement."""
        self.store.record_assignment(ticket["ticket_id"], taken, ticket["department"], now,
                                     session)
        return [_assigned(ticket, taken, now)]

    def _clusters(self, watched: list[tuple[dict, dict]], now, session=None) -> list[dict]:
        """Each ticket's recurring-problem cluster among its department's recent tickets that
        share a signature band with it (see domain.signature_bands, recurring_cluster), for
        ``(ticket, its department's settings)`` pairs."""
        default_window = domain.DEFAULT_INCIDENT_SETTINGS["incident_window_minutes"]
        recent = self.store.recent_tickets([AlikeQuery(
            ticket["department"],
            now - timedelta(minutes=settings.get("incident_window_minutes", default_window)),
            ticket.get("bands", []), domain.similar_to(ticket, settings))
            for ticket, settings in watched], session)
        return [domain.recurring_cluster(
                    ticket, [t for t in alike if t["_id"] != ticket["_id"]], settings, now)
                for (ticket, settings), alike in zip(watched, recent)]

    @staticmethod
    def _incident_in_sight(cluster: dict) -> bool:
        return bool(cluster["incident_id"] or cluster["declare"])

    def _detect_recurring(self, ticket_id: str, now, session) -> list[dict]:
        new = self.store.ticket(ticket_id, session)
        if new is None or new.get("incident_id"):
            return []
        ticket = dict(new, ticket_id=ticket_id)
        [cluster] = self._clusters(
            [(new, self.store.department(new["department"], session) or {})], now, session)
        if cluster["incident_id"]:
            return self._link([new], cluster["incident_id"], now, session)
        if not cluster["declare"]:
            return []
        incident_id = uuid.uuid4().hex
        members = [t for t in cluster["members"] if not t.get("incident_id")] + [new]
        events = self._link(members, incident_id, now, session)
        top = max((self.store.ticket(t["_id"], session)["priority"] for t in members),
                  key=domain.priority_rank)
        summary = f"{len(members)} similar tickets: {new['subject']}"
        self.store.raise_alert("incident", [t["_id"] for t in members], ticket["department"],
                               summary, now, session, alert_id=f"incident:{incident_id}",
                               numbers=[t["number"] for t in members])
        events.append(ev.new_event(ev.INCIDENT_DECLARED, {
            "incident_id": incident_id, "ticket_ids": [t["_id"] for t in members],
            "numbers": [t["number"] for t in members], "department": ticket["department"],
            "priority": top, "summary": summary, "declared_at": now}, now))
        return events

    def _link(self, tickets: list[dict], incident_id: str, now, session) -> list[dict]:
        """Join tickets to an incident, raising each one's priority one step."""
        events = []
        for t in tickets:
            new_priority = domain.raised(t["priority"])
            self.store.set_ticket_fields(t["_id"], {"incident_id": incident_id,
                                                    "priority": new_priority}, session)
            if new_priority != t["priority"]:
                events.append(_priority_changed({"ticket_id": t["_id"], "number": t["number"]},
                                                t["priority"], new_priority,
                                                f"incident {incident_id}", now))
        return events

    def _escalate(self, event, kind: str) -> None:
        d, now = event.data, self.clock.now()
        actions = [a for a in d["actions"] if a in ESCALATIONS]
        if not actions:
            return
        freed = {}

        def work(session):
            known = self.store.ticket(d["ticket_id"], session) or {
                "_id": d["ticket_id"], "number": d["number"], "department": d["department"],
                "priority": d["priority"] or "normal"}
            ticket = dict(known, ticket_id=known["_id"])
            why = f"SLA {d['target']} {kind}"
            events = []
            if "raise_priority" in actions and domain.raised(ticket["priority"]) != ticket["priority"]:
                new_priority = domain.raised(ticket["priority"])
                self.store.set_ticket_fields(ticket["ticket_id"], {"priority": new_priority},
                                             session)
                events.append(_priority_changed(ticket, ticket["priority"], new_priority, why,
                                                now))
                ticket["priority"] = new_priority
            current = self.store.active_assignment(ticket["ticket_id"], session)
            if "reassign" in actions and current:
                moved = self._reassign(ticket, current, now, session)
                events += moved
                if moved:
                    freed["department"] = current["department"]
            if "notify_supervisor" in actions:
                self.store.raise_alert(f"sla_{kind}", [ticket["ticket_id"]],
                                       ticket.get("department"),
                                       f"#{ticket['number']}: {why}", now, session,
                                       alert_id=f"{event.event_id}:supervisor",
                                       numbers=[ticket["number"]])
            return events

        self.apply(work, event=event, consumer=f"escalate:{kind}")
        if freed:
            self._drain_queues([freed["department"]], slots=1)

    def _drain_queues(self, departments, slots: int = QUEUE_DRAIN_BATCH) -> None:
        for department in departments:
            self._drain_queue(department, slots)

    def _drain_queue(self, department: str, slots: int, mode: str | None = None) -> None:
        """Assign up to ``slots`` waiting tickets, head of the queue first.  A solved ticket
        frees one slot, so its handler assigns one.  Replicas draining at once race for the
        same head: tickets another replica took are skipped and the head is read again.
        ``mode`` is the department's queue mode when the caller has read it already."""
        if mode is None:
            mode = (self.store.recent_department(department) or {}).get("queue_mode", "fifo")
        window = min(QUEUE_DRAIN_BATCH, slots * 5)
        while slots > 0:
            head = self.store.queued(department, mode, window)
            agents = self.store.agents(department)
            moved = 0  # tickets that left the queue during this pass (ours or another's)
            for queued in domain.queue_order(head, mode):
                if not domain.rank_candidates(agents, department, None, queued,
                                              self.clock.now()):
                    continue  # nobody free has its skills: spare it a transaction
                outcome = self._assign_queued(dict(queued, ticket_id=queued["_id"]))
                if outcome == "assigned":
                    slots, moved = slots - 1, moved + 1
                    if slots == 0:
                        return
                elif outcome == "gone":
                    moved += 1
                else:
                    agents = self.store.agents(department)  # someone filled up meanwhile
                    if not domain.rank_candidates(agents, department, now=self.clock.now()):
                        return  # nobody in the department has room: the rest must wait too
            if not moved:
                if len(head) < window or window >= QUEUE_LIMIT:
                    return  # the whole queue waits for skills nobody free has
                window = min(window * 4, QUEUE_LIMIT)  # look further for a ticket that fits

    def _assign_queued(self, ticket: dict) -> str:
        """"assigned", "gone" (taken by another replica or solved meanwhile) or "waiting".
        The ticket is claimed by deleting its queue entry (one conditional write: of several
        replicas draining at once exactly one deletes it); when no agent can take it, the
        rollback puts the entry back unchanged, its place in the queue kept."""
        now, outcome = self.clock.now(), {}

        def work(session):
            if not self.store.dequeue(ticket["ticket_id"], session):
                outcome["value"] = "gone"
                return []
            taken = self._take_best(ticket, now, session)
            if taken is None:
                raise _StillWaiting()
            given = self._give(ticket, taken, now, session)
            outcome["value"] = "assigned"
            return given

        try:
            self.apply(work)
        except _StillWaiting:
            return "waiting"
        return outcome["value"]


class _StillWaiting(Exception):
    """Rolls back a queue claim when no agent can take the ticket after all."""


class _AgentsChanged(Exception):
    """Rolls back a batch whose agents changed between its read and its write of their
    slots (another transaction took or freed one)."""


def _where(ticket: dict) -> dict:
    return {"ticket_id": ticket["ticket_id"], "number": ticket["number"],
            "department": ticket["department"]}


def _assigned(ticket: dict, agent: dict, now, assigned_by: dict | None = None) -> dict:
    return ev.new_event(ev.TICKET_ASSIGNED, {
        "ticket_id": ticket["ticket_id"], "number": ticket["number"],
        "agent_id": agent["_id"], "agent_name": agent["name"],
        "department": ticket["department"], "assigned_at": now,
        "assigned_by": assigned_by, "agent_email": agent.get("email"),
        "agent_language": domain.notice_language(agent)}, now)


def _priority_changed(ticket: dict, old: str, new: str, reason: str, now) -> dict:
    return ev.new_event(ev.PRIORITY_CHANGED, {
        "ticket_id": ticket["ticket_id"], "number": ticket["number"], "old_priority": old,
        "new_priority": new, "reason": reason}, now)
