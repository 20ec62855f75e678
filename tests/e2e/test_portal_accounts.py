"""Accounts through the pages and the API: sign up, sign in and out, CSRF on forms, password
reset by emailed link (a real SMTP sink), throttling, escaping, and the language switch."""
import re
import uuid

import requests

from tests.e2e.conftest import (DEMO_PASSWORD, STAFF, Browser, api_token, bearer, emailed_link,
                                new_customer)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
XSS_FILENAME = "<img src=x onerror=alert(1)>.txt"


def test_sign_up_sign_out_and_back_in_with_pages(portal):
    browser = Browser(portal)
    email = f"page-{uuid.uuid4().hex[:8]}@example.com"
    asked = browser.submit("/signup?lang=ru", "/signup", {
        "name": "Пётр", "email": email, "password": "long-enough-1"}, allow_redirects=False)
    assert asked.status_code == 200 and 'id="signup-sent"' in asked.text, asked.text
    link = emailed_link(email, r"http://\S+(/signup/confirm/\S+)").group(1)
    opened = browser.get(f"{portal}{link}", timeout=10)  # a page with a button: a mail
    assert opened.status_code == 200 and "Пётр" not in opened.text  # scanner's GET does nothing
    made = browser.submit(link, link, {}, allow_redirects=False)
    assert made.status_code == 303, made.text
    again = browser.submit(link, link, {}, allow_redirects=False)
    assert again.status_code == 400  # a link works once
    home = browser.get(f"{portal}/", timeout=10)
    assert "Пётр" in home.text and "Выйти" in home.text  # the language chosen at sign-up stays
    assert browser.submit("/", "/signout", {}, allow_redirects=False).status_code == 303
    mine = browser.get(f"{portal}/my/tickets", timeout=10, allow_redirects=False)
    assert mine.status_code == 302 and "/signin" in mine.headers["Location"]
    browser.sign_in(email, "long-enough-1")
    assert browser.get(f"{portal}/my/tickets", timeout=10).status_code == 200


def test_forms_without_a_csrf_token_are_refused(portal):
    customer = new_customer(portal)
    browser = Browser(portal).sign_in(customer["email"], customer["password"])
    forged = browser.post(f"{portal}/tickets", timeout=10, data={
        "subject": "forged", "description": "from another site"})
    assert forged.status_code == 400 and "expired" in forged.text
    other_token = Browser(portal).csrf("/signin")  # a valid token of someone else's session
    forged = browser.post(f"{portal}/signout", data={"csrf_token": other_token}, timeout=10)
    assert forged.status_code == 400
    assert browser.get(f"{portal}/my/tickets", timeout=10).url.endswith("/my/tickets")


def test_password_reset_by_emailed_link(portal, mail_sink):
    customer = new_customer(portal)
    asked = requests.post(f"{portal}/api/auth/password-reset", timeout=10,
                          json={"email": customer["email"]})
    assert asked.status_code == 202
    unknown = requests.post(f"{portal}/api/auth/password-reset", timeout=10,
                            json={"email": "nobody-here@example.com"})
    assert unknown.status_code == 202  # no hint whether an account exists
    link = emailed_link(customer["email"], r"(http://\S+/password/reset/(\S+))")
    browser = Browser(portal)
    done = browser.submit(link.group(1).removeprefix(portal), link.group(1).removeprefix(portal),
                          {"password": "brand-new-pass-1"}, allow_redirects=False)
    assert done.status_code == 303
    assert api_token(portal, customer["email"], "brand-new-pass-1")
    old = requests.post(f"{portal}/api/auth/token", timeout=10,
                        json={"email": customer["email"], "password": customer["password"]})
    assert old.status_code == 401
    # The old token died with the old password, and the link works only once.
    assert requests.get(f"{portal}/api/me", headers=bearer(customer["token"]),
                        timeout=10).status_code == 401
    again = requests.post(f"{portal}/api/auth/password-reset/confirm", timeout=10,
                          json={"token": link.group(2), "password": "another-pass-12"})
    assert again.status_code == 400 and "token" in again.json()["errors"]


def test_repeated_wrong_passwords_are_throttled(portal):
    customer = new_customer(portal)
    codes = [requests.post(f"{portal}/api/auth/token", timeout=10, json={
        "email": customer["email"], "password": "wrong"}).status_code for _ in range(6)]
    assert codes[:5] == [401] * 5 and codes[5] == 429
    locked = requests.post(f"{portal}/api/auth/token", timeout=10, json={
        "email": customer["email"], "password": customer["password"]})
    assert locked.status_code == 429 and "errors" in locked.json()
    assert "Retry-After" in locked.headers


