"""A trigger's assign action with routing running too (real broker and Mongo wire server):
a matching new ticket goes to the named agent through routing's reassignment (within
capacity), and intake records the assignment as the automation's."""
import pytest

from services.automation.service import AutomationService
from services.intake.service import IntakeService
from services.routing.service import RoutingService
from tests.support import eventually, running

ADMIN = {"id": "admin-1", "role": "admin", "name": "Ada"}
AGENT = {"id": "agent-1", "role": "agent", "name": "Bob Agent"}
CUSTOMER = {"id": "cust-1", "role": "customer", "name": "Ann Customer"}


@pytest.fixture(scope="module", autouse=True)
def services(config, rpc):
    with running(config, IntakeService, RoutingService, AutomationService) as runner:
        assert rpc.routing.upsert_department({"id": "desk", "name": "Desk"})["ok"]
        # Offline: routing's own choice never lands on her; a trigger still may (as a person
        # reassigning may: availability is not required).
        assert rpc.routing.upsert_agent({
            "id": "vip-agent", "name": "Vera VIP", "email": "vera@example.com",
            "departments": ["desk"], "capacity": 5, "status": "offline"})["ok"]
        yield runner


def test_a_trigger_assigns_matching_tickets_to_the_named_agent(rpc):
    assert rpc.automation.upsert_trigger({
        "id": "vip-to-vera", "name": "VIP to Vera", "on": ["created"],
        "conditions": [{"field": "subject", "op": "contains", "value": "vip"}],
        "actions": [{"type": "assign", "agent_id": "vip-agent"}]}, ADMIN)["ok"]
    numbers = {}
    for subject in ("VIP: cannot sign in", "Plain question"):
        filed = rpc.intake.create_ticket({
            "ticket": {"subject": subject, "description": "Help", "department": "desk"},
            "requester": CUSTOMER, "channel": "api", "idempotency_key": None})
        numbers[subject] = filed["ticket"]["number"]
    vip = numbers["VIP: cannot sign in"]
    eventually(lambda: rpc.intake.get_ticket(vip, AGENT)["ticket"]["assignee_id"] == "vip-agent",
               timeout=20)
    history = rpc.intake.get_history(vip, AGENT)["history"]
    assert any(h["field"] == "assignee_id" and h["new"] == "vip-agent"
               and h["actor_id"] == "automation" for h in history)
    plain = rpc.intake.get_ticket(numbers["Plain question"], AGENT)["ticket"]
    assert plain["assignee_id"] != "vip-agent"
