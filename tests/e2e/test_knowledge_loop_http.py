"""The deflection funnel and knowledge gaps through the portal, as suggest.js and the ticket
form send them: one visit id carried by suggestions, "opened", "this solved it" and the form;
supervisors read the counts (JSON, CSV, dashboard) and the gaps page; bad input is a 400 with
field messages, and nobody else reads any of it."""
import secrets
from datetime import datetime, timedelta, timezone

import requests

from tests.e2e.conftest import STAFF, Browser, api_token, bearer, new_customer
from tests.support import eventually

QUESTION = "how to reset my password"
NO_ANSWER = "my quantum toaster teleports the bread, call +44 20 7946 0958"


def period() -> dict:
    now = datetime.now(timezone.utc)
    return {"since": (now - timedelta(hours=1)).isoformat(),
            "until": (now + timedelta(hours=1)).isoformat()}


def funnel(portal: str, token: str) -> dict:
    got = requests.get(f"{portal}/api/admin/funnel", params=period(), headers=bearer(token),
                       timeout=15)
    assert got.status_code == 200, got.text
    return got.json()


def test_one_visit_is_followed_from_question_to_filed_ticket(portal):
    supervisor = api_token(portal, STAFF["supervisor"])
    before = funnel(portal, supervisor)["total"]

    solved, filed = secrets.token_hex(16), secrets.token_hex(16)
    shown = eventually(lambda: requests.get(f"{portal}/api/suggest", timeout=15, params={
        "q": QUESTION, "language": "en", "session": solved}).json()["results"], timeout=30)
    assert shown[0]["id"] == "reset-password", shown  # asking again: still one visit
    opened = requests.post(f"{portal}/api/suggest/opened", timeout=10, json={
        "session": solved, "result_kind": "article", "result_id": "reset-password"})
    assert opened.status_code == 202, opened.text
    thanked = requests.post(f"{portal}/api/feedback", timeout=10, json={
        "kind": "article", "id": "reset-password", "query": QUESTION, "session": solved})
    assert thanked.status_code == 201, thanked.text

    nothing = requests.get(f"{portal}/api/suggest", timeout=15, params={
        "q": NO_ANSWER, "language": "en", "session": filed}).json()["results"]
    assert nothing == []
    person = Browser(portal)
    sent = person.submit("/", "/tickets", {
        "subject": "Quantum toaster", "description": NO_ANSWER, "department": "technical",
        "requester_email": f"toast-{secrets.token_hex(4)}@example.com",
        "requester_name": "Tess Toast", "suggest_session": filed})
    assert sent.status_code == 201, sent.text[:1000]

    after = funnel(portal, supervisor)
    grew = {step: after["total"][step] - before[step] for step in before}
    assert grew == {"typed": 2, "shown": 1, "opened": 1, "solved": 1, "not_helped": 0,
                    "filed": 1}, grew
    assert any(f["question"].startswith("my quantum toaster") and "7946" not in f["question"]
               for f in after["failing"]), after["failing"]

    csv = requests.get(f"{portal}/api/admin/funnel.csv", params=period(),
                       headers=bearer(supervisor), timeout=15)
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == ("language,result,title,typed,shown,opened,solved,"
                                        "not_helped,filed")
    assert "article:reset-password,How to reset your password" in csv.text

    boss = Browser(portal).sign_in(STAFF["supervisor"], "demo-pass-1")
    dashboard = boss.get(f"{portal}/supervisor?days=1&lang=ru", timeout=30)
    assert dashboard.status_code == 200
    assert 'id="funnel-table"' in dashboard.text and "Воронка самообслуживания" in dashboard.text
    gaps = boss.get(f"{portal}/supervisor/gaps?days=7&lang=en", timeout=30)
    assert gaps.status_code == 200 and "my quantum toaster" in gaps.text
    assert "7946" not in gaps.text  # the phone number was never kept
    assert boss.get(f"{portal}/supervisor/funnel.csv?days=1", timeout=30).status_code == 200


def test_bad_input_is_refused_with_field_messages_and_others_read_nothing(portal):
    supervisor = bearer(api_token(portal, STAFF["supervisor"]))
    bad_visit = requests.get(f"{portal}/api/suggest", timeout=10,
                             params={"q": QUESTION, "session": "not a visit"})
    assert bad_visit.status_code == 400 and "session" in bad_visit.json()["errors"]
    opened = requests.post(f"{portal}/api/suggest/opened", timeout=10,
                           json={"session": secrets.token_hex(16), "result_kind": "memo"})
    assert opened.status_code == 400
    assert {"result_kind", "result_id"} <= set(opened.json()["errors"])
    no_period = requests.get(f"{portal}/api/admin/funnel", headers=supervisor, timeout=10)
    assert no_period.status_code == 400 and {"since", "until"} <= set(no_period.json()["errors"])
    backwards = requests.get(f"{portal}/api/admin/funnel", headers=supervisor, timeout=10,
                             params={"since": period()["until"], "until": period()["since"]})
    assert backwards.status_code == 400 and "until" in backwards.json()["errors"]
    for body in ({"tickets": "12"}, {"tickets": [True]}, {}):
        draft = requests.post(f"{portal}/api/admin/gaps/draft", json=body, headers=supervisor,
                              timeout=10)
        assert draft.status_code == 400 and "tickets" in draft.json()["errors"], draft.text
    unknown = requests.post(f"{portal}/api/admin/gaps/draft", json={"tickets": [99999999]},
                            headers=supervisor, timeout=10)
    assert unknown.status_code == 404, unknown.text

    customer = bearer(new_customer(portal)["token"])
    agent = bearer(api_token(portal, STAFF["agent"]))
    for who in (customer, agent, {}):
        for path in ("/api/admin/funnel", "/api/admin/gaps"):
            assert requests.get(f"{portal}{path}", params=period(), headers=who,
                                timeout=10).status_code in (401, 403), (path, who)
    page = Browser(portal).get(f"{portal}/supervisor/gaps", timeout=10, allow_redirects=False)
    assert page.status_code in (302, 303, 404)
