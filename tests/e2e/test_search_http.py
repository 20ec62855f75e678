"""Search over HTTP through the portal: bad queries never 500, customers stay in their own
tickets, staff manage articles, feedback is taken."""
import uuid

import pytest
import requests

from tests.e2e.conftest import sign_up
from tests.support import eventually


def token(portal, email, password="demo-pass-1"):
    reply = requests.post(f"{portal}/api/auth/token", json={"email": email, "password": password},
                          timeout=10)
    assert reply.status_code == 201, reply.text
    return {"Authorization": f"Bearer {reply.json()['token']}"}


def new_customer(portal):
    email = f"c-{uuid.uuid4().hex[:8]}@example.com"
    sign_up(portal, email, "long-enough-pw-1", "Cust")
    return token(portal, email, "long-enough-pw-1")


def test_a_10kb_query_is_refused_cleanly(portal):
    # Longer than the web server's URL limit: refused before it reaches a view (414).
    reply = requests.get(f"{portal}/api/suggest", params={"q": "x" * 10_240}, timeout=10)
    assert reply.status_code == 414
    reply = requests.get(f"{portal}/api/suggest", params={"q": "x" * 600}, timeout=10)
    assert reply.status_code == 400 and "q" in reply.json()["errors"]


@pytest.mark.parametrize("params", [{"q": ""}, {"q": "\x00\x01\x02"},
                                    {}, {"q": "a", "limit": "lots"}, {"q": "a", "language": "xx"}])
def test_bad_suggest_queries_get_400_with_field_messages(portal, params):
    reply = requests.get(f"{portal}/api/suggest", params=params, timeout=10)
    assert reply.status_code == 400, reply.text
    assert reply.json()["errors"]


@pytest.mark.parametrize("q", ["title:* OR (", "password \x07 reset", "(((", "a AND OR NOT",
                               "/regex.*/", "~~~^^^"])
def test_lucene_syntax_is_just_words(portal, q):
    for path in ("/api/suggest", "/api/search"):
        reply = requests.get(f"{portal}{path}", params={"q": q}, timeout=10)
        assert reply.status_code == 200, reply.text
        assert reply.json()["degraded"] is False


def test_customer_search_never_shows_another_customers_ticket(portal):
    alice, bob = new_customer(portal), new_customer(portal)
    word = "quxolotl" + uuid.uuid4().hex[:6]
    filed = requests.post(f"{portal}/api/tickets", headers=alice, timeout=10, json={
        "subject": f"Trouble with {word}", "description": f"The {word} is broken"})
    assert filed.status_code == 201, filed.text
    mine = eventually(lambda: requests.get(f"{portal}/api/search", headers=alice, timeout=10,
                                           params={"q": word}).json()["results"])
    assert [r["number"] for r in mine] == [filed.json()["number"]]
    for who in (bob, {}):
        found = requests.get(f"{portal}/api/search", headers=who, params={"q": word}, timeout=10)
        assert found.status_code == 200 and found.json()["results"] == []


def test_staff_write_articles_and_customers_read_published_only(portal):
    agent, customer = token(portal, "agent.anna@example.com"), new_customer(portal)
    article = {"id": f"e2e-{uuid.uuid4().hex[:8]}", "title": "Calibrating the plotter",
               "body": "Open Settings, Plotter, Calibrate and follow the steps.",
               "language": "en", "tags": ["plotter"], "published": False}
    assert requests.post(f"{portal}/api/admin/articles", json=article, headers=customer,
                         timeout=10).status_code == 403
    created = requests.post(f"{portal}/api/admin/articles", json=article, headers=agent,
                            timeout=10)
    assert created.status_code == 201, created.text
    assert requests.get(f"{portal}/api/articles/{article['id']}", timeout=10).status_code == 404
    bad = requests.patch(f"{portal}/api/admin/articles/{article['id']}", headers=agent,
                         json={"title": ""}, timeout=10)
    assert bad.status_code == 400 and "title" in bad.json()["errors"]
    assert requests.post(f"{portal}/api/admin/articles/{article['id']}/publish", headers=agent,
                         timeout=10).status_code == 403  # agents propose, editors publish
    assert requests.post(f"{portal}/api/admin/articles/{article['id']}/publish", timeout=10,
                         headers=token(portal, "supervisor@example.com")).status_code == 200
    assert requests.get(f"{portal}/api/articles/{article['id']}", timeout=10).status_code == 200
    eventually(lambda: article["id"] in [r["id"] for r in requests.get(
        f"{portal}/api/suggest", params={"q": "calibrate plotter"}, timeout=10).json()["results"]])

    feedback = requests.post(f"{portal}/api/suggest/feedback", timeout=10, json={
        "q": "calibrate plotter", "result_kind": "article", "result_id": article["id"],
        "solved": True})
    assert feedback.status_code == 201, feedback.text
    assert requests.post(f"{portal}/api/suggest/feedback", json={"solved": "yes"},
                         timeout=10).status_code == 400
