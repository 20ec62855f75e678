"""Three routing processes (separate ``nameko run`` OS processes, as deploy/local/stack runs
HELPDESK_REPLICAS) share one broker and one database while 500 tickets arrive in bursts and
agents solve tickets in between and afterwards: every ticket is assigned exactly once, no agent
ever holds more than its capacity (replayed from the assignment log, whose per-agent ``seq`` is
written in the same transaction as the load change), and waiting tickets reach agents as
capacity frees."""
import time
import uuid
from collections import Counter

from tests.integration.routing_helpers import (dispatcher, log_replays_agents, solved,
                                               ticket_created)
from tests.support import eventually, service_processes

TICKETS, BURSTS = 500, 5
AGENTS, CAPACITY = 25, 10         # 250 slots: most tickets must wait for capacity to free
SOLVES_PER_BURST = 40             # solved while the next burst arrives
DEPARTMENT = "burst"
REPLICAS = 3


def setup_department(rpc):
    assert rpc.routing.upsert_department({"id": DEPARTMENT, "name": "Burst",
                                          "queue_mode": "differentiated"})["ok"]
    for i in range(AGENTS):
        assert rpc.routing.upsert_agent({
            "id": f"agent-{i:02d}", "name": f"Agent {i}", "email": f"a{i}@example.com",
            "departments": [DEPARTMENT], "capacity": CAPACITY,
            "languages": ["en", "ru"]})["ok"]


def test_three_replica_processes_assign_each_ticket_once_within_capacity(config, rpc, db):
    with service_processes(config, "routing", "RoutingService", REPLICAS):
        setup_department(rpc)
        tickets = route_bursts_and_solves(config, db("routing"))
    check_assignment_log(db("routing"), tickets)


def route_bursts_and_solves(config, routing) -> set[str]:
    publish = dispatcher(config)
    tickets: dict[str, int] = {}
    solved_ids: set[str] = set()
    for burst in range(BURSTS):
        # Some of what agents hold is solved while this burst arrives: freed slots and new
        # tickets race between the replicas.
        holding = [a["_id"] for a in routing.assignments.find({"active": True})
                   if a["_id"] not in solved_ids][:SOLVES_PER_BURST]
        for i in range(TICKETS // BURSTS):
            number = burst * 1000 + i
            # Distinct texts, so no incident is declared and priorities stay as sent.
            event = ticket_created(number, DEPARTMENT, uuid.uuid4().hex,
                                   priority=("low", "normal", "high", "urgent")[i % 4])
            tickets[event["data"]["ticket_id"]] = number
            publish(event)
            if i % 2 == 0 and holding:
                ticket_id = holding.pop()
                publish(solved(ticket_id, tickets[ticket_id], DEPARTMENT))
                solved_ids.add(ticket_id)
        time.sleep(0.2)  # bursts, not a steady stream

    def all_placed():
        return (routing.assignments.count_documents({}) + routing.queue.count_documents({})
                == TICKETS)

    # Generous limits: the Mongo wire server is slow on a shared 2-core machine; the test is
    # about what happens, never how fast (see bench/routing_bench.py for speed).
    eventually(all_placed, timeout=240)

    # Agents solve what they hold, round after round; freed capacity drains the queue.
    while len(solved_ids) < TICKETS:
        eventually(lambda: routing.assignments.count_documents({"active": True}) == min(
            AGENTS * CAPACITY, TICKETS - len(solved_ids)) and routing.queue.count_documents(
            {}) == max(0, TICKETS - len(solved_ids) - AGENTS * CAPACITY), timeout=240)
        holding = [a["_id"] for a in routing.assignments.find({"active": True})
                   if a["_id"] not in solved_ids]
        assert holding, "queued tickets were not assigned when capacity freed"
        for ticket_id in holding:
            publish(solved(ticket_id, tickets[ticket_id], DEPARTMENT))
            solved_ids.add(ticket_id)
    eventually(lambda: routing.assignments.count_documents({"active": True}) == 0
               and routing.queue.count_documents({}) == 0, timeout=240)
    assert set(tickets) == solved_ids
    return set(tickets)


def check_assignment_log(routing, tickets: set[str]):
    log = list(routing.assignment_log.find())
    assigned = Counter(entry["ticket_id"] for entry in log if entry["action"] == "assigned")
    assert set(assigned) == set(tickets) and set(assigned.values()) == {1}

    assert {entry["capacity"] for entry in log} == {CAPACITY}
    log_replays_agents(routing, [a["_id"] for a in routing.agents.find()])
    assert all(a["load"] == 0 for a in routing.agents.find())
