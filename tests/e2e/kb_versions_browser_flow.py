"""Article versions in real headless Chromium (run by test_kb_versions_browser.py in its own
process, like browser_flow.py): an agent proposes an edit of a published article on its
versions page (customers still read the old text), a supervisor, in Russian, looks at the
diff, publishes it (customers read the new text) and restores version 1, which makes version
3 equal to it (customers read the first text again).  Then the agent approves a solved
ticket's answer in the workspace and makes a draft article of it.

Usage: python -m tests.e2e.kb_versions_browser_flow PORTAL_URL AGENT_TOKEN SCREENSHOT_DIR"""
from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

from tests.e2e.browser_flow import CHROMIUM, FLAGS

PASSWORD = "demo-pass-1"
FIRST_BODY = "Open the lid.\nLift the green lever.\nPull the paper out slowly."
EDITED_LINE = "Lift the <b>blue</b> lever & wait."  # markup must be shown, never run


def public_body(portal: str, article_id: str) -> str:
    found = requests.get(f"{portal}/api/articles/{article_id}", timeout=10)
    assert found.status_code == 200, found.text
    return found.json()["body"]


def published_article(portal: str) -> str:
    token = requests.post(f"{portal}/api/auth/token", timeout=10, json={
        "email": "admin@example.com", "password": PASSWORD}).json()["token"]
    article_id = f"jam-{uuid.uuid4().hex[:8]}"
    created = requests.post(f"{portal}/api/admin/articles", timeout=10,
                            headers={"Authorization": f"Bearer {token}"},
                            json={"id": article_id, "title": "Clearing a paper jam",
                                  "body": FIRST_BODY, "language": "en", "published": True})
    assert created.status_code == 201, created.text
    return article_id


def solved_ticket(portal: str, agent_token: str) -> int:
    """A ticket filed without an account, answered and solved by the agent, once search has
    it (the answer draft is ready)."""
    agent = {"Authorization": f"Bearer {agent_token}"}
    filed = requests.post(f"{portal}/api/tickets", timeout=10, json={
        "subject": "Scanner shows error S12", "description": "The scanner stops with S12.",
        "department": "technical", "requester_email": f"s12-{uuid.uuid4().hex[:6]}@example.com"})
    assert filed.status_code == 201, filed.text
    number = filed.json()["number"]
    for path, body in ((f"/api/tickets/{number}/messages", {"body": "Clean the scanner glass, "
                                                                    "then calibrate it."}),
                       (f"/api/tickets/{number}/status", {"status": "solved"})):
        done = requests.post(portal + path, json=body, headers=agent, timeout=10)
        assert done.status_code in (200, 201), done.text
    deadline = time.monotonic() + 30
    while requests.get(f"{portal}/api/tickets/{number}/answer-draft", headers=agent,
                       timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the solved ticket never reached search"
        time.sleep(0.5)
    return number


def sign_in(browser, portal: str, email: str, locale: str):
    page = browser.new_context(locale=locale).new_page()
    page.goto(f"{portal}/signin?lang={locale[:2]}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#account-submit")
    expect(page.locator("#signout")).to_be_visible()
    return page


def run(portal: str, agent_token: str, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    article_id = published_article(portal)
    versions = f"{portal}/articles/{article_id}/versions"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)

        # The agent proposes an edit: version 2, waiting for review.
        agent = sign_in(browser, portal, "agent.anna@example.com", "en-US")
        agent.goto(versions)
        expect(agent.locator("#version-1 .current")).to_be_visible()
        expect(agent.locator("#publish-1")).to_have_count(0)  # agents do not publish
        agent.fill("#e-body", FIRST_BODY.replace("Lift the green lever.", EDITED_LINE))
        agent.click("#save-version")
        expect(agent.locator("#saved")).to_be_visible()
        expect(agent.locator("#version-2 .version-status")).to_have_text("waiting for review")
        expect(agent.locator("#version-1 .current")).to_be_visible()
        agent.screenshot(path=shots / "01-agent-proposed-version-2.png", full_page=True)
        assert public_body(portal, article_id) == FIRST_BODY

        # The supervisor (Russian) reads the diff and publishes version 2.
        editor = sign_in(browser, portal, "supervisor@example.com", "ru-RU")
        editor.goto(versions + "?lang=ru")
        expect(editor.locator("#version-2 .version-status")).to_have_text("ждёт проверки")
        editor.click("#diff-2")
        expect(editor.locator("#diff")).to_contain_text("Изменения в версии 2")
        expect(editor.locator("#diff-body .removed")).to_have_text("Lift the green lever.")
        expect(editor.locator("#diff-body .added")).to_have_text(EDITED_LINE)
        assert editor.locator("#diff-body b").count() == 0  # escaped, not markup
        editor.screenshot(path=shots / "02-diff-in-russian.png", full_page=True)
        editor.click("#publish-2")
        expect(editor.locator("#saved")).to_be_visible()
        expect(editor.locator("#version-2 .current")).to_be_visible()
        expect(editor.locator("#version-2 .version-status")).to_have_text("принята")
        assert EDITED_LINE in public_body(portal, article_id)

        # Restore version 1: a new version 3 equal to it, published at once (an editor's).
        editor.click("#restore-1")
        expect(editor.locator("#saved")).to_be_visible()
        expect(editor.locator("#version-3 .current")).to_be_visible()
        expect(editor.locator("#version-3")).to_contain_text("восстановлена из версии 1")
        editor.screenshot(path=shots / "03-version-1-restored-as-3.png", full_page=True)
        assert public_body(portal, article_id) == FIRST_BODY
        editor.goto(versions + "?lang=ru&diff=3&against=1")
        expect(editor.locator("#no-changes")).to_be_visible()

        # An approved answer becomes a draft article, opened on its versions page.
        number = solved_ticket(portal, agent_token)
        agent.goto(f"{portal}/agent/tickets/{number}?reuse=1#reuse")
        agent.click("#approve-answer")
        agent.click("#promote-answer")
        expect(agent.locator("#article-title")).to_have_text("Scanner shows error S12")
        expect(agent.locator("#article-state")).to_contain_text("draft")
        expect(agent.locator("#version-1 .current")).to_be_visible()
        agent.screenshot(path=shots / "04-draft-article-from-approved-answer.png",
                         full_page=True)
        browser.close()
    print("article versions browser flow passed")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
