"""The agent console's queue views over HTTP: column headers that sort, the search box,
filters, paging, and a bad filter refused with a message on the page."""
import re
import uuid

import requests

from tests.e2e.conftest import (DEMO_PASSWORD, STAFF, Browser, api_token, bearer,
                                new_customer)
from tests.support import eventually


def file(portal: str, token: str, subject: str, priority: str = "normal") -> int:
    made = requests.post(f"{portal}/api/tickets", headers=bearer(token), timeout=15, json={
        "subject": subject, "description": "Queue view check.", "department": "technical",
        "priority": priority, "language": "en"})
    assert made.status_code == 201, made.text
    return made.json()["number"]


def settled(portal: str, filed: list[int]) -> None:
    """Wait until routing's decision and the SLA clock are recorded on these tickets: a view
    read while intake writes them may miss a ticket for that moment (its entry in the index
    the view walks is moving; the next read, or the live feed, shows it), and the checks below
    compare exact lists."""
    auth = bearer(api_token(portal, STAFF["agent"]))

    def done(number: int) -> bool:
        ticket = requests.get(f"{portal}/api/tickets/{number}", headers=auth, timeout=10).json()
        waiting = requests.get(f"{portal}/api/routing/queues/technical", headers=auth,
                               timeout=10).json()["tickets"]
        return bool(ticket["sla"] and (ticket["assignee_id"]
                                       or number in [w["number"] for w in waiting]))

    eventually(lambda: all(done(number) for number in filed), timeout=30)


def numbers(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr class="ticket-row" data-number="(\d+)"', page)]


def test_search_filters_sort_and_paging(portal):
    customer = new_customer(portal, name="Quinn Queue")
    word = "zebra" + uuid.uuid4().hex[:6]
    first = file(portal, customer["token"], f"Monitor {word} flickers", priority="high")
    second = file(portal, customer["token"], f"Keyboard {word} sticks")
    settled(portal, [first, second])
    agent = Browser(portal).sign_in(STAFF["agent"], DEMO_PASSWORD)

    page = agent.get(f"{portal}/agent/queue/all", params={"q": word, "sort": "number"}).text
    assert numbers(page) == [first, second]
    assert 'data-sort="due"' in page and 'data-sort="priority"' in page
    assert numbers(agent.get(f"{portal}/agent/queue/all",
                             params={"q": word, "sort": "-number"}).text) == [second, first]
    assert numbers(agent.get(f"{portal}/agent/queue/all",
                             params={"q": word, "priority": "high"}).text) == [first]
    assert numbers(agent.get(f"{portal}/agent/queue/all",
                             params={"q": f"#{second}"}).text) == [second]
    assert numbers(agent.get(f"{portal}/agent/queue/all",
                             params={"q": word, "department": "billing"}).text) == []
    assert numbers(agent.get(f"{portal}/agent/queue/all",
                             params={"q": word, "status": "solved"}).text) == []

    # Saved views: personal ones for their owner, shared ones (supervisors) for everyone.
    saved = agent.submit("/agent/queue/all", "/agent/views", {
        "title": f"High {word}", "queue": "all", "query": f"q={word}&priority=high"},
        allow_redirects=False)
    assert saved.status_code == 303, saved.text
    listed = agent.get(f"{portal}/agent/queue/mine").text
    link = re.search(rf'<a href="([^"]+)" data-view="(\w+)">High {word}</a>', listed)
    assert link, "the saved view is not listed"
    assert numbers(agent.get(portal + link.group(1).replace("&amp;", "&")).text) == [first]
    boris = Browser(portal).sign_in("agent.boris@example.com", DEMO_PASSWORD)
    assert f"High {word}" not in boris.get(f"{portal}/agent/queue/mine").text
    assert boris.submit("/agent/queue/mine", f"/agent/views/{link.group(2)}/delete",
                        {}).status_code == 404
    boss = Browser(portal).sign_in(STAFF["supervisor"], DEMO_PASSWORD)
    assert boss.submit("/agent/queue/all", "/agent/views", {
        "title": f"Team {word}", "queue": "all", "query": f"q={word}", "scope": "shared"},
        allow_redirects=False).status_code == 303
    assert f"Team {word}" in boris.get(f"{portal}/agent/queue/mine").text
    shared_id = re.search(rf'data-view="(\w+)">Team {word}<',
                          boris.get(f"{portal}/agent/queue/mine").text).group(1)
    assert boris.submit("/agent/queue/mine", f"/agent/views/{shared_id}/delete",
                        {}).status_code == 403
    assert agent.submit("/agent/queue/all", "/agent/views", {
        "title": "x", "queue": "all", "scope": "shared"}).status_code == 403
    assert agent.submit("/agent/queue/mine", f"/agent/views/{link.group(2)}/delete", {},
                        allow_redirects=False).status_code == 303
    assert f"High {word}" not in agent.get(f"{portal}/agent/queue/mine").text

    everything = agent.get(f"{portal}/agent/queue/all", params={"sort": "number"}).text
    counted = re.search(r'id="queue-count">(\d+) ', everything)  # exact on the last page
    assert len(numbers(everything)) == (int(counted.group(1)) if counted else 50)
    if not counted:
        assert "More than 50 tickets" in everything
        assert 'id="page-next"' in everything
        second_page = agent.get(f"{portal}/agent/queue/all",
                                params={"sort": "number", "page": 2}).text
        assert not set(numbers(second_page)) & set(numbers(everything))

    refused = agent.get(f"{portal}/agent/queue/all", params={"sort": "price"})
    assert refused.status_code == 400 and "sort" in refused.text
    agent_token = api_token(portal, STAFF["agent"])
    # Bulk: both rows picked, one form: priority, tags and status for each.
    bulk = agent.submit("/agent/queue/all", "/agent/queue/bulk", {
        "numbers": [str(first), str(second)], "priority": "urgent", "tags": "bulk-check, x",
        "status": "pending", "back": "/agent/queue/all"}, allow_redirects=False)
    assert bulk.status_code == 303, bulk.text
    for number in (first, second):
        ticket = requests.get(f"{portal}/api/tickets/{number}", headers=bearer(agent_token),
                              timeout=15).json()
        assert (ticket["priority"], ticket["status"]) == ("urgent", "pending"), ticket
        assert {"bulk-check", "x"} <= set(ticket["tags"])
    nothing = agent.submit("/agent/queue/all", "/agent/queue/bulk", {"status": "open"})
    assert nothing.status_code == 400 and 'name="numbers"' not in nothing.text
    for number in (first, second):  # leave nothing open to fill the agents' capacity
        solved = requests.post(f"{portal}/api/tickets/{number}/status", headers=bearer(
            agent_token), timeout=15, json={"status": "solved"})
        assert solved.status_code == 200, solved.text
