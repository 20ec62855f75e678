"""A customer account's organization and plan, set by an admin over the portal's API, travel
with every ticket the customer files (never from the request body): a routing rule on the plan
fires and the SLA policy for the organization is chosen.  The portal runs in this process
(Flask test client) against intake, routing and sla on the real broker and Mongo server."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.common.clock import SystemClock
from services.common.storage import service_database
from services.intake.service import IntakeService
from services.portal.identity import hasher
from services.portal.repository import UserRepository
from services.portal.rpc import RpcPool
from services.portal.service import create_app
from services.routing.service import RoutingService
from services.sla.service import SlaService
from tests.support import eventually, running

STAFF = {"id": "sup-1", "role": "supervisor", "name": "Sue"}
PASSWORD = "a-long-password-1"


@pytest.fixture(scope="module", autouse=True)
def services(config, rpc):
    with running(config, IntakeService, RoutingService, SlaService):
        assert rpc.routing.upsert_department({"id": "technical", "name": "Technical"})["ok"]
        assert rpc.routing.save_rule({
            "id": "gold", "name": "Gold customers", "position": 10,
            "conditions": [{"field": "plan", "op": "in", "value": ["gold", "platinum"]}],
            "actions": {"add_tags": ["gold-plan"]}})["ok"]
        assert rpc.sla.upsert_policy({
            "id": "acme-normal", "name": "Acme, normal", "priority": "normal",
            "organization": "acme-corp",
            "targets": {"first_response": 30, "resolution": 600}})["ok"]
        yield


@pytest.fixture(scope="module")
def portal(config):
    users = UserRepository(service_database(config["MONGO_URI"], config["MONGO_DB"], "portal"))
    users.ensure_indexes()
    app = create_app(RpcPool({"AMQP_URI": config["AMQP_URI"], "serializer": "json"}), users,
                     SystemClock())
    return app.test_client(), users


def bearer(client, email):
    answer = client.post("/api/auth/token", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 201, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['token']}"}


def test_account_organization_and_plan_select_the_routing_rule_and_sla_policy(portal, rpc):
    client, users = portal
    users.create(email="root@example.com", name="Root", role="admin",
                 password_hash=hasher.hash(PASSWORD))
    customer = users.create(email="buyer@acme.example", name="Buyer", role="customer",
                            password_hash=hasher.hash(PASSWORD))
    admin, buyer = bearer(client, "root@example.com"), bearer(client, "buyer@acme.example")

    # Only admins set it; names are kept as the SLA policy's slug; bad values are refused.
    url = f"/api/users/{customer['_id']}/customer"
    assert client.post(url, json={"organization": "Acme", "plan": None},
                       headers=buyer).status_code == 403
    refused = client.post(url, json={"organization": "ООО", "plan": "Gold Plan"}, headers=admin)
    assert refused.status_code == 400
    assert set(refused.get_json()["errors"]) == {"organization", "plan"}
    set_to = client.post(url, json={"organization": "Acme Corp.", "plan": "gold"}, headers=admin)
    assert set_to.status_code == 200, set_to.get_json()
    assert (set_to.get_json()["organization"], set_to.get_json()["plan"]) == ("acme-corp", "gold")
    root_id = users.by_email("root@example.com")["_id"]
    assert client.post(f"/api/users/{root_id}/customer", json={
        "organization": "Acme", "plan": None}, headers=admin).status_code == 404

    # The body cannot claim an organization...
    claimed = client.post("/api/tickets", headers=buyer, json={
        "subject": "VPN down", "description": "Since 9:00", "organization": "globex"})
    assert claimed.status_code == 400 and "organization" in claimed.get_json()["errors"]
    # ...the account's travels with the ticket.
    filed = client.post("/api/tickets", headers=buyer, json={
        "subject": "VPN down", "description": "Since 9:00", "department": "technical"})
    assert filed.status_code == 201, filed.get_json()
    number = filed.get_json()["number"]
    assert (filed.get_json()["organization"], filed.get_json()["plan"]) == ("acme-corp", "gold")

    ticket = eventually(lambda: (t := rpc.intake.get_ticket(number, STAFF)["ticket"])["sla"]
                        and "gold-plan" in t["tags"] and t, timeout=20)
    assert ticket["sla"]["policy_id"] == "acme-normal"


def test_an_address_filing_without_signing_in_has_one_customer_record(portal):
    client, users = portal
    with ThreadPoolExecutor(8) as pool:  # several first filings at once
        found = list(pool.map(lambda _: users.requester(
            email=" New.Person@Example.com", name="New", language="ru"), range(8)))
    assert len({user["_id"] for user in found}) == 1
    kept = users.by_email("new.person@example.com")
    assert (kept["role"], kept["password_hash"], kept["name"], kept["language"]) == (
        "customer", None, "New", "ru")
    # Later filings under another name or language leave the record as it is.
    assert users.requester(email="new.person@example.com", name="Other", language="en") == kept

    filed = client.post("/api/tickets", json={
        "subject": "Printer", "description": "Jammed", "requester_email": "new.person@example.com",
        "requester_name": "Someone else"})
    assert filed.status_code == 201, filed.get_json()
    assert users.db.users.count_documents({"email": "new.person@example.com"}) == 1
    # A staff address cannot file without signing in.
    users.create(email="agent@example.com", name="Agent", role="agent", password_hash=None)
    refused = client.post("/api/tickets", json={
        "subject": "Printer", "description": "Jammed", "requester_email": "agent@example.com"})
    assert refused.status_code == 401
