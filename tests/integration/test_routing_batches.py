"""New tickets that wait in routing's queue together are routed together, on the real broker
and wire server: each is remembered, classified, assigned or queued exactly once, a
redelivery in the same batch changes nothing, a deadline or a department change that
overtook a creation is honoured, and alike tickets of one batch still make an incident.  A batch
takes its agents' slots and records its assignments in one write a collection, and routes each
ticket alone when an agent changed between its read and that write."""
from datetime import datetime, timedelta, timezone

import pytest

from services.common import events as ev
from services.routing.repository import RoutingRepository
from services.routing.service import RoutingService
from tests.integration.routing_helpers import (department_changed, dispatcher,
                                               log_replays_agents, publish_together,
                                               ticket_created)
from tests.support import (EventTap, eventually, events_handled, mongo_commands_sent,
                           queues_drained, running)

TAPPED = (ev.TICKET_ASSIGNED, ev.TICKET_CLASSIFIED, ev.INCIDENT_DECLARED,
          ev.TICKET_UNASSIGNABLE)
BURSTY = {"id": "bursty", "name": "Bursty words", "position": 10,
          "conditions": [{"field": "text", "op": "contains_any", "value": ["invoice"]}],
          "actions": {"category": "billing-docs"}}


@pytest.fixture()
def tap(config):
    tap = EventTap(config, *TAPPED)
    yield tap
    tap.close()


def test_a_burst_is_routed_in_batches_each_ticket_once(config, rpc, db, tap):
    publish = dispatcher(config)
    with running(config, RoutingService):
        for department, fields in (("burst", {"incident_threshold": 3}), ("nobody", {})):
            assert rpc.routing.upsert_department({"id": department, "name": department,
                                                  **fields})["ok"]
        assert rpc.routing.upsert_agent({"id": "b1", "name": "B1", "email": "b1@example.com",
                                         "departments": ["burst"], "capacity": 4})["ok"]
        assert rpc.routing.save_rule(BURSTY)["ok"]
        # Overtaking events, handled before the burst: a department change that placed a
        # ticket (it holds one of b1's four slots), and a deadline that came first.
        moved = ticket_created(100, "general", "moved ahead")
        moved_id = moved["data"]["ticket_id"]
        publish(department_changed(moved, "burst"))
        dated = ticket_created(101, "nobody", "deadline came first")
        dated_id, due = dated["data"]["ticket_id"], datetime.now(timezone.utc) + timedelta(
            hours=2)
        publish(ev.new_event(ev.SLA_DEADLINES_SET, {
            "ticket_id": dated_id, "number": 101, "policy_id": "p", "version": 1,
            "first_response_due": due, "resolution_due": due + timedelta(hours=22)}))
        eventually(lambda: (db("routing").tickets.find_one({"_id": dated_id}) or {})
                   .get("sla_version") == 1)
        eventually(lambda: db("routing").assignments.find_one({"_id": moved_id}))
        eventually(lambda: queues_drained(config["_vhost"], "routing"))

    # The burst waits in the queue while routing is down, as under load.
    texts = (["Password reset link expired", "Cannot upload avatar", "Dark mode flickers",
              "Export to CSV is empty", "Calendar sync stopped", "Two-factor code late",
              "Wrong timezone in reports", "Search misses new files"]
             + ["Printer jams on page two"] * 3 + ["Invoice copy please"])
    burst = [ticket_created(102 + i, "burst", text) for i, text in enumerate(texts)]
    for event in [burst[0], moved] + burst + [dated, burst[5]]:  # two redeliveries
        publish(event)
    calls_before = events_handled("routing", "route_new_ticket")
    with running(config, RoutingService):
        burst_ids = [e["data"]["ticket_id"] for e in burst]
        every_id = burst_ids + [moved_id, dated_id]
        # The broker's queue depth lags by its statistics interval: wait for the copies too.
        copies = eventually(lambda: len(found := {c["_id"]: c for c in db("routing").tickets.find(
            {"_id": {"$in": every_id}, "number": {"$exists": True}})}) == len(every_id)
            and found, timeout=30)
        eventually(lambda: queues_drained(config["_vhost"], "routing"), timeout=30)
    calls = events_handled("routing", "route_new_ticket") - calls_before
    assert 1 <= calls < len(burst) + 4, calls  # gathered, not one by one

    assert {i: copies[i]["number"] for i in every_id} == {
        e["data"]["ticket_id"]: e["data"]["number"] for e in burst + [moved, dated]}
    # b1 had room for three more: three of the burst are b1's, the rest wait, each once.
    # (The tap saw moved's assignment too, before the burst, and only that one.)
    assigned = [e["data"]["ticket_id"] for e in tap.of_type(ev.TICKET_ASSIGNED)]
    assert assigned.count(moved_id) == 1
    assigned.remove(moved_id)
    assert len(assigned) == len(set(assigned)) == 3 and set(assigned) <= set(burst_ids)
    assert db("routing").agents.find_one({"_id": "b1"})["load"] == 4
    assert db("routing").assignment_log.count_documents(
        {"ticket_id": {"$in": every_id}, "action": "assigned"}) == 4  # moved's included
    waiting = {q["_id"] for q in db("routing").queue.find({"_id": {"$in": every_id}})}
    assert waiting == (set(burst_ids) - set(assigned)) | {dated_id}
    unassignable = [e["data"]["ticket_id"] for e in tap.of_type(ev.TICKET_UNASSIGNABLE)]
    assert sorted(unassignable) == sorted(waiting)
    assert db("routing").queue.find_one({"_id": dated_id})["sla_version"] == 1
    classified = tap.of_type(ev.TICKET_CLASSIFIED)
    assert [(e["data"]["number"], e["data"]["category"]) for e in classified] == [
        (113, "billing-docs")]
    declared = [e["data"] for e in tap.of_type(ev.INCIDENT_DECLARED)]
    assert len(declared) == 1 and sorted(declared[0]["numbers"]) == [110, 111, 112]


