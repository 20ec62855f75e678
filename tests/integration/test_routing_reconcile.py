"""No ticket waits while an agent has room: solves interleaved with bursts of new tickets (the
lost wake-up between a new ticket's snapshot and a solve's drain), and an agent whose
``vacation_until`` passes with nobody telling routing.  The reconciler (a timer in every
replica) catches what the event handlers' own drains miss."""
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.utils import get_extension

from services.common import events as ev
from services.common.nameko_support import ClockProvider
from services.routing.repository import RoutingRepository
from services.routing.service import RoutingService
from tests.integration.routing_helpers import dispatcher, solved, ticket_created
from tests.support import EventTap, eventually, running

AGENTS, CAPACITY = 3, 2
BURSTS, PER_BURST = 6, 10


class ShiftedClock:
    """Real time, moved forward on demand (a vacation ends without waiting for it)."""

    def __init__(self):
        self.offset = timedelta()

    def now(self):
        return datetime.now(timezone.utc) + self.offset


@pytest.fixture(scope="module")
def clock():
    return ShiftedClock()


@pytest.fixture(scope="module", autouse=True)
def replicas(config, rpc, clock):
    with ExitStack() as stack:
        for _ in range(2):
            runner = stack.enter_context(running(config, RoutingService))
            for container in runner.containers:
                get_extension(container, ClockProvider).clock = clock
        for department in ("busy", "leave"):
            assert rpc.routing.upsert_department({"id": department, "name": department})["ok"]
        yield


@pytest.fixture(scope="module")
def publish(config):
    return dispatcher(config)


def agent(id, department, **fields):
    return {"id": id, "name": id.title(), "email": f"{id}@example.com",
            "departments": [department], "languages": ["en"], **fields}


def test_solves_interleaved_with_bursts_leave_no_ticket_waiting(rpc, db, publish):
    routing = db("routing")
    for i in range(AGENTS):
        assert rpc.routing.upsert_agent(agent(f"busy-{i}", "busy", capacity=CAPACITY))["ok"]
    numbers, solved_ids = {}, set()
    for burst in range(BURSTS):
        # Solve whatever is held right now while the next burst arrives: the freed slots and
        # the new tickets race in routing, which is where a wake-up used to get lost.
        holding = [a["_id"] for a in routing.assignments.find({"department": "busy",
                                                                "active": True})]
        for i in range(PER_BURST):
            event = ticket_created(burst * 100 + i, "busy", uuid.uuid4().hex)
            numbers[event["data"]["ticket_id"]] = event["data"]["number"]
            publish(event)
            if i < len(holding):
                publish(solved(holding[i], numbers[holding[i]], "busy"))
                solved_ids.add(holding[i])
        for ticket_id in holding[PER_BURST:]:
            publish(solved(ticket_id, numbers[ticket_id], "busy"))
            solved_ids.add(ticket_id)
        eventually(lambda: routing.assignments.count_documents({"_id": {"$in": list(numbers)}})
                   + routing.queue.count_documents({"department": "busy"}) == len(numbers),
                   timeout=120)

    # Solve the rest, round by round: whatever still waits must reach an agent.
    while len(solved_ids) < len(numbers):
        remaining = len(numbers) - len(solved_ids)
        eventually(lambda: routing.assignments.count_documents(
            {"department": "busy", "active": True}) == min(AGENTS * CAPACITY, remaining),
            timeout=120)
        for a in routing.assignments.find({"department": "busy", "active": True}):
            publish(solved(a["_id"], numbers[a["_id"]], "busy"))
            solved_ids.add(a["_id"])
    eventually(lambda: routing.assignments.count_documents(
        {"department": "busy", "active": True}) == 0, timeout=120)

    assert routing.queue.count_documents({"department": "busy"}) == 0
    assigned = Counter(e["ticket_id"] for e in routing.assignment_log.find(
        {"action": "assigned", "ticket_id": {"$in": list(numbers)}}))
    assert set(assigned) == set(numbers) and set(assigned.values()) == {1}
    assert all(a["load"] == 0 for a in routing.agents.find({"departments": "busy"}))


def test_a_drain_lost_with_a_crashed_replica_is_made_up(rpc, db, publish, clock):
    assert rpc.routing.upsert_department({"id": "crash", "name": "Crash"})["ok"]
    assert rpc.routing.upsert_agent(agent("crash-1", "crash", capacity=1))["ok"]
    held, waiting = (ticket_created(800 + i, "crash", uuid.uuid4().hex) for i in range(2))
    publish(held)
    eventually(lambda: db("routing").assignments.find_one({"_id": held["data"]["ticket_id"]}))
    publish(waiting)
    ticket_id = waiting["data"]["ticket_id"]
    eventually(lambda: db("routing").queue.find_one({"_id": ticket_id}))
    # The solve's transaction commits (the slot is free) and the replica dies before it
    # drains the queue: exactly what release_on_solve leaves behind in that case.
    repository = RoutingRepository(db("routing"))
    repository.transaction(lambda session: repository.end_assignment(
        held["data"]["ticket_id"], clock.now(), session))
    found = eventually(lambda: db("routing").assignments.find_one({"_id": ticket_id,
                                                                   "active": True}), timeout=30)
    assert found["agent_id"] == "crash-1"
    assert db("routing").queue.find_one({"_id": ticket_id}) is None


def test_a_queued_ticket_is_assigned_once_a_vacation_has_ended(rpc, db, publish, config,
                                                               clock):
    back_at = clock.now() + timedelta(days=2)
    assert rpc.routing.upsert_agent(agent("away-1", "leave", capacity=1, status="vacation",
                                          vacation_until=back_at.isoformat()))["ok"]
    tap = EventTap(config, ev.TICKET_UNASSIGNABLE, ev.TICKET_ASSIGNED)
    try:
        event = ticket_created(900, "leave", "Where is my parcel?")
        ticket_id = event["data"]["ticket_id"]
        publish(event)
        eventually(lambda: [e for e in tap.of_type(ev.TICKET_UNASSIGNABLE)
                            if e["data"]["ticket_id"] == ticket_id])
        assert db("routing").queue.find_one({"_id": ticket_id}) is not None

        clock.offset += timedelta(days=2, seconds=1)  # the vacation ends; no event says so
        assigned = eventually(lambda: [e for e in tap.of_type(ev.TICKET_ASSIGNED)
                                       if e["data"]["ticket_id"] == ticket_id], timeout=30)
        assert assigned[0]["data"]["agent_id"] == "away-1"
        assert db("routing").queue.find_one({"_id": ticket_id}) is None
    finally:
        tap.close()
