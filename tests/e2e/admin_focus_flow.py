"""A refused administration form in real headless Chromium (run by test_admin_focus_browser.py
in its own process, like browser_flow.py): the admin sends an SLA policy with a negative
target from the bottom of a long page; the page comes back with the focus on that input,
inside the viewport, its Russian message beside it.

Usage: python -m tests.e2e.admin_focus_flow PORTAL_URL AGENT_TOKEN SCREENSHOT_DIR"""
from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.e2e.browser_flow import CHROMIUM, FLAGS
from tests.e2e.console_browser_flow import sign_in


def run(portal: str, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        sign_in(page, portal, "admin@example.com")
        page.goto(f"{portal}/admin/sla?lang=ru")
        page.fill("#policy-name", "Фокус")
        page.fill("#policy-targets-first_response", "-5")
        page.fill("#policy-targets-resolution", "600")
        page.click("#save-policy")
        field = page.locator("#policy-targets-first_response")
        expect(field).to_have_attribute("aria-invalid", "true")
        expect(field).to_be_focused()
        expect(field).to_be_in_viewport()
        message = page.locator("#policy-targets-first_response-error")
        expect(message).to_be_in_viewport()
        expect(message).to_contain_text("Должно быть")
        page.screenshot(path=str(shots / "01-refused-policy-focused.png"))
        browser.close()


if __name__ == "__main__":
    run(sys.argv[1], Path(sys.argv[3]))
