"""Filing without signing in under a registered customer's address (issue 12, item 2): the
answer gives nothing of the account away, a retry under the same key does not hand out the
thread, agents see the sender is unverified, and the account's organization and plan apply
only once the sender confirms by the link mailed to the address (SLA then re-picks its
policy).  Over HTTP against the whole stack."""
import os
import re
import uuid

import requests

from tests.e2e.conftest import STAFF, Browser, api_token, bearer, mails_to, new_customer
from tests.support import eventually

SENT = {"subject": "Someone else's request", "description": "Filed under your address",
        "department": "general", "language": "en"}


def test_anonymous_filing_under_a_registered_address(portal, mail_sink):
    admin = bearer(api_token(portal, STAFF["admin"]))
    agent = bearer(api_token(portal, STAFF["agent"]))
    customer = new_customer(portal, name="Private Person")
    plan = f"gold-{uuid.uuid4().hex[:8]}"
    assert requests.post(f"{portal}/api/users/{customer['id']}/customer", headers=admin,
                         timeout=10, json={"organization": "acme-privacy",
                                           "plan": plan}).status_code == 200
    policy_url = f"{portal}/api/sla/policies/{plan}"
    assert requests.put(policy_url, headers=admin, timeout=10, json={
        "name": "Gold customers", "priority": "normal", "plan": plan,
        "targets": {"first_response": 15, "resolution": 120}}).status_code == 200
    try:
        check_anonymous_filing(portal, mail_sink, customer, plan, agent)
    finally:
        requests.delete(policy_url, headers=admin, timeout=10)


def check_anonymous_filing(portal, mail_sink, customer, plan, agent):
    sent = dict(SENT, requester_email=customer["email"])
    key = {"Idempotency-Key": f"privacy-{uuid.uuid4().hex}"}
    filed = requests.post(f"{portal}/api/tickets", json=sent, headers=key, timeout=20)
    assert filed.status_code == 201, filed.text
    answer = filed.json()
    number = answer.pop("number")
    # Only what was sent (with the documented defaults) and the number: no requester_id,
    # name, organization or plan of the account behind the address.
    assert set(answer) <= set(sent) | {"category", "priority", "tags", "requester_name"}
    assert {k: answer[k] for k in sent} == sent
    assert answer.get("requester_name") is None
    assert customer["id"] not in filed.text and "acme-privacy" not in filed.text
    assert plan not in filed.text and "Private Person" not in filed.text

    # Agents see the ticket as from an unverified sender, without the account's terms.
    ticket = requests.get(f"{portal}/api/tickets/{number}", headers=agent, timeout=10).json()
    assert ticket["requester_verified"] is False
    assert ticket["organization"] is None and ticket["plan"] is None
    anna = Browser(portal).sign_in(STAFF["agent"], "demo-pass-1")
    workspace = anna.get(f"{portal}/agent/tickets/{number}?lang=en", timeout=10).text
    assert 'id="unverified-sender"' in workspace and "Unverified sender" in workspace
    assert "Отправитель не подтверждён" in anna.get(
        f"{portal}/agent/tickets/{number}?lang=ru", timeout=10).text

    # A staff reply, then the same request again under the same key: the minimal answer,
    # never the thread.
    reply = requests.post(f"{portal}/api/tickets/{number}/messages", headers=agent, timeout=10,
                          json={"body": "Staff-only-looking reply 7f3a"})
    assert reply.status_code == 201, reply.text
    again = requests.post(f"{portal}/api/tickets", json=sent, headers=key, timeout=20)
    assert again.status_code == 200, again.text
    assert again.json() == dict(answer, number=number)
    assert "7f3a" not in again.text and "messages" not in again.json()

    # The address's owner confirms by the mailed link, built on the configured portal URL.
    def confirm_mail():
        for mail in mails_to(mail_sink, customer["email"]):
            text = mail.get_payload(decode=True).decode()
            if f"#{number}" in mail["Subject"] and "/tickets/confirm/" in text:
                return text
    link = re.search(r"(\S+)/tickets/confirm/(\S+)", eventually(confirm_mail)).groups()
    assert link[0] == os.environ.get("HELPDESK_PUBLIC_URL", portal).rstrip("/")
    page = f"/tickets/confirm/{link[1]}"
    stranger = Browser(portal)
    assert stranger.get(f"{portal}{page[:-3]}xyz", timeout=10).status_code == 400  # forged
    shown = stranger.get(f"{portal}{page}", timeout=10)  # a scanner opening it changes nothing
    assert shown.status_code == 200 and 'id="confirm-form"' in shown.text
    assert requests.get(f"{portal}/api/tickets/{number}", headers=agent,
                        timeout=10).json()["requester_verified"] is False
    confirmed = stranger.submit(page, page, {})
    assert confirmed.status_code == 200 and f"#{number}" in confirmed.text

    ticket = requests.get(f"{portal}/api/tickets/{number}", headers=agent, timeout=10).json()
    assert ticket["requester_verified"] is True
    assert (ticket["organization"], ticket["plan"]) == ("acme-privacy", plan)
    # SLA heard of the plan (an event) and moved the ticket to the plan's policy.
    eventually(lambda: (requests.get(f"{portal}/api/tickets/{number}", headers=agent,
                                     timeout=10).json().get("sla") or {}).get("policy_id")
               == plan, timeout=30)
    assert 'id="unverified-sender"' not in anna.get(f"{portal}/agent/tickets/{number}",
                                                    timeout=10).text


def test_signed_in_filing_is_verified_with_the_account_terms(portal):
    admin = bearer(api_token(portal, STAFF["admin"]))
    customer = new_customer(portal)
    requests.post(f"{portal}/api/users/{customer['id']}/customer", headers=admin, timeout=10,
                  json={"organization": "signed-org", "plan": "silver"})
    filed = requests.post(f"{portal}/api/tickets", json=SENT, timeout=20,
                          headers=bearer(customer["token"]))
    assert filed.status_code == 201, filed.text
    ticket = filed.json()
    assert ticket["requester_id"] == customer["id"] and ticket["requester_verified"] is True
    assert (ticket["organization"], ticket["plan"]) == ("signed-org", "silver")
