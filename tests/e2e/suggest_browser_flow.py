"""Suggestions in real headless Chromium: a Russian question shows an English-only article,
every card has a title and a link, going to the article and Back keeps the typed subject,
"didn't help" is recorded (the server answered 201 and the card goes); an approved answer opens
as a page of its own (Russian labels), where "didn't help" is recorded too.  Run by
test_suggest_browser.py in its own process (see browser_flow.py for why).

Usage: python -m tests.e2e.suggest_browser_flow PORTAL_URL AGENT_TOKEN SCREENSHOT_DIR"""
from __future__ import annotations

import sys
import uuid
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

from tests.e2e.browser_flow import CHROMIUM, FLAGS
from tests.support import eventually

QUESTION = "ошибка 429 слишком много запросов к апи"
ANSWER_QUESTION = "квокка принтер печатает пустые этикетки"


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


def approved_answer(portal: str, agent_token: str) -> dict:
    """A customer's solved ticket whose reply an agent approved for reuse."""
    auth = {"Authorization": f"Bearer {agent_token}"}
    filed = requests.post(f"{portal}/api/tickets", timeout=10, json={
        "subject": "Квокка-принтер печатает пустые этикетки",
        "description": "Принтер квокка выдаёт пустые этикетки после обновления.",
        "department": "technical", "language": "ru",
        "requester_email": f"quokka-{uuid.uuid4().hex[:6]}@example.com"})
    assert filed.status_code == 201, filed.text
    number = filed.json()["number"]
    replied = requests.post(f"{portal}/api/tickets/{number}/messages", headers=auth, timeout=10,
                            json={"body": "Квокка-принтер печатает пустые этикетки, когда лента "
                                          "вставлена обратной стороной: переверните ленту."})
    assert replied.status_code == 201, replied.text
    solved = requests.post(f"{portal}/api/tickets/{number}/status", headers=auth, timeout=10,
                           json={"status": "solved"})
    assert solved.status_code == 200, solved.text
    draft = eventually(lambda: (d := requests.get(f"{portal}/api/tickets/{number}/answer-draft",
                                                  headers=auth, timeout=10)).ok and d.json(),
                       timeout=30)
    approved = requests.post(f"{portal}/api/tickets/{number}/answer", headers=auth, timeout=10,
                             json={"title": draft["title"], "body": draft["body"]})
    assert approved.status_code == 201, approved.text
    return approved.json()


def ask(page, text: str, card) -> None:
    """Type ``text`` as the subject until ``card`` shows: on a loaded machine the portal may
    answer "degraded" (over its suggestion budget), and a reader would type on."""
    page.fill("#subject", text)
    for _ in range(5):
        try:
            expect(card).to_be_visible(timeout=10_000)
            return
        except AssertionError:
            page.press("#subject", "End")
            page.keyboard.type(" ")
            page.keyboard.press("Backspace")
    expect(card).to_be_visible(timeout=10_000)


def every_card_has_a_title_and_a_link(page) -> None:
    cards = page.locator("#suggestions li.suggestion")
    assert cards.count() > 0
    for i in range(cards.count()):
        title = cards.nth(i).locator("a.title")
        assert title.inner_text().strip(), cards.nth(i).inner_html()
        assert (title.get_attribute("href") or "").startswith(("/kb/", "/answers/", "/my/"))


def run(portal: str, agent_token: str, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    article = english_only_article(portal, agent_token)
    answer = approved_answer(portal, agent_token)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        page = browser.new_context(locale="ru-RU").new_page()
        page.goto(f"{portal}/?lang=ru")
        link = f'a.title[href^="/kb/{article["id"]}?"]'
        card = page.locator("#suggestions li.suggestion", has=page.locator(link))
        ask(page, QUESTION, card)
        expect(card.locator("a.title")).to_have_text(article["title"])
        every_card_has_a_title_and_a_link(page)
        page.screenshot(path=shots / "01-english-answer-to-russian-question.png", full_page=True)

        # To the article and Back: the subject is still there.
        card.locator("a.title").click()
        expect(page.locator("h1")).to_contain_text(article["title"])
        expect(page.locator("#not-helped")).to_be_visible()  # the article page asks too
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

        # An approved answer: a card like any other, opening as a page of its own.
        answer_link = f'a.title[href^="/answers/{answer["id"]}?"]'
        card = page.locator("#suggestions li.suggestion", has=page.locator(answer_link))
        ask(page, ANSWER_QUESTION, card)
        expect(card.locator(".kind")).to_have_text("Ответ нашей поддержки")
        every_card_has_a_title_and_a_link(page)
        card.locator("a.title").click()
        expect(page.locator("h1")).to_have_text(answer["title"])
        expect(page.locator(".article-body")).to_contain_text("переверните ленту")
        page.screenshot(path=shots / "04-approved-answer-page.png", full_page=True)
        page.locator("#not-helped").click()
        expect(page.locator("#feedback-noted")).to_contain_text("Спасибо, что сообщили")
        page.screenshot(path=shots / "05-didnt-help-on-the-answer-page.png", full_page=True)
        page.go_back()
        page.go_back()
        expect(page.locator("#subject")).to_have_value(ANSWER_QUESTION)
        browser.close()
    print("suggestion browser flow passed")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
