"""Intake and routing together: a reopened ticket and a follow-up of a closed one go back to
the agent who had the ticket when that agent is available (even when busier than others),
and to someone else when not."""
from datetime import datetime, timedelta, timezone

import pytest

from services.common import events as ev
from services.intake.service import IntakeService
from services.routing.service import RoutingService
from tests.integration.routing_helpers import dispatcher
from tests.support import eventually, intake_event, running

CUSTOMER = {"id": "cust-prev", "role": "customer", "name": "Ann Customer"}
STAFF = {"id": "sup-1", "role": "supervisor", "name": "Sue"}


@pytest.fixture(scope="module", autouse=True)
def services(config, rpc):
    with running(config, IntakeService, RoutingService) as runner:
        assert rpc.routing.upsert_department({"id": "technical", "name": "Technical"})["ok"]
        for agent_id, status in (("first", "online"), ("second", "offline")):
            assert rpc.routing.upsert_agent({
                "id": agent_id, "name": agent_id.title(), "email": f"{agent_id}@example.com",
                "departments": ["technical"], "capacity": 5, "status": status})["ok"]
        yield runner


def file(rpc, subject):
    result = rpc.intake.create_ticket({
        "ticket": {"subject": subject, "description": f"{subject}: details",
                   "department": "technical"},
        "requester": CUSTOMER, "channel": "api", "idempotency_key": None})
    assert result["ok"], result
    return result["ticket"]["number"]


def assignee(rpc, number):
    """Who intake says holds the ticket (after routing told it)."""
    return rpc.intake.get_ticket(number, STAFF)["ticket"]["assignee_id"]


def held_by(rpc, number, agent_id):
    eventually(lambda: assignee(rpc, number) == agent_id, timeout=20)


def solve(rpc, db, number):
    assert rpc.intake.add_message(number, {"body": "Fixed."}, STAFF)["ok"]
    assert rpc.intake.change_status(number, {"status": "solved"}, STAFF)["ok"]
    ticket_id = rpc.intake.get_ticket(number, STAFF)["ticket"]["id"]
    # Routing has given the slot back before the next step.
    eventually(lambda: db("routing").assignments.count_documents(
        {"_id": ticket_id, "active": True}) == 0)


def loads(rpc):
    return {a["id"]: a["load"] for a in rpc.routing.list_agents("technical")["agents"]}


def test_reopened_and_follow_up_tickets_go_back_to_the_previous_agent(rpc, db):
    a, b = file(rpc, "VPN drops"), file(rpc, "Printer jams")
    held_by(rpc, a, "first")
    held_by(rpc, b, "first")
    assert rpc.routing.set_availability("second", {"status": "online"})["ok"]

    # Reopened: back to "first", although "second" holds less.
    solve(rpc, db, a)
    assert loads(rpc) == {"first": 1, "second": 0}
    assert rpc.intake.change_status(a, {"status": "open"}, CUSTOMER)["ok"]
    held_by(rpc, a, "first")

    # Reopened while "first" is offline: someone else takes it.
    solve(rpc, db, a)
    assert rpc.routing.set_availability("first", {"status": "offline"})["ok"]
    assert rpc.intake.change_status(a, {"status": "open"}, CUSTOMER)["ok"]
    held_by(rpc, a, "second")

    # A follow-up of a closed ticket of "first" goes to "first", although busier.
    assert rpc.routing.set_availability("first", {"status": "online"})["ok"]
    solve(rpc, db, a)
    solve(rpc, db, b)
    assert rpc.intake.change_status(b, {"status": "closed"}, CUSTOMER)["ok"]
    held_by(rpc, file(rpc, "Mail bounces"), "first")  # round robin: "first" waited longest
    assert loads(rpc) == {"first": 1, "second": 0}
    follow = rpc.intake.create_follow_up(b, {"body": "It jams again"}, CUSTOMER)
    assert follow["ok"], follow
    held_by(rpc, follow["ticket"]["number"], "first")
    assert loads(rpc) == {"first": 2, "second": 0}


def test_a_late_solve_never_takes_a_reopened_ticket_from_its_agent(rpc, db, config):
    """Solve and reopen are separate events: when the reopening is handled first (the agent
    still holds the ticket, so it stays there), the older solve arriving afterwards must not
    free the slot, or the open ticket would belong to nobody and wait in no queue."""
    number = file(rpc, "Disk full")
    eventually(lambda: assignee(rpc, number) is not None, timeout=20)
    ticket = rpc.intake.get_ticket(number, STAFF)["ticket"]
    holder, solved_at = ticket["assignee_id"], datetime.now(timezone.utc)
    publish = dispatcher(config)
    reopened = intake_event(ev.TICKET_REOPENED, {
        "ticket_id": ticket["id"], "number": number, "department": "technical",
        "priority": "normal", "previous_assignee_id": holder,
        "reopened_at": solved_at + timedelta(seconds=1)}, solved_at + timedelta(seconds=1))
    late_solve = intake_event(ev.STATUS_CHANGED, {
        "ticket_id": ticket["id"], "number": number, "old_status": "open",
        "new_status": "solved", "actor_role": "agent", "department": "technical",
        "priority": "normal", "changed_at": solved_at}, solved_at)
    for event, consumer in ((reopened, "assign:ticket_reopened"),
                            (late_solve, "release_on_solve")):
        publish(event)
        eventually(lambda: db("routing").processed_events.find_one(
            {"_id": f"{consumer}:{event['event_id']}"}) is not None, timeout=20)
    active = db("routing").assignments.find_one({"_id": ticket["id"], "active": True})
    assert active is not None and active["agent_id"] == holder
