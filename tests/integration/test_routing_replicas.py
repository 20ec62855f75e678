"""Three routing replicas share one broker and one database while 500 tickets arrive in bursts
and agents solve tickets: every ticket is assigned exactly once and no agent ever holds more
than its capacity (replayed from the assignment log, whose per-agent ``seq`` is written in the
same transaction as the load change)."""
import time
import uuid
from collections import Counter, defaultdict
from contextlib import ExitStack

import pytest

from services.routing.service import RoutingService
from tests.integration.routing_helpers import dispatcher, solved, ticket_created
from tests.support import eventually, running

TICKETS, BURSTS = 500, 5
AGENTS, CAPACITY = 25, 10         # 250 slots: most tickets must wait for capacity to free
DEPARTMENT = "burst"


@pytest.fixture(scope="module", autouse=True)
def replicas(config, rpc):
    with ExitStack() as stack:
        runners = [stack.enter_context(running(config, RoutingService)) for _ in range(3)]
        assert rpc.routing.upsert_department({"id": DEPARTMENT, "name": "Burst",
                                              "queue_mode": "differentiated"})["ok"]
        for i in range(AGENTS):
            assert rpc.routing.upsert_agent({
                "id": f"agent-{i:02d}", "name": f"Agent {i}", "email": f"a{i}@example.com",
                "departments": [DEPARTMENT], "capacity": CAPACITY,
                "languages": ["en", "ru"]})["ok"]
        yield runners


def test_three_replicas_assign_each_ticket_once_within_capacity(config, db):
    publish = dispatcher(config)
    routing = db("routing")
    tickets = {}
    for burst in range(BURSTS):
        for i in range(TICKETS // BURSTS):
            number = burst * 1000 + i
            # Distinct texts, so no incident is declared and priorities stay as sent.
            event = ticket_created(number, DEPARTMENT, uuid.uuid4().hex,
                                   priority=("low", "normal", "high", "urgent")[i % 4])
            tickets[event["data"]["ticket_id"]] = number
            publish(event)
        time.sleep(0.2)  # bursts, not a steady stream

    def all_placed():
        return (routing.assignments.count_documents({}) + routing.queue.count_documents({})
                == TICKETS)

    # Generous limits: the Mongo wire server is slow on a shared 2-core machine; the test is
    # about what happens, never how fast (see bench/routing_bench.py for speed).
    eventually(all_placed, timeout=240)
    assert routing.assignments.count_documents({"active": True}) == AGENTS * CAPACITY

    # Agents solve what they hold, round after round; freed capacity drains the queue.
    solved_ids: set[str] = set()
    while len(solved_ids) < TICKETS:
        holding = [a["_id"] for a in routing.assignments.find({"active": True})
                   if a["_id"] not in solved_ids]
        assert holding, "queued tickets were not assigned when capacity freed"
        for ticket_id in holding:
            publish(solved(ticket_id, tickets[ticket_id], DEPARTMENT))
            solved_ids.add(ticket_id)
        eventually(lambda: routing.assignments.count_documents({"active": True}) == min(
            AGENTS * CAPACITY, TICKETS - len(solved_ids)) and routing.queue.count_documents(
            {}) == max(0, TICKETS - len(solved_ids) - AGENTS * CAPACITY), timeout=240)

    log = list(routing.assignment_log.find())
    assigned = Counter(entry["ticket_id"] for entry in log if entry["action"] == "assigned")
    assert set(assigned) == set(tickets) and set(assigned.values()) == {1}

    by_agent = defaultdict(list)
    for entry in log:
        by_agent[entry["agent_id"]].append(entry)
    for agent_id, entries in by_agent.items():
        entries.sort(key=lambda e: e["seq"])
        assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1)), agent_id
        load = 0
        for entry in entries:
            load += 1 if entry["action"] == "assigned" else -1
            assert entry["load_after"] == load, (agent_id, entry)
            assert 0 <= load <= CAPACITY, (agent_id, entry)
    assert all(a["load"] == 0 for a in routing.agents.find())
