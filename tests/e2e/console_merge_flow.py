"""An agent merges two tickets in real headless Chromium (run by test_console_operations.py
in its own process): the same customer filed the problem twice and wrote more on the
duplicate; from the duplicate's workspace the agent merges it into the first ticket, the
survivor's workspace opens with both threads in time order (the duplicate's entries marked),
the duplicate's workspace points to the survivor, the activity log says who merged, and the
customer's page of the duplicate links to the survivor.

Usage: python -m tests.e2e.console_merge_flow PORTAL_URL AGENT_TOKEN SCREENSHOT_DIR"""
from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

from tests.e2e.browser_flow import CHROMIUM, FLAGS
from tests.e2e.conftest import sign_up
from tests.e2e.console_browser_flow import api, sign_in

AGENT = "agent.anna@example.com"


def run(portal: str, agent_token: str, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    email = f"merge-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(portal, email, "merge-pass-1", "Mila Merge")
    customer_token = requests.post(f"{portal}/api/auth/token", timeout=10, json={
        "email": email, "password": "merge-pass-1"}).json()["token"]
    tag = uuid.uuid4().hex[:6]
    first = api(portal, "POST", "/api/tickets", customer_token, json={
        "subject": f"VPN drops {tag}", "description": "The VPN disconnects every hour.",
        "department": "technical", "language": "en"})["number"]
    second = api(portal, "POST", "/api/tickets", customer_token, json={
        "subject": f"VPN again {tag}", "description": "Still the VPN, sorry for writing twice.",
        "department": "technical", "language": "en"})["number"]
    api(portal, "POST", f"/api/tickets/{second}/messages", customer_token,
        json={"body": "Log attached: timeout at 10:02."})

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        desk = {"viewport": {"width": 1280, "height": 900}, "locale": "en-US"}
        agent = browser.new_context(**desk).new_page()
        sign_in(agent, portal, AGENT)
        agent.goto(f"{portal}/agent/tickets/{second}")
        expect(agent.locator("#merge-form")).to_be_visible()
        agent.fill("#merge-into", f"#{first}")
        agent.screenshot(path=shots / "01-merge-typed.png", full_page=True)
        agent.click("#merge-button")
        try:
            agent.wait_for_url(re.compile(rf"/agent/tickets/{first}\?merged={second}$"))
        except Exception:
            print(agent.url, agent.locator("body").inner_text()[:3000])
            raise
        expect(agent.locator("#merged-notice")).to_contain_text(f"#{second}")
        thread = agent.locator("#thread li.message")
        expect(thread).to_have_count(3)  # first's description, second's description + reply
        expect(thread.nth(0)).to_contain_text("The VPN disconnects every hour.")
        expect(thread.nth(1)).to_contain_text("Still the VPN, sorry for writing twice.")
        expect(thread.nth(1)).to_contain_text(f"from #{second}")
        expect(thread.nth(2)).to_contain_text("Log attached: timeout at 10:02.")
        expect(agent.locator("#merged-from")).to_contain_text(f"#{second}")
        expect(agent.locator("#activity-log")).to_contain_text("Merged into this ticket")
        expect(agent.locator("#activity-log")).to_contain_text("Anna Petrova")
        agent.screenshot(path=shots / "02-survivor-combined-thread.png", full_page=True)

        agent.goto(f"{portal}/agent/tickets/{second}")
        expect(agent.locator("#merged-into")).to_contain_text(f"#{first}")
        expect(agent.locator("#ticket-status")).to_have_text("Closed")
        expect(agent.locator("#merge-form")).to_have_count(0)
        agent.screenshot(path=shots / "03-duplicate-points-to-survivor.png", full_page=True)

        person = browser.new_context(**desk).new_page()
        sign_in(person, portal, email, "merge-pass-1")
        person.goto(f"{portal}/my/tickets/{second}")
        expect(person.locator("#merged-into a")).to_have_attribute(
            "href", f"/my/tickets/{first}")
        person.click("#merged-into a")
        expect(person.locator("#thread")).to_contain_text("Log attached: timeout at 10:02.")
        person.screenshot(path=shots / "04-customer-follows-the-link.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
