"""An agent approves a solved ticket's reply for reuse in real headless Chromium: the draft
the workspace shows has the customer's name and phone removed, the agent edits and approves
it, and an anonymous visitor typing the problem is suggested that redacted answer.  Run by
test_approve_answer_browser.py in its own process (see browser_flow.py for why).

Usage: python -m tests.e2e.approve_answer_browser_flow PORTAL_URL AGENT_TOKEN SCREENSHOT_DIR"""
from __future__ import annotations

import random
import string
import sys
import uuid
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

from tests.e2e.browser_flow import CHROMIUM, FLAGS
from tests.e2e.conftest import sign_up
from tests.e2e.console_browser_flow import api, sign_in
from tests.support import eventually

CUSTOMER, PHONE = "Irina Printerova", "+7 912 345-67-89"
REPLY = (f"Hello {CUSTOMER.split()[0]}, the reset email lands in the Spam folder: add "
         f"support@helpdesk.localhost to your contacts and ask for the link again. If it still "
         f"does not come, we will call you at {PHONE}.")


def solved_ticket(portal: str, agent_token: str) -> int:
    """A customer's ticket with personal data in it, answered publicly and solved."""
    email = f"irina-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(portal, email, "irina-pass-1", CUSTOMER)
    token = requests.post(f"{portal}/api/auth/token", timeout=10, json={
        "email": email, "password": "irina-pass-1"}).json()["token"]
    number = api(portal, "POST", "/api/tickets", token, json={
        "subject": "Password reset email never arrives", "language": "en",
        "description": f"I asked for the reset link three times. Call me: {PHONE}."})["number"]
    api(portal, "POST", f"/api/tickets/{number}/messages", agent_token, json={"body": REPLY})
    api(portal, "POST", f"/api/tickets/{number}/status", agent_token, json={"status": "solved"})
    # Search keeps the solved state from intake's events: the draft is ready once it has it.
    eventually(lambda: requests.get(f"{portal}/api/tickets/{number}/answer-draft", timeout=10,
                                    headers={"Authorization": f"Bearer {agent_token}"}
                                    ).status_code == 200, timeout=30)
    return number


def run(portal: str, agent_token: str, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    number = solved_ticket(portal, agent_token)
    # A word only this run's approved title has: the card below is this answer.
    marker = "Zorb" + "".join(random.choices(string.ascii_lowercase, k=6))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        agent = browser.new_context(locale="en-GB").new_page()
        sign_in(agent, portal, "agent.anna@example.com")
        agent.goto(f"{portal}/agent/tickets/{number}?lang=en")
        agent.click("#prepare-answer")
        body = agent.locator("#reuse textarea[name=body]")
        expect(body).to_be_visible()
        draft = body.input_value()
        assert "Spam folder" in draft, draft
        assert "Irina" not in draft and "345-67-89" not in draft, draft
        agent.screenshot(path=shots / "01-redacted-draft.png", full_page=True)
        # The agent may edit before approving: a title of this run's own, to find the card by.
        agent.fill("#reuse input[name=title]", f"Reset email never arrives ({marker})")
        body.fill(f"{draft} Look under Junk as well.")
        agent.click("#approve-answer")
        expect(agent.locator("#reuse")).to_contain_text("Approved")
        agent.screenshot(path=shots / "02-approved.png", full_page=True)

        visitor = browser.new_context(locale="en-GB").new_page()
        visitor.goto(f"{portal}/?lang=en")
        visitor.fill("#subject", "password reset email never arrives")
        card = visitor.locator("#suggestions li.suggestion", has_text=marker)
        expect(card).to_be_visible(timeout=20_000)
        expect(card).to_contain_text("Spam folder")
        shown = card.inner_text()
        assert "Irina" not in shown and "345-67-89" not in shown, shown
        visitor.screenshot(path=shots / "03-suggested-to-a-visitor.png", full_page=True)
        browser.close()
    print("approve answer browser flow passed")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
