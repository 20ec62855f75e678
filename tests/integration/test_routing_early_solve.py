"""A solve that reaches routing before the ticket's creation (the events travel on separate
queues), on the real broker and wire server: the late creation is remembered but neither
assigned nor queued, alone or routed with others, unless a reopening after that solve placed
the ticket; an older department change delivered after the solve places it nowhere either."""
from datetime import datetime, timedelta, timezone

import pytest

from services.common import events as ev
from services.routing.service import RoutingService
from tests.integration.routing_helpers import (department_changed, dispatcher, reopened,
                                               solved, ticket_created)
from tests.support import EventTap, events_handled, eventually, queues_drained, running

STAFF = {"id": "sup-early", "role": "supervisor", "name": "Sue"}


@pytest.fixture(scope="module")
def publish(config):
    return dispatcher(config)


@pytest.fixture()
def tap(config):
    tap = EventTap(config, ev.TICKET_ASSIGNED, ev.TICKET_UNASSIGNABLE, ev.TICKET_CLASSIFIED)
    yield tap
    tap.close()


def handled(publish, db, event, consumer: str) -> None:
    """Publish ``event`` and wait until routing's ``consumer`` has handled it."""
    publish(event)
    eventually(lambda: db("routing").processed_events.find_one(
        {"_id": f"{consumer}:{event['event_id']}"}) is not None, timeout=20)


def solve(publish, db, created: dict, at: datetime) -> None:
    d = created["data"]
    handled(publish, db, solved(d["ticket_id"], d["number"], d["department"], at),
            "release_on_solve")


def remembered(db, *created: dict) -> None:
    ids = [c["data"]["ticket_id"] for c in created]
    eventually(lambda: db("routing").tickets.count_documents(
        {"_id": {"$in": ids}, "number": {"$exists": True}}) == len(ids), timeout=30)


def placement(db, created: dict) -> tuple[str | None, bool]:
    """(the agent holding the ticket, whether it waits in a queue)."""
    ticket_id = created["data"]["ticket_id"]
    holding = db("routing").assignments.find_one({"_id": ticket_id, "active": True})
    return (holding and holding["agent_id"],
            db("routing").queue.find_one({"_id": ticket_id}) is not None)


def load(db, agent_id: str) -> int:
    return db("routing").agents.find_one({"_id": agent_id})["load"]


def agent(agent_id: str, department: str) -> dict:
    return {"id": agent_id, "name": agent_id.title(), "email": f"{agent_id}@example.com",
            "departments": [department], "capacity": 5}


def test_a_ticket_solved_before_routing_saw_it_filed_is_neither_assigned_nor_queued(
        config, rpc, db, publish, tap):
    now = datetime.now(timezone.utc)
    with running(config, RoutingService):
        for department in ("early", "early-nobody"):  # nobody works in the second: it waits
            assert rpc.routing.upsert_department({"id": department, "name": department})["ok"]
        assert rpc.routing.upsert_agent(agent("early-one", "early"))["ok"]

        # Solved first, then filed: neither the agent's slot nor the queue.
        free = ticket_created(300, "early", "filed and solved at once")
        waiting = ticket_created(301, "early-nobody", "filed and solved, nobody there")
        for created in (free, waiting):
            solve(publish, db, created, now)
            refused = rpc.routing.reassign(created["data"]["ticket_id"], {
                "agent_id": "early-one", "actor": STAFF})  # not taken in yet
            assert (refused["ok"], refused["status"]) == (False, 404), refused
            publish(created)
            publish(created)  # a redelivery
        remembered(db, free, waiting)

        # Solved, reopened after that, then filed: the reopening placed it, once.
        back = ticket_created(302, "early", "solved, reopened, then filed")
        solve(publish, db, back, now)
        handled(publish, db, reopened(back, now + timedelta(seconds=1)),
                "assign:ticket_reopened")
        assert placement(db, back) == ("early-one", False)
        publish(back)

        # Solved, reopened, solved again, then filed: settled after all.
        again = ticket_created(303, "early", "solved twice before filed")
        solve(publish, db, again, now)
        handled(publish, db, reopened(again, now + timedelta(seconds=1)),
                "assign:ticket_reopened")
        solve(publish, db, again, now + timedelta(seconds=2))
        publish(again)

        # An older department change delivered after the solve: it moves, it is not placed.
        moved = ticket_created(304, "early-nobody", "moved before solved")
        solve(publish, db, moved, now)
        handled(publish, db, department_changed(moved, "early"), "follow_department")
        publish(moved)

        remembered(db, back, again, moved)
        eventually(lambda: queues_drained(config["_vhost"], "routing"), timeout=30)
        for created in (free, waiting, again, moved):
            assert placement(db, created) == (None, False), created["data"]["number"]
        assert placement(db, back) == ("early-one", False)
        assert load(db, "early-one") == 1
        late = rpc.routing.reassign(free["data"]["ticket_id"], {"agent_id": "early-one",
                                                                "actor": STAFF})
        assert (late["ok"], late["status"]) == (False, 409), late  # solved: nothing to hand

    # Assigned by their reopenings only (303 solved again since), each once.
    assigned = [e["data"]["number"] for e in tap.of_type(ev.TICKET_ASSIGNED)]
    assert sorted(assigned) == [302, 303]
    assert not tap.of_type(ev.TICKET_UNASSIGNABLE)
    assert db("routing").assignment_log.count_documents(
        {"ticket_id": back["data"]["ticket_id"], "action": "assigned"}) == 1


def test_tickets_solved_before_their_creation_are_left_out_of_a_batch(config, rpc, db,
                                                                      publish, tap):
    """Creations routed together: the ones solved first are remembered and classified like
    the others, and only the others are assigned or queued."""
    now = datetime.now(timezone.utc)
    rule = {"id": "early-invoices", "name": "Invoices", "position": 10,
            "conditions": [{"field": "text", "op": "contains_any", "value": ["invoice"]}],
            "actions": {"category": "invoices"}}
    subjects = ("Invoice missing VAT", "Invoice sent twice", "Invoice in wrong currency",
                "Old invoice address", "Invoice PDF is blank", "Cannot download invoice")
    burst = [ticket_created(400 + i, "early-batch", subject)
             for i, subject in enumerate(subjects)]
    settled = burst[1], burst[4]
    with running(config, RoutingService):
        assert rpc.routing.upsert_department({"id": "early-batch", "name": "Batch"})["ok"]
        assert rpc.routing.upsert_agent(agent("batch-one", "early-batch"))["ok"]
        assert rpc.routing.save_rule(rule)["ok"]
        for created in settled:
            solve(publish, db, created, now)
    for created in burst:  # waiting in routing's queue together, as under load
        publish(created)
    calls_before = events_handled("routing", "route_new_ticket")
    with running(config, RoutingService):
        remembered(db, *burst)
        eventually(lambda: queues_drained(config["_vhost"], "routing"), timeout=30)
    assert events_handled("routing", "route_new_ticket") - calls_before < len(burst)  # together

    for created in settled:
        assert placement(db, created) == (None, False), created["data"]["number"]
    others = [created for created in burst if created not in settled]
    assert {placement(db, created) for created in others} == {("batch-one", False)}
    assert load(db, "batch-one") == len(others) == 4
    assigned = sorted(e["data"]["number"] for e in tap.of_type(ev.TICKET_ASSIGNED))
    assert assigned == [400, 402, 403, 405]
    classified = sorted(e["data"]["number"] for e in tap.of_type(ev.TICKET_CLASSIFIED))
    assert classified == list(range(400, 406))
