"""The first flow over HTTP against the whole stack: file -> routed -> clocked -> solved ->
suggested to the next customer who asks."""
import os
import uuid

import pytest
import requests
from pymongo import MongoClient

from tests.e2e.conftest import Browser
from tests.support import eventually

TICKET = {"subject": "Не могу войти: не приходит письмо для сброса пароля",
          "description": "Нажимаю «Забыли пароль», письмо не приходит уже час.",
          "department": "technical", "priority": "high", "language": "ru",
          "requester_email": "e2e-customer@example.com"}


def test_ticket_flows_from_filing_to_suggestion(portal, agent_token):
    auth = {"Authorization": f"Bearer {agent_token}"}
    filed = requests.post(f"{portal}/api/tickets", json=TICKET, timeout=10)
    assert filed.status_code == 201, filed.text
    number = filed.json()["number"]
    # Not signed in: the answer is what was sent plus the number (test_requester_privacy.py).
    assert "requester_id" not in filed.json() and filed.json()["subject"] == TICKET["subject"]

    routed = eventually(lambda: (t := requests.get(f"{portal}/api/tickets/{number}",
                                                   headers=auth, timeout=10).json())
                        ["assignee_id"] and t["sla"] and t)
    assert routed["assignee_id"] in ("agent-anna", "agent-boris")  # the technical department
    assert routed["sla"]["policy_id"] == "high"

    reply = requests.post(f"{portal}/api/tickets/{number}/messages", headers=auth, timeout=10,
                          json={"body": "Письмо уходит в «Спам»: добавьте наш адрес в контакты "
                                        "и запросите сброс пароля ещё раз."})
    assert reply.status_code == 201, reply.text
    solved = requests.post(f"{portal}/api/tickets/{number}/status", headers=auth, timeout=10,
                           json={"status": "solved"})
    assert solved.status_code == 200 and solved.json()["status"] == "solved", solved.text

    # An agent sees it among similar solved tickets; the public never gets the ticket
    # itself, only once an agent approves its answer (personal data removed).
    similar = eventually(lambda: requests.get(f"{portal}/api/tickets/{number}/similar",
                                              headers=auth, timeout=10).status_code == 200)
    assert similar
    draft = requests.get(f"{portal}/api/tickets/{number}/answer-draft", headers=auth, timeout=10)
    assert draft.status_code == 200, draft.text
    assert requests.get(f"{portal}/api/tickets/{number}/answer-draft", timeout=10
                        ).status_code == 401
    approved = requests.post(f"{portal}/api/tickets/{number}/answer", headers=auth, timeout=10,
                             json={"title": draft.json()["title"], "body": draft.json()["body"]})
    assert approved.status_code == 201, approved.text

    def suggested():
        found = requests.get(f"{portal}/api/suggest", timeout=10,
                             params={"q": "пароль сброс не приходит", "language": "ru"}).json()
        return [r for r in found["results"] if r["kind"] == "answer" and "Спам" in r["snippet"]]

    hit = eventually(suggested, timeout=20)[0]
    assert hit["number"] is None and hit["id"].startswith("answer-")
    assert all(r["kind"] != "ticket" for r in requests.get(
        f"{portal}/api/suggest", timeout=10,
        params={"q": "пароль сброс не приходит", "language": "ru"}).json()["results"])


def test_idempotency_key_over_http(portal):
    key = uuid.uuid4().hex
    headers = {"Idempotency-Key": key}
    first = requests.post(f"{portal}/api/tickets", json=TICKET, headers=headers, timeout=10)
    again = requests.post(f"{portal}/api/tickets", json=TICKET, headers=headers, timeout=10)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["number"] == again.json()["number"]
    # The key again with another request: 422 naming the key, not the first ticket.
    other = requests.post(f"{portal}/api/tickets", json=dict(TICKET, subject="Something else"),
                          headers=headers, timeout=10)
    assert other.status_code == 422 and "idempotency_key" in other.json()["errors"]
    assert first.json()["subject"] not in other.text


def test_idempotency_key_of_another_requester_files_a_new_ticket(portal):
    """Keys belong to their requester: an anonymous caller who sends a key someone else
    already used (guessed, or the same client library default) gets a ticket of their own,
    never the other requester's."""
    key = uuid.uuid4().hex
    private = dict(TICKET, subject="Account 4711: refund", description="IBAN DE00 1234 secret",
                   requester_email=f"first-{key[:8]}@example.com")
    mine = dict(TICKET, subject="Printer jams", description="It jams on page 2",
                requester_email=f"second-{key[:8]}@example.com")
    first = requests.post(f"{portal}/api/tickets", json=private, timeout=10,
                          headers={"Idempotency-Key": key})
    second = requests.post(f"{portal}/api/tickets", json=mine, timeout=10,
                           headers={"Idempotency-Key": key})
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json()["number"] != first.json()["number"]
    assert (second.json()["subject"], second.json()["description"]) == (
        "Printer jams", "It jams on page 2")
    assert "4711" not in second.text and "IBAN" not in second.text
    # The second caller's own retry still finds their own ticket.
    retry = requests.post(f"{portal}/api/tickets", json=mine, timeout=10,
                          headers={"Idempotency-Key": key})
    assert retry.status_code == 200 and retry.json()["number"] == second.json()["number"]


