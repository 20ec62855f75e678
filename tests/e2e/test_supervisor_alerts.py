"""Supervisor alerts on the dashboard: an SLA escalation that asks to notify the supervisor
shows on /supervisor with a link to the ticket, its kind and time; agents and customers
cannot open the page at all."""
import uuid

import requests

from tests.e2e.conftest import DEMO_PASSWORD, STAFF, Browser, api_token, bearer, new_customer
from tests.support import eventually

# A first-response warning almost at once (0.01 % of 10 h is 3 s), which asks to notify the
# supervisor; nothing breaches while the suite runs.  Low priority in billing only, and
# removed afterwards, so other tests' tickets keep the defaults.
POLICY = {"name": "E2E alerting", "priority": "low", "department": "billing",
          "warning_threshold": 0.0001, "targets": {"first_response": 600, "resolution": 6000},
          "escalation": {"first_response": {"warning": ["notify_supervisor"]}}}


def test_an_escalated_warning_shows_on_the_supervisor_dashboard_only(portal):
    supervisor_api = bearer(api_token(portal, STAFF["supervisor"]))
    policy_url = f"{portal}/api/sla/policies/e2e-alerting"
    assert requests.put(policy_url, json=POLICY, headers=supervisor_api,
                        timeout=10).status_code == 200
    try:
        customer = new_customer(portal)
        filed = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]),
                              timeout=10, json={"subject": f"Invoice {uuid.uuid4().hex[:6]}",
                                                "description": "Charged twice",
                                                "department": "billing", "priority": "low"})
        assert filed.status_code == 201, filed.text
        number = filed.json()["number"]
        link = f'href="/agent/tickets/{number}"'

        supervisor = Browser(portal).sign_in(STAFF["supervisor"], DEMO_PASSWORD)
        page = eventually(lambda: (text := supervisor.get(f"{portal}/supervisor",
                                                          timeout=20).text)
                          and link in text and text, timeout=30)
        alerts = page[page.index('id="alerts-table"'):]
        row = alerts[:alerts.index(link)]
        row = row[row.rindex("<tr"):]
        assert 'data-kind="sla_warning"' in row and "SLA warning" in row and "UTC" in row
        russian = supervisor.get(f"{portal}/supervisor?lang=ru", timeout=20).text
        assert "Оповещения" in russian and "Предупреждение SLA" in russian

        agent = Browser(portal).sign_in(STAFF["agent"], DEMO_PASSWORD)
        owner = Browser(portal).sign_in(customer["email"], customer["password"])
        for someone in (agent, owner):
            reply = someone.get(f"{portal}/supervisor", timeout=20, allow_redirects=False)
            assert reply.status_code == 404 and link not in reply.text
    finally:
        requests.delete(policy_url, headers=supervisor_api, timeout=10)
