"""The agent console, supervisor dashboard and administration pages over HTTP against the whole
stack: who may open them, taking a queued ticket, canned response, internal note, collision
warning, solving, the dashboard's figures and CSV, and admin validation messages."""
import re
import uuid
from contextlib import contextmanager

import pytest
import requests

from tests.e2e.conftest import DEMO_PASSWORD, STAFF, Browser, api_token, bearer, new_customer
from tests.support import eventually

STAFF_PAGES = ["/agent", "/agent/queue/mine", "/agent/queue/department", "/agent/tickets/1"]
SUPERVISOR_PAGES = ["/supervisor", "/supervisor/report.csv", "/admin"]


def signed_in(portal: str, email: str, password: str = DEMO_PASSWORD) -> Browser:
    return Browser(portal).sign_in(email, password)


def status_of(browser: Browser, path: str) -> int:
    return browser.get(f"{browser.portal}{path}", timeout=20, allow_redirects=False).status_code


def test_anonymous_people_are_sent_to_sign_in(portal):
    for path in STAFF_PAGES + SUPERVISOR_PAGES:
        reply = requests.get(f"{portal}{path}", timeout=10, allow_redirects=False)
        assert reply.status_code == 302 and "/signin?next=" in reply.headers["Location"], path


def test_customers_get_not_found_and_agents_cannot_supervise(portal):
    someone = new_customer(portal)
    customer = signed_in(portal, someone["email"], someone["password"])
    for path in STAFF_PAGES + SUPERVISOR_PAGES:
        assert status_of(customer, path) == 404, path
    agent = signed_in(portal, STAFF["agent"])
    assert status_of(agent, "/agent/queue/mine") == 200
    for path in SUPERVISOR_PAGES:
        assert status_of(agent, path) == 404, path
    supervisor = signed_in(portal, STAFF["supervisor"])
    for path in ["/agent/queue/mine", "/supervisor", "/admin"]:
        assert status_of(supervisor, path) == 200, path
    # Supervisors look at the administration page; only admins change agents.
    assert supervisor.submit("/admin", "/admin/agents", {"id": "agent-boris", "capacity": "3"},
                             allow_redirects=False).status_code == 404


@contextmanager
def anna_away(portal: str):
    """Anna is away, so tickets only she could take wait in the queue; back online after."""
    token = api_token(portal, STAFF["agent"])
    url = f"{portal}/api/routing/agents/agent-anna/availability"
    assert requests.put(url, json={"status": "away"}, headers=bearer(token),
                        timeout=10).status_code == 200
    try:
        yield
    finally:
        requests.put(url, json={"status": "online"}, headers=bearer(token), timeout=10)


def file_technical_ticket(portal: str, customer: dict, subject: str) -> dict:
    # English + technical: Boris speaks only Russian, so with Anna away nobody gets it.
    made = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                         json={"subject": subject, "description": subject + ", details inside.",
                               "department": "technical", "language": "en"})
    assert made.status_code == 201, made.text
    return made.json()


def figure(page: str, name: str) -> str:
    found = re.search(rf'id="fig-{name}">([^<]*)<', page)
    assert found, name
    return found.group(1)


