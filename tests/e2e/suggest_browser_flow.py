"""Suggestions in real headless Chromium: a Russian question shows an English-only article,
"didn't help" is recorded (the server answered 201 and the card goes), going to the article and
Back keeps the typed subject.  Run by test_suggest_browser.py in its own process (see
browser_flow.py for why).

Usage: python -m tests.e2e.suggest_browser_flow PORTAL_URL AGENT_TOKEN SCREENSHOT_DIR"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

from tests.e2e.browser_flow import CHROMIUM, FLAGS

QUESTION = "ошибка 429 слишком много запросов к апи"


def english_only_article(portal: str, agent_token: str) -> dict:
    article = {"id": f"api-limit-{uuid.uuid4().hex[:6]}", "language": "en",
               "title": "API error 429: too many requests",
               "body": "The API allows 600 requests per minute per token. Above that it answers "
                       "429 Too Many Requests with a Retry-After header: wait, batch your calls "
                       "or ask for a higher limit."}
    created = requests.post(f"{portal}/api/admin/articles", json=article, timeout=10,
                            headers={"Authorization": f"Bearer {agent_token}"})
    assert created.status_code == 201, created.text
    # An agent's article waits for an editor, who publishes it.
    editor = requests.post(f"{portal}/api/auth/token", timeout=10, json={
        "email": "supervisor@example.com", "password": "demo-pass-1"}).json()["token"]
    published = requests.post(f"{portal}/api/admin/articles/{article['id']}/publish",
                              timeout=10, headers={"Authorization": f"Bearer {editor}"})
    assert published.status_code == 200, published.text
    return article


def run(portal: str, agent_token: str, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    article = english_only_article(portal, agent_token)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_context(locale="ru-RU").new_page()
        page.goto(f"{portal}/?lang=ru")
        page.fill("#subject", QUESTION)
        link = f'a.title[href="/kb/{article["id"]}"]'
        card = page.locator("#suggestions li.suggestion", has=page.locator(link))
        expect(card).to_be_visible(timeout=20_000)
        expect(card.locator("a.title")).to_have_text(article["title"])
        page.screenshot(path=shots / "01-english-answer-to-russian-question.png", full_page=True)

        # To the article and Back: the subject is still there.
        card.locator("a.title").click()
        expect(page.locator("h1")).to_contain_text(article["title"])
        page.go_back()
        expect(page.locator("#subject")).to_have_value(QUESTION)
        page.screenshot(path=shots / "02-subject-kept-after-back.png", full_page=True)

        card = page.locator("#suggestions li.suggestion", has=page.locator(link))
        expect(card).to_be_visible(timeout=20_000)
        with page.expect_response(lambda r: r.url.endswith("/api/suggest/feedback")) as sent:
            card.locator("button.not-helped").click()
        assert sent.value.status == 201, sent.value.status
        expect(page.locator(".not-helped-noted")).to_be_visible()
        expect(page.locator("#suggestions li.suggestion", has=page.locator(link))
               ).to_have_count(0)
        page.screenshot(path=shots / "03-didnt-help-recorded.png", full_page=True)
        browser.close()
    print("suggestion browser flow passed")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
