"""Manual reassignment in routing against the real broker and Mongo wire server: capacity is
respected unless a supervisor overrides it, a refused move changes nothing, agents stay in
their departments, and the assignment event names the person who made it."""
import pytest

from services.common import events as ev
from services.routing.service import RoutingService
from tests.integration.routing_helpers import dispatcher, ticket_created
from tests.support import EventTap, eventually, running

SUPERVISOR = {"id": "sup-1", "role": "supervisor", "name": "Sam Supervisor"}


@pytest.fixture(scope="module", autouse=True)
def services(config, rpc):
    with running(config, RoutingService) as runner:
        for dept in ("desk", "other"):
            assert rpc.routing.upsert_department({"id": dept, "name": dept.title()})["ok"]
        for agent_id, departments, capacity in (("first", ["desk"], 5), ("full", ["desk"], 0),
                                                ("outsider", ["other"], 5)):
            assert rpc.routing.upsert_agent({
                "id": agent_id, "name": agent_id.title(), "email": f"{agent_id}@example.com",
                "departments": departments, "capacity": capacity})["ok"]
        yield runner


def load_of(db, agent_id):
    return db("routing").agents.find_one({"_id": agent_id})["load"]


def active_agent(db, ticket_id):
    found = db("routing").assignments.find_one({"_id": ticket_id, "active": True})
    return found and found["agent_id"]


def test_reassignment_respects_capacity_unless_a_supervisor_overrides_it(config, rpc, db):
    tap = EventTap(config, ev.TICKET_ASSIGNED)
    event = ticket_created(501, "desk")
    dispatcher(config)(event)
    ticket_id = event["data"]["ticket_id"]
    assert eventually(lambda: active_agent(db, ticket_id)) == "first"
    eventually(lambda: tap.of_type(ev.TICKET_ASSIGNED))

    refused = rpc.routing.reassign(ticket_id, {"agent_id": "full", "actor": SUPERVISOR})
    assert refused["status"] == 409 and "at capacity" in refused["errors"]["agent_id"][0]
    assert active_agent(db, ticket_id) == "first" and load_of(db, "first") == 1  # unchanged

    elsewhere = rpc.routing.reassign(ticket_id, {"agent_id": "outsider", "actor": SUPERVISOR})
    assert elsewhere["status"] == 400 and "does not work in" in elsewhere["errors"]["agent_id"][0]

    agent = {"id": "first", "role": "agent", "name": "First"}
    no_override = rpc.routing.reassign(ticket_id, {"agent_id": "full", "actor": agent,
                                                   "override_capacity": True})
    assert no_override["status"] == 403 and "override_capacity" in no_override["errors"]

    moved = rpc.routing.reassign(ticket_id, {"agent_id": "full", "override_capacity": True,
                                             "actor": SUPERVISOR})
    assert moved["ok"] and (moved["agent_id"], moved["load"], moved["capacity"]) == ("full", 1, 0)
    assert active_agent(db, ticket_id) == "full"
    assert (load_of(db, "first"), load_of(db, "full")) == (0, 1)
    announced = eventually(lambda: [e for e in tap.of_type(ev.TICKET_ASSIGNED)
                                    if e["data"]["agent_id"] == "full"])[0]["data"]
    assert announced["assigned_by"] == SUPERVISOR and announced["number"] == 501

    again = rpc.routing.reassign(ticket_id, {"agent_id": "full", "actor": SUPERVISOR})
    assert again["status"] == 409 and "Already assigned" in again["errors"]["agent_id"][0]
    tap.close()


def test_agents_reassign_only_within_their_departments(rpc, db, config):
    event = ticket_created(502, "desk")
    dispatcher(config)(event)
    ticket_id = event["data"]["ticket_id"]
    eventually(lambda: active_agent(db, ticket_id))
    outsider = {"id": "outsider", "role": "agent", "name": "Outsider"}
    refused = rpc.routing.reassign(ticket_id, {"agent_id": "first", "actor": outsider})
    assert refused["status"] == 403 and "own departments" in refused["errors"]["agent_id"][0]
    customer = {"id": "c1", "role": "customer"}
    assert rpc.routing.reassign(ticket_id, {"agent_id": "first", "actor": customer})[
        "status"] == 403
    assert rpc.routing.reassign("no-such-ticket", {"agent_id": "first", "actor": SUPERVISOR})[
        "status"] == 404
    assert rpc.routing.reassign(ticket_id, {"agent_id": "ghost", "actor": SUPERVISOR})[
        "status"] == 404
