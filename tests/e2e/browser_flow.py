"""The customer journey in real headless Chromium (Debian's /usr/bin/chromium, driven by
Playwright; no browser is ever downloaded).  Run by test_browser_flow.py in its own process:
Playwright's sync API runs an asyncio loop, which the suite's eventlet monkey-patching breaks.

Usage: python -m tests.e2e.browser_flow PORTAL_URL AGENT_TOKEN SCREENSHOT_DIR"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect, sync_playwright

from tests.e2e.conftest import emailed_link

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
needs_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM) and os.environ.get("HELPDESK_WITH_BROWSER") != "1",
    reason="Debian chromium not installed (deploy/local/stack test installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
PROBLEM = "Не приходит письмо для сброса пароля"
AGENT_REPLY = "Проверьте папку «Спам» и запросите письмо ещё раз."
ATTACHMENT = "журнал-входа.txt"


def sign_up(page, portal: str, name: str) -> None:
    email = f"browser-{uuid.uuid4().hex[:8]}@example.com"
    page.goto(f"{portal}/signup?lang=ru")
    page.fill("#name", name)
    page.fill("#email", email)
    page.fill("#password", "browser-pass-1")
    page.click("#account-submit")
    expect(page.locator("#signup-sent")).to_contain_text("Откройте ссылку")
    page.goto(emailed_link(email, r"http://\S+/signup/confirm/\S+").group(0))
    page.click("#account-submit")
    expect(page.locator("#signout")).to_contain_text(name)


def run(portal: str, agent_token: str, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        phone = {"viewport": {"width": 390, "height": 844}, "locale": "ru-RU"}
        page = browser.new_context(**phone).new_page()

        sign_up(page, portal, "Мария Покупатель")
        page.screenshot(path=shots / "01-signed-up.png", full_page=True)

        page.fill("#subject", PROBLEM)
        suggestion = page.locator("#suggestions li.suggestion").first
        expect(suggestion).to_be_visible(timeout=15_000)
        expect(page.locator("#suggestions")).to_contain_text(re.compile("[Пп]арол"))  # any form
        expect(suggestion.locator(".kind")).to_have_text(re.compile("Статья|Решённое обращение"))
        page.screenshot(path=shots / "02-suggestion-in-russian.png", full_page=True)

        page.fill("#description", "Нажимаю «Забыли пароль», но письмо так и не пришло.")
        page.select_option("#department", "technical")
        # A small file made here, chosen in the form's file input like a person would.
        page.set_input_files("#files", files=[{
            "name": ATTACHMENT, "mimeType": "text/plain",
            "buffer": "09:14 сброс пароля запрошен, письма нет\n".encode()}])
        page.screenshot(path=shots / "03-attachment-chosen.png", full_page=True)
        page.click("#send-request")
        page.wait_for_url(re.compile(r"/my/tickets/\d+$"))
        number = int(page.url.rsplit("/", 1)[1])
        expect(page.locator("#ticket-state")).to_contain_text("Получено")
        expect(page.locator("#attachment-list")).to_contain_text(ATTACHMENT)
        expect(page.locator("#upload-errors")).to_have_count(0)
        page.screenshot(path=shots / "04-ticket-filed-with-attachment.png", full_page=True)

        page.click("#nav-my-tickets")
        expect(page.locator("#my-tickets")).to_contain_text(f"#{number} {PROBLEM}")
        page.screenshot(path=shots / "05-my-tickets.png", full_page=True)

        answered = requests.post(f"{portal}/api/tickets/{number}/messages", timeout=10,
                                 headers={"Authorization": f"Bearer {agent_token}"},
                                 json={"body": AGENT_REPLY})
        assert answered.status_code == 201, answered.text
        page.goto(f"{portal}/my/tickets/{number}")
        expect(page.locator("#thread")).to_contain_text(AGENT_REPLY)
        page.screenshot(path=shots / "06-agent-replied.png", full_page=True)

        page.click("#action-solved")
        expect(page.locator("#ticket-state")).to_contain_text("Решено")
        page.click("#action-closed")
        expect(page.locator("#ticket-state")).to_contain_text("Закрыто")
        expect(page.locator("#reply-form")).to_have_count(0)
        page.screenshot(path=shots / "07-closed.png", full_page=True)

        expect(page.locator("#csat-form")).to_be_visible()
        page.check("#score-5")
        page.fill("#csat-comment-input", "Письмо нашлось в «Спаме», спасибо!")
        page.click("#send-csat")
        expect(page.locator("#csat-given")).to_have_text("5 из 5 — Отлично")
        expect(page.locator("#csat-form")).to_have_count(0)
        page.screenshot(path=shots / "08-rated.png", full_page=True)

        stranger = browser.new_context(**phone).new_page()
        sign_up(stranger, portal, "Чужой Клиент")
        response = stranger.goto(f"{portal}/my/tickets/{number}")
        assert response.status == 404, response.status
        expect(stranger.locator("main")).not_to_contain_text(PROBLEM)
        expect(stranger.locator("h1")).to_have_text("Не найдено")
        stranger.screenshot(path=shots / "09-other-customer-gets-404.png", full_page=True)
        browser.close()
    print(f"browser flow passed for ticket #{number}")


def run_script(module: str, portal: str, agent_token: str, shots: Path) -> list[str]:
    """Run a browser script (``python -m module PORTAL TOKEN DIR``) in its own process, assert
    that it passed, and return the names of the screenshots it saved."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLAYWRIGHT_")}
    env["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1"
    run = subprocess.run([sys.executable, "-m", module, portal, agent_token, str(shots)],
                         env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    return sorted(p.stem for p in shots.glob("*.png"))


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
