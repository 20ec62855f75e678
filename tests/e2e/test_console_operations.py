"""Ticket operations through the portal over HTTP and in real Chromium (issue 14): merging in
the workspace moves the thread (Chromium, screenshots under test-artifacts/console-merge/);
bulk merge from the queue; links shown in both workspaces and removable; a department move
from the workspace; following; an attachment on an agent's reply; Russian messages for a bad
number; department-scoped agents get 404 for tickets they cannot see."""
import re
import shutil
import uuid
from pathlib import Path

import requests

from tests.e2e.browser_flow import needs_chromium, run_script
from tests.e2e.conftest import (DEMO_PASSWORD, STAFF, Browser, bearer, department_scoping,
                                new_customer)
from tests.support import eventually

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console-merge"
BORIS = "agent.boris@example.com"  # technical only


@needs_chromium
def test_an_agent_merges_two_tickets_and_the_survivor_shows_the_combined_thread(
        portal, agent_token):
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    assert run_script("tests.e2e.console_merge_flow", portal, agent_token, ARTIFACTS) == [
        "01-merge-typed", "02-survivor-combined-thread", "03-duplicate-points-to-survivor",
        "04-customer-follows-the-link"]


def file(portal, customer, subject, department="technical"):
    made = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), json={
        "subject": subject, "description": f"About {subject}", "department": department,
        "language": "en"}, timeout=10)
    assert made.status_code == 201, made.text
    return made.json()["number"]


def staff(portal, role="agent"):
    return Browser(portal).sign_in(STAFF[role], DEMO_PASSWORD)


def test_bulk_merge_links_department_follow_and_attachments(portal):
    customer = new_customer(portal)
    survivor, dup1, dup2 = (file(portal, customer, f"Bulk {n} {uuid.uuid4().hex[:4]}")
                            for n in range(3))
    anna = staff(portal)
    queue = "/agent/queue/all"
    merged = anna.submit(queue, "/agent/queue/merge", {
        "numbers": [str(dup1), str(dup2), str(survivor)], "into": f"#{survivor}"},
        allow_redirects=False)
    assert merged.status_code == 303, merged.text
    page = anna.get(f"{portal}/agent/tickets/{survivor}", timeout=10).text
    assert "About Bulk 1" in page and "About Bulk 2" in page
    for dup in (dup1, dup2):
        api = requests.get(f"{portal}/api/tickets/{dup}", headers=bearer(customer["token"]),
                           timeout=10).json()
        assert (api["status"], api["merged_into"]) == ("closed", survivor)

    # Links: both workspaces show them; removable.
    other = file(portal, new_customer(portal), "Related outage")
    ws = f"/agent/tickets/{survivor}"
    assert anna.submit(ws, f"{ws}/links", {"other": str(other)},
                       allow_redirects=False).status_code == 303
    assert f'href="/agent/tickets/{other}"' in anna.get(f"{portal}{ws}", timeout=10).text
    assert f'href="/agent/tickets/{survivor}"' in anna.get(
        f"{portal}/agent/tickets/{other}", timeout=10).text
    assert anna.submit(ws, f"{ws}/links", {"other": str(other), "action": "unlink"},
                       allow_redirects=False).status_code == 303
    links = re.search(r'id="link-list">(.*?)</ul>', anna.get(f"{portal}{ws}", timeout=10).text,
                      re.S).group(1)
    assert f"/agent/tickets/{other}" not in links

    # A bad number: the message in Russian, nothing changed.
    bad = anna.submit(ws, f"{ws}/links?lang=ru", {"other": "abc"})
    assert bad.status_code == 400 and "Введите номер заявки." in bad.text
    assert "_schema" not in bad.text

    # Follow, and an attachment on an internal note.
    assert anna.submit(ws, f"{ws}/follow", {"following": "1"},
                       allow_redirects=False).status_code == 303
    assert "Anna Petrova" in re.search(r'id="follower-list">(.*?)</ul>', anna.get(
        f"{portal}{ws}", timeout=10).text, re.S).group(1)
    sent = anna.post(f"{portal}{ws}/message", timeout=10, allow_redirects=False, data={
        "csrf_token": anna.csrf(ws), "body": "Trace attached", "visibility": "internal"},
        files={"files": ("trace.log", b"12:00 timeout\n", "text/plain")})
    assert sent.status_code == 303, sent.text
    ticket = requests.get(f"{portal}/api/tickets/{survivor}",
                          headers=bearer(customer["token"]), timeout=10).json()
    assert "trace.log" not in str(ticket)  # a file of an internal note stays internal
    refused = anna.post(f"{portal}{ws}/message", timeout=10, data={
        "csrf_token": anna.csrf(ws), "body": "Program", "visibility": "public"},
        files={"files": ("run.exe", b"MZ", "application/octet-stream")})
    assert refused.status_code == 400 and "Program" in refused.text  # draft kept

    # Department move: routing and SLA follow (their outcome reaches intake by events).
    assert anna.submit(ws, f"{ws}/department", {"department": "billing"},
                       allow_redirects=False).status_code == 303
    sup = requests.post(f"{portal}/api/auth/token", json={
        "email": STAFF["supervisor"], "password": DEMO_PASSWORD}, timeout=10).json()["token"]
    moved = eventually(lambda: (lambda t: t if t["department"] == "billing"
                                and t["assignee_id"] in (None, "agent-clara") else None)(
        requests.get(f"{portal}/api/tickets/{survivor}", headers=bearer(sup),
                     timeout=10).json()))
    assert moved["department"] == "billing"
    assert "Department changed" in staff(portal, "supervisor").get(
        f"{portal}{ws}", timeout=10).text


def test_scoped_agents_cannot_merge_or_link_what_they_cannot_see(portal):
    customer = new_customer(portal)
    billing = file(portal, customer, "Billing only", department="billing")
    technical = file(portal, customer, "Technical one")
    with department_scoping(portal, True):
        boris = Browser(portal).sign_in(BORIS, DEMO_PASSWORD)
        ws = f"/agent/tickets/{technical}"
        for action, data in (("merge", {"into": str(billing)}),
                             ("links", {"other": str(billing)})):
            answer = boris.submit(ws, f"{ws}/{action}", data, allow_redirects=False)
            assert answer.status_code == 404, (action, answer.status_code)
        token = requests.post(f"{portal}/api/auth/token", json={
            "email": BORIS, "password": DEMO_PASSWORD}, timeout=10).json()["token"]
        assert requests.post(f"{portal}/api/tickets/{billing}/merge", headers=bearer(token),
                             json={"into": technical}, timeout=10).status_code == 404
    assert requests.get(f"{portal}/api/tickets/{technical}",
                        headers=bearer(customer["token"]), timeout=10).json()["links"] == []
