"""Ticket extras over HTTP against the whole stack: staff edit + audit history, attachments
(customers only their own, notes' files hidden), canned responses, CSAT once, and the
SMTP listener process the stack starts."""
import os
import re
import smtplib
import uuid
from email.message import EmailMessage

import pytest
import requests

from tests.support import eventually


def token(portal, email):
    reply = requests.post(f"{portal}/api/auth/token", timeout=10,
                          json={"email": email, "password": "demo-pass-1"})
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


@pytest.fixture(scope="module")
def people(portal):
    return {"customer": token(portal, "customer@example.com"),
            "agent": token(portal, "agent.anna@example.com")}


def filed(portal, people):
    reply = requests.post(f"{portal}/api/tickets", headers=people["customer"], timeout=10,
                          json={"subject": "Extras " + uuid.uuid4().hex[:6],
                                "description": "The scanner is slow", "department": "technical"})
    assert reply.status_code == 201, reply.text
    return reply.json()["number"]


def test_edit_history_attachments_and_csat(portal, people):
    number = filed(portal, people)
    url = f"{portal}/api/tickets/{number}"
    assert requests.patch(url, json={"priority": "high"}, headers=people["customer"],
                          timeout=10).status_code == 403
    bad = requests.patch(url, json={"tags": ["<b>"]}, headers=people["agent"], timeout=10)
    assert bad.status_code == 400 and "tags" in bad.json()["errors"]
    edit = requests.patch(url, json={"priority": "high", "tags": ["Scanner "]},
                          headers=people["agent"], timeout=10)
    assert edit.status_code == 200 and edit.json()["tags"] == ["scanner"], edit.text
    history = requests.get(f"{url}/history", headers=people["agent"], timeout=10).json()
    assert ("priority", "normal", "high") in [(h["field"], h["old"], h["new"]) for h in history]
    assert requests.get(f"{url}/history", headers=people["customer"],
                        timeout=10).status_code == 403

    up = requests.post(f"{url}/attachments", headers=people["customer"], timeout=10,
                       files={"file": ("../scan.pdf", b"%PDF-1.4 test", "application/pdf")})
    assert up.status_code == 201, up.text
    assert up.json()["filename"] == "scan.pdf"
    note = requests.post(f"{url}/attachments", headers=people["agent"], timeout=10,
                         data={"public": "false"},
                         files={"file": ("notes.txt", b"internal", "text/plain")})
    assert note.status_code == 201, note.text
    down = requests.get(f"{url}/attachments/{up.json()['id']}", headers=people["customer"],
                        timeout=10)
    assert down.content == b"%PDF-1.4 test"
    assert down.headers["Content-Disposition"].startswith("attachment;")
    assert requests.get(f"{url}/attachments/{note.json()['id']}", headers=people["customer"],
                        timeout=10).status_code == 404
    exe = requests.post(f"{url}/attachments", headers=people["customer"], timeout=10,
                        files={"file": ("x.exe", b"MZ", "application/octet-stream")})
    assert exe.status_code == 400 and "filename" in exe.json()["errors"]

    canned = requests.post(f"{portal}/api/canned", headers=people["agent"], timeout=10,
                           json={"title": "Fixed", "body": "Hi $customer_name, fixed $ticket_number."})
    assert canned.status_code == 201, canned.text
    text = requests.get(f"{url}/canned/{canned.json()['id']}", headers=people["agent"],
                        timeout=10).json()["text"]
    assert text == f"Hi Carl Customer, fixed #{number}."

    requests.post(f"{url}/messages", json={"body": text}, headers=people["agent"], timeout=10)
    assert requests.post(f"{url}/status", json={"status": "solved"}, headers=people["agent"],
                         timeout=10).status_code == 200
    for wrong in ({"score": 0}, {"score": 6}, {"score": "5"}, {"score": 4.5}, {},
                  {"rating": "good"}):
        refused = requests.post(f"{url}/csat", json=wrong, headers=people["customer"],
                                timeout=10)
        assert refused.status_code == 400 and "score" in refused.json()["errors"], wrong
    assert requests.get(url, headers=people["customer"], timeout=10).json()["csat"] is None
    rated = requests.post(f"{url}/csat", json={"score": 5, "comment": "Thanks"},
                          headers=people["customer"], timeout=10)
    assert rated.status_code == 200 and rated.json()["csat"]["score"] == 5
    twice = requests.post(f"{url}/csat", json={"score": 1}, headers=people["customer"],
                          timeout=10)
    assert twice.status_code == 409
    assert requests.post(f"{portal}/api/csat/1.forged", json={"score": 1},
                         timeout=10).status_code == 404


def test_stack_runs_the_smtp_listener(portal, people):
    subject = "Mailed " + uuid.uuid4().hex[:6]
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "mailer@example.com", "help@desk.test", subject
    msg.set_content("Sent by email to the stack")
    with smtplib.SMTP("127.0.0.1", int(os.environ["HELPDESK_SMTP_PORT"]), timeout=30) as smtp:
        smtp.send_message(msg)
    tickets = eventually(lambda: [t for t in requests.get(
        f"{portal}/api/tickets", headers=people["agent"], params={"per_page": 100},
        timeout=10).json()["tickets"] if t["subject"] == subject])
    assert tickets[0]["channel"] == "email"


def test_csat_link_page(portal):
    browser = requests.Session()
    page = browser.get(f"{portal}/csat/1.forged?score=4", timeout=10)
    assert page.status_code == 200 and "<form" in page.text
    # The mail's link for one score preselects it; opening the link stores nothing.
    assert "value='4' required checked" in page.text and page.text.count("checked") == 1
    csrf = re.search(r"name='csrf_token' value='([^']+)'", page.text).group(1)
    assert browser.post(f"{portal}/csat/1.forged", data={"score": "5"},
                        timeout=10).status_code == 400  # no CSRF token: refused
    sent = browser.post(f"{portal}/csat/1.forged", data={"score": "5", "csrf_token": csrf},
                        timeout=10)
    assert sent.status_code == 404 and "not valid" in sent.text
    for wrong in ("x", "0", "6", "4.5", ""):
        refused = browser.post(f"{portal}/csat/1.forged",
                               data={"score": wrong, "csrf_token": csrf}, timeout=10)
        assert refused.status_code == 400 and "1 to 5" in refused.text