def test_tickets_routed_together_wait_in_the_order_they_were_filed(config, rpc):
    """A FIFO queue keeps filing order for the tickets one batch routes (not the batch's one
    moment, then their ids), and a ticket queued again later joins the back."""
    publish = dispatcher(config)
    filed = datetime.now(timezone.utc) - timedelta(minutes=5)
    moved = ticket_created(200, "fifo-first", "Filed before them all",
                           created_at=filed - timedelta(minutes=1))
    # Their ids sort against their filing order.
    subjects = ("Login loops", "Refund twice", "Map is blank", "Font too small",
                "Order stuck", "Cannot unsubscribe")
    burst = [ticket_created(201 + i, "fifo", subject, ticket_id=f"t-fifo-{9 - i}",
                            created_at=filed + timedelta(seconds=i))
             for i, subject in enumerate(subjects)]
    with running(config, RoutingService):
        for department in ("fifo", "fifo-first"):  # nobody works there: all wait
            assert rpc.routing.upsert_department({"id": department, "name": department})["ok"]
        publish(moved)
        eventually(lambda: rpc.routing.queue("fifo-first")["tickets"])
    for event in burst:  # waiting in routing's queue together, as under load
        publish(event)
    calls_before = events_handled("routing", "route_new_ticket")
    with running(config, RoutingService):
        eventually(lambda: len(rpc.routing.queue("fifo")["tickets"]) == len(burst), timeout=30)
        publish(department_changed(moved, "fifo"))
        eventually(lambda: len(rpc.routing.queue("fifo")["tickets"]) == len(burst) + 1)
        queue = rpc.routing.queue("fifo")
    assert events_handled("routing", "route_new_ticket") - calls_before < len(burst)  # together
    assert queue["mode"] == "fifo"
    assert [t["number"] for t in queue["tickets"]] == [201, 202, 203, 204, 205, 206, 200]


# The writes that give tickets to agents: per ticket when routed alone, per batch together.
GIVING = (("findAndModify", "agents"), ("update", "agents"), ("update", "assignments"),
          ("insert", "assignment_log"))


def giving_writes(routing) -> dict[tuple[str, str], float]:
    return {(command, collection): mongo_commands_sent(routing.name, command, collection)
            for command, collection in GIVING}


def setup_agents(rpc, department: str, capacities: dict[str, int]) -> None:
    assert rpc.routing.upsert_department({"id": department, "name": department})["ok"]
    for agent_id, capacity in capacities.items():
        assert rpc.routing.upsert_agent({
            "id": agent_id, "name": agent_id.upper(), "email": f"{agent_id}@example.com",
            "departments": [department], "capacity": capacity, "languages": ["en"]})["ok"]


def given_alone_first(config, routing, number: int, department: str) -> str:
    """A ticket filed alone (routed the careful way, one slot taken): its agent's log starts
    before the batch's."""
    alone = ticket_created(number, department, "Filed alone first")
    dispatcher(config)(alone)
    assigned = eventually(lambda: routing.assignments.find_one(
        {"_id": alone["data"]["ticket_id"]}))
    eventually(lambda: queues_drained(config["_vhost"], "routing"))
    return assigned["agent_id"]


def placed_once(config, routing, tap, ids: list[str]) -> dict[str, str]:
    """Waits until each ticket is assigned or waiting, and checks it is one or the other,
    announced so once; each assigned ticket's agent, by ticket."""
    eventually(lambda: routing.assignments.count_documents({"_id": {"$in": ids}})
               + routing.queue.count_documents({"_id": {"$in": ids}}) == len(ids), timeout=30)
    eventually(lambda: queues_drained(config["_vhost"], "routing"), timeout=30)
    held = {a["_id"]: a["agent_id"] for a in routing.assignments.find(
        {"_id": {"$in": ids}, "active": True})}
    waiting = {q["_id"] for q in routing.queue.find({"_id": {"$in": ids}})}
    assert not set(held) & waiting and set(held) | waiting == set(ids)
    assigned = [e["data"] for e in tap.of_type(ev.TICKET_ASSIGNED) if e["data"]["ticket_id"] in ids]
    assert sorted((a["ticket_id"], a["agent_id"]) for a in assigned) == sorted(held.items())
    assert all(a["agent_name"] == a["agent_id"].upper() and a["assigned_by"] is None
               and a["agent_email"] == f"{a['agent_id']}@example.com"
               and a["agent_language"] == "en" for a in assigned), assigned
    unassignable = [e["data"]["ticket_id"] for e in tap.of_type(ev.TICKET_UNASSIGNABLE)
                    if e["data"]["ticket_id"] in ids]
    assert sorted(unassignable) == sorted(waiting)
    return held