def _database(service: str):
    client = MongoClient(os.environ["HELPDESK_MONGO_URI"])
    return client[f"{os.environ.get('HELPDESK_MONGO_DB', 'helpdesk')}_{service}"]


def _written_state() -> dict:
    """What filing a ticket touches: intake's tickets, its ticket-number counter and outbox,
    and the portal's accounts (a requester may get one)."""
    intake, portal = _database("intake"), _database("portal")
    counter = intake.counters.find_one({"_id": "ticket_number"}) or {}
    return {"tickets": intake.tickets.count_documents({}),
            "ticket_number": counter.get("value"),
            "outbox": intake.outbox.count_documents({}),
            "users": portal.users.count_documents({})}


@pytest.mark.parametrize("body, field", [
    ({"description": "d", "requester_email": "a@example.com"}, "subject"),
    ({"subject": "s" * 1_000_000, "description": "d", "requester_email": "a@example.com"},
     "subject"),
    ({"subject": ["s"], "description": "d", "requester_email": "a@example.com"}, "subject"),
    ({"subject": "s", "description": "d", "priority": "asap",
      "requester_email": "a@example.com"}, "priority"),
    ({"subject": {"$gt": ""}, "description": "d", "requester_email": "a@example.com"},
     "subject"),
    ({"subject": "s", "description": "d", "requester_email": {"$ne": None}}, "requester_email"),
    ({"subject": "s", "description": "d"}, "requester_email"),
    # A line break would let the subject add headers to the notification mails.
    ({"subject": "Hello\r\nBcc: x@y", "description": "d", "requester_email": "a@example.com"},
     "subject"),
    ({"subject": "s", "description": "d", "requester_name": "Ann\nBcc: x@y",
      "requester_email": "a@example.com"}, "requester_name"),
])
def test_bad_ticket_input_gets_400_with_field_messages(portal, body, field):
    # Earlier tests' events drain from the outbox within a second; start from a quiet one.
    before = eventually(lambda: (state := _written_state())["outbox"] == 0 and state)
    reply = requests.post(f"{portal}/api/tickets", json=body, timeout=10)
    assert reply.status_code == 400, reply.text
    assert field in reply.json()["errors"]
    assert _written_state() == before


@pytest.mark.parametrize("data, content_type", [
    ("not json", "application/json"),
    ("[1, 2]", "application/json"),
    ("subject=x", "application/x-www-form-urlencoded"),
])
def test_non_object_bodies_get_400(portal, data, content_type):
    reply = requests.post(f"{portal}/api/tickets", data=data, timeout=10,
                          headers={"Content-Type": content_type})
    assert reply.status_code == 400
    assert "_schema" in reply.json()["errors"]


def test_portal_home_and_api_docs_render(portal):
    home = requests.get(f"{portal}/?lang=ru", timeout=10)
    assert home.status_code == 200 and "Опишите вашу проблему" in home.text
    assert "Content-Security-Policy" in home.headers
    spec = requests.get(f"{portal}/api/openapi.json", timeout=10).json()
    assert spec["openapi"].startswith("3.") and "/api/tickets" in spec["paths"]


def test_web_form_files_a_ticket(portal):
    browser = Browser(portal)
    reply = browser.submit("/?lang=en", "/tickets", {
        "subject": "Printer on fire", "description": "It is really on fire",
        "requester_email": "form@example.com", "department": "general", "priority": "urgent",
        "language": "en"})
    assert reply.status_code == 201 and "has been received" in reply.text
    bad = browser.submit("/", "/tickets", {"subject": "", "description": ""})
    assert bad.status_code == 400 and "Please correct" in bad.text


@pytest.mark.parametrize("lang, message", [
    ("en", "Write this on one line, without line breaks or control characters."),
    ("ru", "Напишите это в одну строку, без переносов строк и управляющих символов."),
])
def test_web_form_refuses_a_subject_with_line_breaks(portal, lang, message):
    before = eventually(lambda: (state := _written_state())["outbox"] == 0 and state)
    browser = Browser(portal)
    reply = browser.submit(f"/?lang={lang}", f"/tickets?lang={lang}", {
        "subject": "Printer\r\nBcc: x@y", "description": "It jams",
        "requester_email": "form@example.com", "department": "general", "language": lang})
    assert reply.status_code == 400 and message in reply.text
    assert _written_state() == before
