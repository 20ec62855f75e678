"""Knowledge gaps in real headless Chromium (run by test_gaps_browser.py in its own process,
like browser_flow.py): five solved tickets on one problem, three in English and two in Russian,
are one gap on the supervisor's gaps page; "Draft an article" makes an English draft and its
Russian translation from their answers (personal data removed); the editor edits the English
one and publishes both; then a customer typing the problem on the request form is suggested
the article, in English and in Russian; those visits show in the dashboard's funnel.

Usage: python -m tests.e2e.gaps_browser_flow PORTAL_URL AGENT_TOKEN SCREENSHOT_DIR"""
from __future__ import annotations

import re
import sys
import uuid
from pathlib import Path

import requests
from playwright.sync_api import expect, sync_playwright

from tests.e2e.browser_flow import CHROMIUM, FLAGS
from tests.e2e.conftest import STAFF, sign_up
from tests.e2e.console_browser_flow import api, sign_in

TICKETS = [
    ("en", "Exported CSV shows garbled characters in Excel",
     "When I open the exported report in Excel the letters turn into strange symbols."),
    ("ru", "Кракозябры в выгруженном CSV в Excel",
     "Открываю выгруженный отчёт в Excel, а вместо русских букв непонятные символы."),
    ("en", "Report export unreadable in Excel",
     "The CSV export opens in Excel with weird characters instead of names."),
    ("ru", "Отчёт в Excel открывается с иероглифами",
     "После выгрузки отчёта в CSV Excel показывает иероглифы вместо текста."),
    ("en", "Strange symbols after exporting report to CSV",
     "Exported CSV file shows question marks and symbols when opened in Excel."),
]
ANSWERS = {"en": "Hello {name}, in Excel open Data > From Text/CSV, choose the file and pick "
                 "UTF-8 as the file origin; the names show correctly. Regards, Anna",
           "ru": "Здравствуйте, {name}! В Excel откройте Данные > Из текстового/CSV файла, "
                 "выберите файл и кодировку UTF-8 — буквы отобразятся правильно."}
QUESTIONS = {"en": "exported csv has weird symbols when I open it in excel",
             "ru": "в экселе непонятные символы вместо букв после выгрузки csv"}
EDITED_TITLE = "Garbled characters when opening an exported CSV in Excel"


def solved_tickets(portal: str, agent_token: str) -> list[int]:
    numbers = []
    for i, (language, subject, description) in enumerate(TICKETS):
        name = ["Peter Brown", "Ольга Смирнова", "Mary Jones", "Иван Петров", "Tom Hill"][i]
        email = f"csv-{uuid.uuid4().hex[:8]}@example.com"
        sign_up(portal, email, "csv-pass-12", name, language)
        token = requests.post(f"{portal}/api/auth/token", timeout=10, json={
            "email": email, "password": "csv-pass-12"}).json()["token"]
        number = api(portal, "POST", "/api/tickets", token, json={
            "subject": subject, "description": description, "department": "technical",
            "language": language})["number"]
        api(portal, "POST", f"/api/tickets/{number}/messages", agent_token,
            json={"body": ANSWERS[language].format(name=name.split()[0])})
        api(portal, "POST", f"/api/tickets/{number}/status", agent_token,
            json={"status": "solved"})
        numbers.append(number)
    return numbers


def suggested(browser, portal: str, language: str, article_id: str, shots: Path, shot: str):
    page = browser.new_context(locale=f"{language}-{language.upper()}").new_page()
    page.goto(f"{portal}/?lang={language}")
    page.fill("#subject", QUESTIONS[language])
    # Card links carry the question typed (?q=...).
    link = f'a.title[href^="/kb/{article_id}?"], a.title[href="/kb/{article_id}"]'
    card = page.locator("#suggestions li.suggestion", has=page.locator(link))
    expect(card).to_be_visible(timeout=20_000)
    page.screenshot(path=shots / f"{shot}.png", full_page=True)
    page.context.close()


def run(portal: str, agent_token: str, shots: Path) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    numbers = solved_tickets(portal, agent_token)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        editor = browser.new_context(locale="en-US").new_page()
        sign_in(editor, portal, STAFF["admin"])

        # The five tickets are one gap (both languages), once search has encoded them.
        row = editor.locator("#gaps-table tr.gap", has=editor.locator(
            f'a[href$="/agent/tickets/{numbers[0]}"]'))
        for _ in range(30):
            editor.goto(f"{portal}/supervisor/gaps?days=7&lang=en")
            if row.count() and all(row.locator(f'a[href$="/agent/tickets/{n}"]').count()
                                   for n in numbers):
                break
            editor.wait_for_timeout(1000)
        for n in numbers:
            expect(row.locator(f'a[href$="/agent/tickets/{n}"]')).to_have_count(1)
        expect(row).to_contain_text("en: 3")
        expect(row).to_contain_text("ru: 2")
        editor.screenshot(path=shots / "01-gap-of-five-tickets.png", full_page=True)

        # A draft from the gap: English first, the Russian one its translation.
        row.locator("button.make-draft").click()
        expect(editor).to_have_url(re.compile(r"/admin/articles\?article=gap-[0-9a-f]+-en"))
        english_id = re.search(r"article=(gap-[0-9a-f]+-en)", editor.url).group(1)
        russian_id = english_id[:-2] + "ru"
        body = editor.locator("#article-body")
        expect(body).to_contain_text("UTF-8")
        for personal in ("Peter", "Mary", "Tom", "Anna", "Ольга", "Иван"):
            assert personal not in body.input_value(), body.input_value()
        editor.screenshot(path=shots / "02-draft-for-review.png", full_page=True)

        # The editor edits and publishes both languages through the knowledge-base page.
        editor.fill("#article-title", EDITED_TITLE)
        editor.click("#save-article")
        expect(editor.locator(f"#article-{english_id}")).to_contain_text(EDITED_TITLE)
        editor.click(f"#publish-{english_id}")
        expect(editor.locator(f"#unpublish-{english_id}")).to_be_visible()
        editor.click(f"#publish-{russian_id}")
        expect(editor.locator(f"#unpublish-{russian_id}")).to_be_visible()
        editor.screenshot(path=shots / "03-published.png", full_page=True)

        # Customers asking about the problem are suggested the article, in their language.
        suggested(browser, portal, "en", english_id, shots, "04-suggested-in-english")
        suggested(browser, portal, "ru", russian_id, shots, "05-suggested-in-russian")

        # Covered now: the gap is gone from the list.
        for _ in range(20):
            editor.goto(f"{portal}/supervisor/gaps?days=7&lang=en")
            if not row.count():
                break
            editor.wait_for_timeout(1000)
        expect(row).to_have_count(0)
        editor.screenshot(path=shots / "06-gap-covered.png", full_page=True)

        # The two customers' visits (suggest.js's visit id) are in the dashboard's funnel,
        # drawn without a script error.
        errors: list[str] = []
        editor.on("pageerror", lambda exc: errors.append(str(exc)))
        editor.goto(f"{portal}/supervisor?days=1&lang=en")
        for language in ("en", "ru"):
            shown = editor.locator(f'#funnel-table tr[data-language="{language}"] td.shown')
            assert int(shown.inner_text()) >= 1, language
        assert editor.evaluate(
            "Chart.getChart(document.getElementById('chart-funnel')) !== undefined")
        assert not errors, errors
        editor.locator("#funnel").scroll_into_view_if_needed()
        editor.screenshot(path=shots / "07-dashboard-funnel.png", full_page=True)
        browser.close()


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