def test_tickets_filed_together_take_their_slots_in_one_write_a_collection(config, rpc, db,
                                                                          tap):
    """A bundle of new tickets (one batch for certain) to a department whose agents have
    room for most of them: each ticket assigned or waiting once, the agents filled to their
    capacity and no further, their slots, the assignments and their log written in one
    command each for the whole batch, and each agent's log continuing in strict order from
    the entry a ticket routed alone left."""
    routing = db("routing")
    capacities = {"tg-a": 3, "tg-b": 4}
    with running(config, RoutingService):
        setup_agents(rpc, "together", capacities)
        assert given_alone_first(config, routing, 300, "together") == "tg-a"
        burst = [ticket_created(301 + i, "together", f"Together {i}") for i in range(8)]
        ids = [e["data"]["ticket_id"] for e in burst]
        before = giving_writes(routing)
        publish_together(config, burst)
        held = placed_once(config, routing, tap, ids)
        sent = {write: count - before[write] for write, count in giving_writes(routing).items()}
    assert sent == {("findAndModify", "agents"): 0, ("update", "agents"): 1,
                    ("update", "assignments"): 1, ("insert", "assignment_log"): 1}, sent
    # Six free slots: the first six tickets (in filing order) take them, the last two wait.
    assert set(held) == set(ids[:6])
    assert sorted(held.values()) == ["tg-a"] * 2 + ["tg-b"] * 4
    assert {a["_id"]: a["load"] for a in routing.agents.find(
        {"_id": {"$in": list(capacities)}})} == capacities
    log_replays_agents(routing, capacities)


STALE = {  # what the batch reads of the agent that took the ticket filed alone
    "slot-taken": lambda agent: dict(agent, load=agent["load"] - 1, seq=agent["seq"] - 1,
                                     last_assigned_at=None),  # read before that ticket
    "capacity-lowered": lambda agent: dict(agent, capacity=3),  # read before the admin's change
}


@pytest.mark.parametrize("change", list(STALE))
def test_a_batch_whose_agent_changed_since_its_read_routes_each_ticket_alone(
        config, rpc, db, tap, monkeypatch, caplog, change):
    """The batch reads an agent as it stood before a change it does not see (made stale
    here, on purpose): its one write of the slots refuses the changed agent, nothing of the
    batch is written, and each ticket is routed alone, the careful way: every ticket given
    or waiting once, no agent over its capacity, the log replaying."""
    routing, department = db("routing"), f"fallback-{change}"
    capacities = {f"{change}-a": 3, f"{change}-b": 3}
    with running(config, RoutingService):
        setup_agents(rpc, department, capacities)
        changed = given_alone_first(config, routing, 400, department)
        if change == "capacity-lowered":
            capacities[changed] = 1  # full now
            setup_agents(rpc, department, capacities)
        read, refused = RoutingRepository.agents_of, []

        def agents_of(self, departments, session):  # the batch's read, stale once
            agents = read(self, departments, session)
            if department in departments and not refused:
                agents = [STALE[change](a) if a["_id"] == changed else a for a in agents]
            return agents

        take_slots = RoutingRepository.take_slots

        def noted_take_slots(self, taken, now, session):
            refused.append(not take_slots(self, taken, now, session))
            return not refused[-1]

        monkeypatch.setattr(RoutingRepository, "agents_of", agents_of)
        monkeypatch.setattr(RoutingRepository, "take_slots", noted_take_slots)
        burst = [ticket_created(401 + i, department, f"Changed under {i}") for i in range(3)]
        ids = [e["data"]["ticket_id"] for e in burst]
        publish_together(config, burst)
        held = placed_once(config, routing, tap, ids)
    assert refused == [True]  # the batch's write, and only it: then each alone
    # Not the batch failing (a write refused by an index) and its events retried as errors.
    assert not [r for r in caplog.records if "trying each alone" in r.getMessage()]
    assert set(held) == set(ids)
    agents = {a["_id"]: a for a in routing.agents.find({"_id": {"$in": list(capacities)}})}
    assert all(agents[a]["load"] <= capacities[a] for a in capacities), agents
    assert sum(agents[a]["load"] for a in capacities) == len(ids) + 1
    log_replays_agents(routing, capacities)