def test_ticket_creation_is_rate_limited_per_requester(portal):
    customer = new_customer(portal)
    ticket = {"subject": "Rate limit probe", "description": "one of many"}
    codes = [requests.post(f"{portal}/api/tickets", json=ticket, timeout=10,
                           headers=bearer(customer["token"])).status_code for _ in range(11)]
    assert codes[:10] == [201] * 10 and codes[10] == 429


def test_tickets_filed_through_the_form_count_against_the_same_limit(portal, agent_token):
    customer = new_customer(portal)
    browser = Browser(portal).sign_in(customer["email"], customer["password"])
    ticket = {"subject": "Form rate limit probe", "description": "one of many",
              "department": "technical"}
    replies = [browser.submit("/", "/tickets", ticket, allow_redirects=False)
               for _ in range(11)]
    assert [r.status_code for r in replies] == [303] * 10 + [429]
    for filed in replies[:10]:  # give the agents' capacity back to the modules after this one
        number = filed.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        solved = requests.post(f"{portal}/api/tickets/{number}/status",
                               json={"status": "solved"}, headers=bearer(agent_token), timeout=10)
        assert solved.status_code == 200, solved.text


def test_stored_markup_renders_inert(portal, agent_token):
    customer = new_customer(portal, name=XSS)
    filed = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                          json={"subject": XSS, "description": XSS})
    number = filed.json()["number"]
    requests.post(f"{portal}/api/tickets/{number}/messages", headers=bearer(agent_token),
                  json={"body": XSS}, timeout=10)
    browser = Browser(portal).sign_in(customer["email"], customer["password"])
    uploaded = browser.submit(f"/my/tickets/{number}", f"/my/tickets/{number}/attachments", {},
                              files={"files": (XSS_FILENAME, b"inert", "text/plain")})
    assert uploaded.status_code == 200 and 'id="attachment-list"' in uploaded.text
    for path in (f"/my/tickets/{number}", "/my/tickets", "/"):
        page = browser.get(f"{portal}{path}", timeout=10).text
        assert "<script>alert" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;" in page, path
    agent = Browser(portal).sign_in(STAFF["agent"], DEMO_PASSWORD)
    workspace = agent.get(f"{portal}/agent/tickets/{number}", timeout=10).text
    assert "<script>alert" not in workspace and "<img src=x" not in workspace
    assert "&lt;script&gt;" in workspace and "onerror" in workspace  # the file is listed
    for page in (browser.get(f"{portal}/my/tickets/{number}", timeout=10).text, workspace):
        listed = re.search(r'id="attachment-list">(.*?)</ul>', page, re.S).group(1)
        assert "onerror" in listed and "<img" not in listed


def test_a_refused_file_with_markup_in_its_name_renders_inert(portal):
    customer = new_customer(portal)
    filed = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                          json={"subject": "Refused markup", "description": "d"})
    number = filed.json()["number"]
    browser = Browser(portal).sign_in(customer["email"], customer["password"])
    refused = browser.submit(f"/my/tickets/{number}", f"/my/tickets/{number}/attachments", {},
                             files={"files": ("<img src=x onerror=alert(1)>.exe", b"MZ",
                                              "application/octet-stream")})
    assert refused.status_code == 400
    assert "<img src=x" not in refused.text and "&lt;img src=x onerror=alert(1)&gt;.exe" in refused.text


def test_language_switch_is_remembered(portal):
    browser = Browser(portal)
    assert "Опишите вашу проблему" in browser.get(f"{portal}/?lang=ru", timeout=10).text
    assert "База знаний" in browser.get(f"{portal}/kb", timeout=10).text
    assert "Describe your problem" in browser.get(f"{portal}/?lang=en", timeout=10).text


def test_signing_up_with_an_address_that_filed_before_needs_the_mailbox(portal, mail_sink):
    email = f"earlier-{uuid.uuid4().hex[:8]}@example.com"
    filed = requests.post(f"{portal}/api/tickets", timeout=10, json={
        "subject": "Filed without an account", "description": "d", "requester_email": email})
    assert filed.status_code == 201
    claim = requests.post(f"{portal}/api/auth/signup", timeout=10, json={
        "email": email, "password": "attacker-pass-1", "name": "Not the owner"})
    assert claim.status_code == 202
    assert requests.post(f"{portal}/api/auth/token", timeout=10, json={
        "email": email, "password": "attacker-pass-1"}).status_code == 401
    # Only whoever reads that mailbox can finish it (the link sets the password asked for).
    token = emailed_link(email, r"/signup/confirm/(\S+)").group(1)
    made = requests.post(f"{portal}/api/auth/signup/confirm", json={"token": token}, timeout=10)
    assert made.status_code == 201 and made.json()["email"] == email
    assert api_token(portal, email, "attacker-pass-1")
