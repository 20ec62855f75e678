"""The agent console and supervisor dashboard in real headless Chromium (run by
test_console_browser.py in its own process, like browser_flow.py): an agent takes the top
ticket of the queue, sees a similar solved ticket, inserts a canned response with placeholders,
adds an internal note and solves it; the supervisor's dashboard counts one more solved ticket.

Usage: python -m tests.e2e.console_browser_flow PORTAL_URL AGENT_TOKEN SCREENSHOT_DIR"""
from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

from tests.e2e.browser_flow import CHROMIUM, FLAGS
from tests.e2e.conftest import sign_up

PASSWORD = "demo-pass-1"
CUSTOMER = "Irina Printer"
RESOLUTION = "Reset the print spooler and install the new driver; the E42 error is gone."


def api(portal: str, method: str, path: str, token: str, **kwargs) -> dict:
    reply = requests.request(method, f"{portal}{path}", timeout=15,
                             headers={"Authorization": f"Bearer {token}"}, **kwargs)
    assert reply.status_code in (200, 201), (path, reply.status_code, reply.text)
    return reply.json()


def customer_token(portal: str) -> str:
    email = f"printer-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(portal, email, "printer-pass-1", CUSTOMER)
    return requests.post(f"{portal}/api/auth/token", timeout=10, json={
        "email": email, "password": "printer-pass-1"}).json()["token"]


def file(portal: str, token: str, subject: str) -> int:
    return api(portal, "POST", "/api/tickets", token, json={
        "subject": subject, "description": "The office printer stops with error E42 on every job.",
        "department": "technical", "language": "en"})["number"]


def sign_in(page, portal: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{portal}/signin?lang=en")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#account-submit")
    expect(page.locator("#signout")).to_be_visible()


def make_room(portal: str, agent_token: str, agent_id: str) -> None:
    """Earlier modules may have left the (now away) agent at capacity, and the console's Take
    is refused then: solve enough of their open tickets and wait until routing frees the
    slots (away, so routing hands them nothing new meanwhile)."""
    def agent() -> dict:
        return next(a for a in api(portal, "GET", "/api/agents", agent_token)["agents"]
                    if a["id"] == agent_id)
    excess = agent()["load"] - agent()["capacity"] + 1
    for status in ("new", "open", "pending", "on_hold"):
        mine = api(portal, "GET", "/api/tickets", agent_token, params={
            "assignee_id": agent_id, "status": status, "per_page": 100})["tickets"]
        for ticket in mine[:max(excess, 0)]:
            api(portal, "POST", f"/api/tickets/{ticket['number']}/status", agent_token,
                json={"status": "solved"})
            excess -= 1
    for _ in range(60):
        if agent()["load"] < agent()["capacity"]:
            return
        time.sleep(0.5)
    raise AssertionError(f"{agent_id} still has no room: {agent()}")


def solved_figure(page) -> int:
    return int(page.locator("#fig-solved").inner_text())


def run(portal: str, agent_token: str, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    customer = customer_token(portal)
    # A solved ticket with a resolution for the similar-tickets panel to find.
    earlier = file(portal, customer, "Printer error E42 stops every print job")
    api(portal, "POST", f"/api/tickets/{earlier}/messages", agent_token, json={"body": RESOLUTION})
    api(portal, "POST", f"/api/tickets/{earlier}/status", agent_token, json={"status": "solved"})
    canned = api(portal, "POST", "/api/canned", agent_token, json={
        "title": "Printer E42 " + uuid.uuid4().hex[:4], "scope": "personal",
        "body": "Hello $customer_name, thank you for ticket $ticket_number ($department)."})
    availability = "/api/routing/agents/agent-anna/availability"
    api(portal, "PUT", availability, agent_token, json={"status": "away"})
    try:
        make_room(portal, agent_token, "agent-anna")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
            desk = {"viewport": {"width": 1280, "height": 900}, "locale": "en-US"}
            boss = browser.new_context(**desk).new_page()
            sign_in(boss, portal, "supervisor@example.com")
            boss.goto(f"{portal}/supervisor?days=1")
            expect(boss.locator("#chart-volume")).to_be_visible()
            before = solved_figure(boss)
            boss.screenshot(path=shots / "01-dashboard-before.png", full_page=True)

            number = file(portal, customer, "Printer error E42 again after the update")
            agent = browser.new_context(**desk).new_page()
            sign_in(agent, portal, "agent.anna@example.com")
            agent.goto(f"{portal}/agent/queue/department")
            for _ in range(30):  # routing queues it a moment after intake files it
                if agent.locator("tr.queued").count():
                    break
                time.sleep(0.5)
                agent.reload()
            expect(agent.locator("tr.queued").first).to_contain_text(f"#{number}")
            agent.screenshot(path=shots / "02-queue.png", full_page=True)

            agent.locator("tr.queued button.take").first.click()
            agent.wait_for_url(f"{portal}/agent/tickets/{number}")
            for _ in range(60):  # search indexes the solved ticket from events
                if agent.locator("#similar li.similar").count():
                    break
                time.sleep(0.5)
                agent.reload()
            expect(agent.locator("#similar")).to_contain_text(f"#{earlier}")
            expect(agent.locator("#similar")).to_contain_text("spooler")
            agent.screenshot(path=shots / "03-similar-solved.png", full_page=True)

            agent.select_option("#canned", canned["id"])
            agent.click("#insert-canned")
            expect(agent.locator("#body")).to_have_value(
                f"Hello {CUSTOMER}, thank you for ticket #{number} (Technical support).")
            expect(agent.locator("#canned-preview")).to_contain_text("$customer_name")
            agent.screenshot(path=shots / "04-canned-inserted.png", full_page=True)
            agent.click("#send-message")
            expect(agent.locator("#thread")).to_contain_text(f"thank you for ticket #{number}")

            agent.fill("#body", "Same firmware bug as #%d, vendor case open." % earlier)
            agent.check("#visibility-internal")
            agent.click("#send-message")
            expect(agent.locator("#thread .message.internal")).to_contain_text("vendor case open")
            agent.screenshot(path=shots / "05-internal-note.png", full_page=True)

            agent.click("#status-solved")
            expect(agent.locator("#ticket-status")).to_have_text("Solved")
            agent.screenshot(path=shots / "06-solved.png", full_page=True)

            boss.reload()
            assert solved_figure(boss) == before + 1, (before, solved_figure(boss))
            expect(boss.locator("#agents-table")).to_contain_text("Anna Petrova")
            boss.screenshot(path=shots / "07-dashboard-after.png", full_page=True)
            # The supervisor looks at the SLA administration (read-only for them).
            boss.goto(f"{portal}/admin/sla")
            expect(boss.locator("#policies-table")).to_contain_text("normal")
            boss.screenshot(path=shots / "08-admin-sla.png", full_page=True)
            browser.close()
    finally:
        api(portal, "PUT", availability, agent_token, json={"status": "online"})
    print(f"console browser flow passed for ticket #{number}")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