def test_agent_takes_answers_notes_and_solves_and_the_dashboard_counts_it(portal):
    customer = new_customer(portal, name="Olga Console")
    supervisor = signed_in(portal, STAFF["supervisor"])
    solved_before = int(figure(supervisor.get(f"{portal}/supervisor", timeout=20).text, "solved"))
    agent_headers = bearer(api_token(portal, STAFF["agent"]))
    canned = requests.post(f"{portal}/api/canned", headers=agent_headers, timeout=10, json={
        "title": f"Console {uuid.uuid4().hex[:6]}", "scope": "personal",
        "body": "Hello $customer_name, about $ticket_number:"})
    assert canned.status_code == 201, canned.text
    agent = signed_in(portal, STAFF["agent"])
    with anna_away(portal):
        subject = "Console printer jams " + uuid.uuid4().hex[:6]
        ticket = file_technical_ticket(portal, customer, subject)
        number = ticket["number"]
        queue = eventually(lambda: (lambda page: page if f">#{number}<" in page else None)(
            agent.get(f"{portal}/agent/queue/department", timeout=20).text))
        assert "Away" in queue or "Отошёл" in queue
        ticket_id = re.search(rf'#{number}</a>.*?name="ticket_id" value="([^"]+)"', queue,
                              re.S).group(1)
        taken = agent.submit("/agent/queue/department", "/agent/queue/take",
                             {"ticket_id": ticket_id}, allow_redirects=False)
        assert taken.status_code == 303 and taken.headers["Location"].endswith(
            f"/agent/tickets/{number}")
        # Taken once: the second try finds it gone from the queue.
        assert agent.submit("/agent/queue/department", "/agent/queue/take",
                            {"ticket_id": ticket_id}).status_code == 404

    workspace = f"/agent/tickets/{number}"
    eventually(lambda: f">#{number}<" in agent.get(f"{portal}/agent/queue/mine", timeout=20).text)
    # Another agent opens it too: Anna is warned.
    boris = signed_in(portal, "agent.boris@example.com")
    assert status_of(boris, workspace) == 200
    warned = agent.get(f"{portal}{workspace}", timeout=20).text
    assert "Boris Ivanov is viewing this ticket" in warned

    inserted = agent.get(f"{portal}{workspace}?canned={canned.json()['id']}", timeout=20).text
    assert f"Hello Olga Console, about #{number}:" in inserted and 'id="canned-preview"' in inserted
    assert agent.submit(workspace, f"{workspace}/message", {
        "body": f"Hello Olga Console, about #{number}: please restart the printer.",
        "visibility": "public"}, allow_redirects=False).status_code == 303
    assert agent.submit(workspace, f"{workspace}/message", {
        "body": "Internal: firmware bug, see vendor case 42.", "visibility": "internal"},
        allow_redirects=False).status_code == 303
    refused = agent.submit(workspace, f"{workspace}/message", {"body": "", "visibility": "public"})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert agent.submit(workspace, f"{workspace}/fields", {"priority": "high",
                                                           "tags": "printer, firmware"},
                        allow_redirects=False).status_code == 303
    assert agent.submit(workspace, f"{workspace}/status", {"status": "solved"},
                        allow_redirects=False).status_code == 303

    page = agent.get(f"{portal}{workspace}", timeout=20).text
    assert "firmware bug" in page and "Internal note" in page and "printer, firmware" in page
    seen_by_customer = requests.get(f"{portal}/api/tickets/{number}", timeout=10,
                                    headers=bearer(customer["token"])).json()
    assert seen_by_customer["status"] == "solved"
    assert "firmware bug" not in str(seen_by_customer["messages"])

    dashboard = supervisor.get(f"{portal}/supervisor", timeout=20).text
    assert int(figure(dashboard, "solved")) == solved_before + 1
    assert 'id="chart-data"' in dashboard and "vendor/chartjs/chart.umd.min.js" in dashboard
    csv = supervisor.get(f"{portal}/supervisor/report.csv?days=1", timeout=20)
    assert csv.headers["Content-Type"].startswith("text/csv")
    anna_row = next(line for line in csv.text.splitlines() if line.startswith("agent-anna,"))
    assert anna_row.split(",")[1] == "Anna Petrova" and int(anna_row.split(",")[3]) >= 1  # solved
    figures = dict(line.split(",", 1) for line in csv.text.split("figure,value")[1].split())
    assert int(figures["solved"]) >= 1 and "backlog" in figures
    for odd in ("¹", "-1", "1e3", "7.5", "x" * 50):  # unknown periods fall back to 30 days
        assert supervisor.get(f"{portal}/supervisor", params={"days": odd},
                              timeout=20).status_code == 200


@pytest.mark.parametrize("capacity, message", [("-5", "capacity"), ("many", "capacity")])
def test_admin_sees_the_routing_services_validation_messages(portal, capacity, message):
    admin = signed_in(portal, STAFF["admin"])
    refused = admin.submit("/admin", "/admin/agents", {
        "id": "agent-boris", "capacity": capacity, "departments": "technical",
        "skills": "", "languages": "ru"})
    assert refused.status_code == 400 and 'role="alert"' in refused.text
    assert message in refused.text
    saved = admin.submit("/admin", "/admin/agents", {
        "id": "agent-boris", "capacity": "8", "departments": "technical", "skills": "printers",
        "languages": "ru"}, allow_redirects=False)
    assert saved.status_code == 303
    boris = next(a for a in requests.get(f"{admin.portal}/api/agents", timeout=10,
                                         headers=bearer(api_token(admin.portal, STAFF["admin"])))
                 .json()["agents"] if a["id"] == "agent-boris")
    assert boris["skills"] == ["printers"] and boris["capacity"] == 8
    admin.submit("/admin", "/admin/agents", {"id": "agent-boris", "capacity": "8",
                                             "departments": "technical", "skills": "",
                                             "languages": "ru"})  # as seeded again


def test_admin_dry_run_shows_what_routing_would_do(portal):
    supervisor = signed_in(portal, STAFF["supervisor"])
    page = supervisor.submit("/admin", "/admin/dry-run", {"subject": "Refund my invoice"})
    assert page.status_code == 200 and 'id="dry-run-result"' in page.text
    refused = supervisor.submit("/admin", "/admin/dry-run", {"subject": ""})
    assert refused.status_code == 400 and "subject" in refused.text
