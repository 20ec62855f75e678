"""The knowledge base pages and "this solved it", over HTTP against the whole stack."""
import os
import re

import requests
from pymongo import MongoClient

from tests.e2e.conftest import Browser


def _feedback_count(target_id: str) -> int:
    client = MongoClient(os.environ["HELPDESK_MONGO_URI"])
    db = client[f"{os.environ.get('HELPDESK_MONGO_DB', 'helpdesk')}_search"]
    return db.feedback.count_documents({"result_id": target_id, "solved": True})


def test_knowledge_base_browse_search_and_read_in_russian(portal):
    browser = Browser(portal)
    listing = browser.get(f"{portal}/kb?lang=ru", timeout=10).text
    assert "Как сбросить пароль" in listing and "How to reset your password" not in listing
    found = browser.get(f"{portal}/kb", params={"q": "сбросить пароль"}, timeout=10).text
    assert 'href="/kb/reset-password-ru"' in found
    assert "/?subject=" in found  # "still need help?" carries the question to the form
    article = browser.get(f"{portal}/kb/reset-password-ru", timeout=10)
    assert article.status_code == 200 and "Это помогло" in article.text
    assert browser.get(f"{portal}/kb/no-such-article", timeout=10).status_code == 404


def test_home_form_is_prefilled_from_the_question(portal):
    home = requests.get(f"{portal}/", params={"subject": "Не приходит <письмо>"}, timeout=10)
    assert re.search(r'id="subject"[^>]*value="Не приходит &lt;письмо&gt;"', home.text)


def test_this_solved_it_is_recorded(portal):
    before = _feedback_count("reset-password")
    browser = Browser(portal)
    thanked = browser.submit("/kb/reset-password", "/kb/reset-password/solved", {})
    assert thanked.status_code == 200 and "Glad it helped" in thanked.text
    api = requests.post(f"{portal}/api/feedback", timeout=10, json={
        "kind": "article", "id": "reset-password", "query": "forgot password"})
    assert api.status_code == 201
    assert _feedback_count("reset-password") == before + 2
    refused = requests.post(f"{portal}/kb/reset-password/solved", timeout=10)
    assert refused.status_code == 400  # no CSRF token
    assert _feedback_count("reset-password") == before + 2


def test_ticket_numbers_beyond_64_bits_are_simply_not_found(portal, agent_token):
    huge = "1550615601590572341600735371198464"  # once a 500, found by the fuzzer
    answer = requests.get(f"{portal}/api/tickets/{huge}", timeout=10,
                          headers={"Authorization": f"Bearer {agent_token}"})
    assert answer.status_code == 404 and answer.json()["errors"]
