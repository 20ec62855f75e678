"""The administration pages over HTTP against the whole stack: each form's valid change takes
effect where it matters (a new SLA policy sets a new ticket's deadlines, a new rule routes a new
ticket, an edited canned response renders in the workspace, a published article is suggested,
a changed sender sends the mail), an invalid one shows the owning service's messages beside the
form with a 4xx and changes nothing; supervisors look but cannot change; customers and agents
get "not found".  Also manual reassignment from the agent workspace."""
from datetime import datetime, timedelta

import pytest
import requests

from tests.e2e.conftest import (STAFF, Browser, admin_api, api_token, bearer,
                               department_scoping, mails_to, new_customer, saved, unique)
from tests.support import eventually

ADMIN_PAGES = ["/admin", "/admin/sla", "/admin/canned", "/admin/articles", "/admin/tags",
               "/admin/email", "/admin/access"]


@pytest.fixture(scope="module")
def admin(portal) -> Browser:
    return Browser(portal).sign_in(STAFF["admin"], "demo-pass-1")


@pytest.fixture(scope="module")
def api(portal):
    return admin_api(portal)


def refused(answer, status: int, field_id: str, fragment: str) -> None:
    """The page came back with the status and the message beside the named input."""
    assert answer.status_code == status, answer.text[:500]
    assert 'role="alert"' in answer.text
    marker = f'id="{field_id}-error">'
    assert marker in answer.text, answer.text[:3000]
    message = answer.text.split(marker, 1)[1].split("</p>", 1)[0]
    assert fragment in message.replace("&#39;", "'"), message


def solve(api, number: int) -> None:
    """Done with the ticket: its agent's slot is free again for the modules that follow."""
    api("post", f"/api/tickets/{number}/status", {"status": "solved"})


def test_only_admins_change_supervisors_look_others_find_nothing(portal):
    someone = new_customer(portal)
    customer = Browser(portal).sign_in(someone["email"], someone["password"])
    agent = Browser(portal).sign_in(STAFF["agent"], "demo-pass-1")
    supervisor = Browser(portal).sign_in(STAFF["supervisor"], "demo-pass-1")
    anonymous = Browser(portal)
    for path in ADMIN_PAGES:
        assert customer.get(f"{portal}{path}", timeout=10).status_code == 404, path
        assert agent.get(f"{portal}{path}", timeout=10).status_code == 404, path
        page = supervisor.get(f"{portal}{path}", timeout=10)
        assert page.status_code == 200 and 'id="read-only"' in page.text, path
        assert anonymous.get(f"{portal}{path}", timeout=10,
                             allow_redirects=False).status_code == 302
    russian = supervisor.get(f"{portal}/admin/email?lang=ru", timeout=10).text
    assert "Адрес отправителя" in russian and "Сотрудники и маршрутизация" in russian
    policy = {"id": unique("sup"), "name": "By a supervisor", "priority": "low",
              "targets.first_response": "5", "targets.resolution": "50"}
    for who in (supervisor, agent, customer):
        answer = who.submit("/", "/admin/sla/policies", policy, allow_redirects=False)
        assert answer.status_code == 404
    admin_api = bearer(api_token(portal, STAFF["admin"]))
    policies = requests.get(f"{portal}/api/sla/policies", headers=admin_api, timeout=10).json()
    assert policy["id"] not in [p["id"] for p in policies["policies"]]


def test_a_new_sla_policy_sets_the_deadlines_of_a_new_ticket(portal, admin, api):
    organization = unique("acme")
    form = {"id": unique("policy"), "name": "Acme normal", "priority": "normal",
            "organization": organization, "department": "", "calendar_id": "",
            "targets.first_response": "-5", "targets.resolution": "90",
            "warning_threshold": "0.5"}
    refused(admin.submit("/admin/sla", "/admin/sla/policies", form), 400,
            "policy-targets-first_response", "whole number of minutes")
    refused(admin.submit("/admin/sla", "/admin/sla/policies",
                         dict(form, **{"targets.first_response": "7", "calendar_id": "nope"})),
            400, "policy-calendar_id", "Unknown calendar")
    assert form["id"] not in [p["id"] for p in api("get", "/api/sla/policies")["policies"]]

    saved(admin.submit("/admin/sla", "/admin/sla/policies",
                       dict(form, **{"targets.first_response": "7"}), allow_redirects=False))
    page = admin.get(f"{portal}/admin/sla?policy={form['id']}", timeout=10).text
    assert f'id="policy-{form["id"]}"' in page and 'value="7"' in page  # listed, editable

    customer = new_customer(portal)
    # The organization is the customer account's (an admin sets it), not the request's.
    api("post", f"/api/users/{customer['id']}/customer",
        {"organization": organization, "plan": None})
    filed = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                          json={"subject": "Invoice copy", "description": "Please resend"})
    assert filed.status_code == 201, filed.text
    number = filed.json()["number"]
    ticket = eventually(lambda: (t := api("get", f"/api/tickets/{number}"))["sla"] and t)
    assert ticket["sla"]["policy_id"] == form["id"]
    due = datetime.fromisoformat(ticket["sla"]["first_response_due"])
    assert due - datetime.fromisoformat(ticket["created_at"]) == timedelta(minutes=7)
    solve(api, number)

    saved(admin.submit("/admin/sla", f"/admin/sla/policies/{form['id']}/delete", {},
                       allow_redirects=False))
    assert form["id"] not in [p["id"] for p in api("get", "/api/sla/policies")["policies"]]


@pytest.mark.parametrize("change, field, fragment", [
    ({"hours.mon": "09:00-13:00, 12:00-18:00"}, "calendar-hours-mon", "overlap"),
    ({"time_zone": "Mars/Olympus"}, "calendar-time_zone", "Unknown time zone"),
    ({"hours.tue": "nine to five"}, "calendar-hours-tue", "Write intervals as"),
    ({"holidays": "2026-13-01"}, "calendar-holidays", "date"),
])
def test_bad_calendars_show_the_sla_services_messages(portal, admin, api, change, field,
                                                      fragment):
    form = {"id": unique("cal"), "name": "Office", "time_zone": "Europe/Moscow",
            "hours.mon": "09:00-18:00", **change}
    refused(admin.submit("/admin/sla", "/admin/sla/calendars", form), 400, field, fragment)
    assert form["id"] not in [c["id"] for c in api("get", "/api/sla/calendars")["calendars"]]


def test_a_calendar_is_saved_edited_and_deleted(portal, admin, api):
    form = {"id": unique("cal"), "name": "Moscow office", "time_zone": "Europe/Moscow",
            "hours.mon": "09:00-13:00, 14:00-18:00", "hours.fri": "10:00-16:00",
            "holidays": "2027-01-01, 2027-01-02", "yearly_holidays": "05-09"}
    saved(admin.submit("/admin/sla", "/admin/sla/calendars", form, allow_redirects=False))
    stored = next(c for c in api("get", "/api/sla/calendars")["calendars"]
                  if c["id"] == form["id"])
    assert stored["hours"]["mon"] == [["09:00", "13:00"], ["14:00", "18:00"]]
    assert stored["holidays"] == ["2027-01-01", "2027-01-02"]
    assert stored["yearly_holidays"] == ["05-09"] and stored["always_open"] is False
    saved(admin.submit("/admin/sla", "/admin/sla/calendars",
                       dict(form, always_open="on"), allow_redirects=False))
    assert next(c for c in api("get", "/api/sla/calendars")["calendars"]
                if c["id"] == form["id"])["always_open"] is True
    saved(admin.submit("/admin/sla", f"/admin/sla/calendars/{form['id']}/delete", {},
                       allow_redirects=False))
    assert form["id"] not in [c["id"] for c in api("get", "/api/sla/calendars")["calendars"]]


def test_shared_canned_responses_are_created_edited_rendered_and_deleted(portal, admin, api):
    title = unique("Greeting")
    refused(admin.submit("/admin/canned", "/admin/canned",
                         {"title": title, "body": "Hi ${password}", "language": "en"}),
            400, "canned-body", "Unknown placeholder")
    assert title not in [c["title"] for c in api("get", "/api/canned")]
    saved(admin.submit("/admin/canned", "/admin/canned",
                       {"title": title, "body": "Hello $customer_name", "language": "en"},
                       allow_redirects=False))
    canned_id = next(c["id"] for c in api("get", "/api/canned") if c["title"] == title)
    saved(admin.submit("/admin/canned", "/admin/canned", {
        "canned_id": canned_id, "title": title, "language": "en",
        "body": "Dear $customer_name, about $ticket_number: fixed."}, allow_redirects=False))

    customer = new_customer(portal, name="Vera Client")
    number = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                           json={"subject": "Printer", "description": "Jams"}).json()["number"]
    agent = Browser(portal).sign_in(STAFF["agent"], "demo-pass-1")
    page = agent.get(f"{portal}/agent/tickets/{number}?canned={canned_id}", timeout=10)
    assert page.status_code == 200
    assert f"Dear Vera Client, about #{number}: fixed." in page.text
    solve(api, number)

    saved(admin.submit("/admin/canned", f"/admin/canned/{canned_id}/delete", {},
                       allow_redirects=False))
    assert canned_id not in [c["id"] for c in api("get", "/api/canned")]
    placeholders = admin.get(f"{portal}/admin/canned", timeout=10).text
    assert "${customer_name}" in placeholders and "${agent_name}" in placeholders


def test_a_changed_sender_is_used_for_the_next_mail(portal, admin, api, mail_sink):
    before = api("get", "/api/admin/email-settings")
    form = {"sender_address": "not an address", "sender_name": "Acme Desk",
            "reply_to": "", "default_language": "en", "notifications.received": "on",
            "notifications.replied": "on", "notifications.solved": "on",
            "notifications.reminder": "on", "notifications.sla_warning": "on",
            "notifications.merged": "on", "notifications.mentioned": "on",
            "notifications.followed": "on"}
    refused(admin.submit("/admin/email", "/admin/email", form), 400,
            "mail-sender_address", "Must be an email address")
    assert api("get", "/api/admin/email-settings") == before
    sender = f"{unique('desk')}@acme.test"
    try:
        saved(admin.submit("/admin/email", "/admin/email",
                           dict(form, sender_address=sender, reply_to="replies@acme.test"),
                           allow_redirects=False))
        assert api("get", "/api/admin/email-settings")["sender_address"] == sender
        requester = f"{unique('mailed')}@example.com"
        filed = requests.post(f"{portal}/api/tickets", timeout=10, json={
            "subject": "Where is my order", "description": "Late",
            "requester_email": requester})
        assert filed.status_code == 201, filed.text
        # One acknowledgement (which carries the confirm link: an anonymous filer).
        mail = eventually(lambda: mails_to(mail_sink, requester))[0]
        assert sender in mail["From"] and "Acme Desk" in mail["From"]
        # the reply-to address, plus-addressed with the ticket's signed reply token
        number = filed.json()["number"]
        assert mail["Reply-To"].startswith(f"replies+t{number}-")
        assert mail["Reply-To"].endswith("@acme.test")
        solve(api, number)
    finally:
        api("put", "/api/admin/email-settings", before)


def test_a_new_rule_routes_a_new_ticket_and_is_toggled_moved_deleted(portal, admin, api):
    word = unique("zebra")
    form = {"id": unique("rule"), "name": "Zebras to billing", "position": "5",
            "match": "all", "enabled": "on", "conditions": "subject matches ([a-z",
            "actions.department": "billing", "actions.add_tags": "zebra"}
    refused(admin.submit("/admin", "/admin/rules", form), 400, "rule-conditions",
            "Invalid regular expression")
    refused(admin.submit("/admin", "/admin/rules", dict(form, conditions="subject")), 400,
            "rule-conditions", "Line 1")
    refused(admin.submit("/admin", "/admin/rules",
                         dict(form, conditions=f"subject contains_any {word}",
                              **{"actions.department": "nowhere"})),
            400, "rule-actions-department", "Unknown department")
    assert form["id"] not in [r["id"] for r in api("get", "/api/routing/rules")["rules"]]

    saved(admin.submit("/admin", "/admin/rules", dict(form, conditions=f"subject contains_any "
                                                                       f"{word}, giraffe"),
                       allow_redirects=False))
    customer = new_customer(portal)
    number = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                           json={"subject": f"A {word} ate my invoice",
                                 "description": "Really"}).json()["number"]
    ticket = eventually(lambda: (t := api("get", f"/api/tickets/{number}"))["department"]
                        == "billing" and t)
    assert "zebra" in ticket["tags"]
    solve(api, number)

    def stored():
        return next(r for r in api("get", "/api/routing/rules")["rules"] if r["id"] == form["id"])
    saved(admin.submit("/admin", f"/admin/rules/{form['id']}/toggle", {}, allow_redirects=False))
    assert stored()["enabled"] is False
    rules = api("get", "/api/routing/rules")["rules"]
    if rules[-1]["id"] != form["id"]:
        saved(admin.submit("/admin", f"/admin/rules/{form['id']}/move", {"direction": "down"},
                           allow_redirects=False))
        after = [r["id"] for r in api("get", "/api/routing/rules")["rules"]]
        old = [r["id"] for r in rules]
        assert after.index(form["id"]) == old.index(form["id"]) + 1
    saved(admin.submit("/admin", f"/admin/rules/{form['id']}/delete", {}, allow_redirects=False))
    assert form["id"] not in [r["id"] for r in api("get", "/api/routing/rules")["rules"]]


def test_departments_are_created_and_edited(portal, admin, api):
    form = {"id": unique("dept"), "name": "Quality", "name_ru": "Качество",
            "queue_mode": "sideways"}
    refused(admin.submit("/admin", "/admin/departments", form), 400, "department-queue_mode",
            "Must be one of")
    saved(admin.submit("/admin", "/admin/departments", dict(form, queue_mode="differentiated"),
                       allow_redirects=False))
    saved(admin.submit("/admin", "/admin/departments",
                       dict(form, name="Quality assurance", queue_mode="differentiated"),
                       allow_redirects=False))
    found = next(d for d in api("get", "/api/departments")["departments"]
                 if d["id"] == form["id"])
    assert (found["name"], found["name_ru"]) == ("Quality assurance", "Качество")


def test_an_article_published_from_the_admin_page_is_suggested(portal, admin, api):
    word = unique("quokka")
    article_id = unique("art")
    refused(admin.submit("/admin/articles", "/admin/articles", {
        "id": "Not A Slug!", "title": "T", "body": "B", "language": "en"}), 400,
        "article-id", "lowercase")
    saved(admin.submit("/admin/articles", "/admin/articles", {
        "id": article_id, "title": f"Feeding the {word}", "language": "en",
        "body": f"How to feed a {word} safely.", "tags": "animals"}, allow_redirects=False))
    assert api("get", f"/api/admin/articles/{article_id}")["published"] is False
    saved(admin.submit("/admin/articles", "/admin/articles", {
        "article_id": article_id, "title": f"Feeding the {word} well", "language": "en",
        "body": f"How to feed a {word} safely."}, allow_redirects=False))
    saved(admin.submit("/admin/articles", f"/admin/articles/{article_id}/publish",
                       {"published": "yes"}, allow_redirects=False))

    def suggested():
        found = requests.get(f"{portal}/api/suggest", params={"q": word}, timeout=10).json()
        return [r for r in found["results"] if r.get("id") == article_id]
    assert eventually(suggested)[0]["title"] == f"Feeding the {word} well"

    translation = unique("art-ru")
    saved(admin.submit("/admin/articles", "/admin/articles", {
        "id": translation, "title": "Как кормить", "language": "ru", "body": "Осторожно.",
        "translation_of": article_id}, allow_redirects=False))
    page = admin.get(f"{portal}/admin/articles?article={article_id}", timeout=10).text
    assert f"{translation} (ru)" in page
    saved(admin.submit("/admin/articles", f"/admin/articles/{article_id}/publish",
                       {"published": "no"}, allow_redirects=False))
    assert api("get", f"/api/admin/articles/{article_id}")["published"] is False


def test_tags_are_listed_with_counts_and_renamed(portal, admin, api):
    old, new = unique("tagold"), unique("tagnew")
    customer = new_customer(portal)
    number = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                           json={"subject": "Tag me", "description": "Please"}).json()["number"]
    api("patch", f"/api/tickets/{number}", {"tags": [old]})
    assert f'id="tag-{old}"' in admin.get(f"{portal}/admin/tags?tag={old}", timeout=10).text
    refused(admin.submit("/admin/tags", "/admin/tags/rename", {"old": old, "new": old}), 409,
            "rename-new", "same as the old")
    saved(admin.submit("/admin/tags", "/admin/tags/rename", {"old": old, "new": new},
                       allow_redirects=False))
    assert api("get", f"/api/tickets/{number}")["tags"] == [new]
    solve(api, number)


def placed(api, number: int) -> dict:
    """The ticket once routing has given it to someone (or queued it)."""
    def check():
        ticket = api("get", f"/api/tickets/{number}")
        waiting = api("get", f"/api/routing/queues/{ticket['department']}")["tickets"]
        return (ticket["assignee_id"] or number in [w["number"] for w in waiting]) and ticket
    return eventually(check)


def test_a_supervisor_reassigns_from_the_workspace_and_history_records_it(portal, api):
    customer = new_customer(portal)
    number = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                           json={"subject": "Server down", "description": "Since noon",
                                 "department": "technical"}).json()["number"]
    ticket = placed(api, number)
    target = "agent-boris" if ticket["assignee_id"] != "agent-boris" else "agent-anna"
    supervisor = Browser(portal).sign_in(STAFF["supervisor"], "demo-pass-1")
    workspace = f"/agent/tickets/{number}"
    page = supervisor.get(f"{portal}{workspace}", timeout=10).text
    assert 'id="reassign-form"' in page and 'id="override-capacity"' in page
    outsider = supervisor.submit(workspace, f"{workspace}/assignee", {"agent_id": "agent-clara"})
    assert outsider.status_code == 400 and "does not work in department" in outsider.text
    moved = supervisor.submit(workspace, f"{workspace}/assignee",
                              {"agent_id": target, "override_capacity": "on"},
                              allow_redirects=False)
    assert moved.status_code == 303 and f"assigned={target}" in moved.headers["Location"]
    assert eventually(lambda: api("get", f"/api/tickets/{number}")["assignee_id"] == target)
    history = api("get", f"/api/tickets/{number}/history")
    change = [h for h in history if h["field"] == "assignee_id" and h["new"] == target][-1]
    assert change["actor_id"] == "supervisor-sam"
    solve(api, number)


def test_agents_reassign_within_their_departments_and_capacity_only(portal, api):
    # Routing's own rule, for desks that let agents see every department (with department
    # scoping on, Anna cannot open a billing ticket at all: test_authorization_matrix.py).
    with department_scoping(portal, on=False):
        reassign_outside_own_departments(portal, api)


def reassign_outside_own_departments(portal, api):
    customer = new_customer(portal)
    number = requests.post(f"{portal}/api/tickets", headers=bearer(customer["token"]), timeout=10,
                           json={"subject": "Card charged twice", "description": "Refund?",
                                 "department": "billing"}).json()["number"]
    placed(api, number)
    anna = Browser(portal).sign_in(STAFF["agent"], "demo-pass-1")
    workspace = f"/agent/tickets/{number}"
    assert 'id="reassign-form"' not in anna.get(f"{portal}{workspace}", timeout=10).text
    refused_ = anna.submit(workspace, f"{workspace}/assignee", {"agent_id": "agent-clara"})
    assert refused_.status_code == 403 and "own departments" in refused_.text
    token = api_token(portal, STAFF["agent"])
    over = requests.put(f"{portal}/api/tickets/{number}/assignee", headers=bearer(token),
                        json={"agent_id": "agent-clara", "override_capacity": True}, timeout=10)
    assert over.status_code == 403 and "override_capacity" in over.json()["errors"]
    solve(api, number)


def test_the_admin_switches_department_scoping_on_the_access_page(portal, admin, api):
    """Agents are department-scoped by default; the switch is the admin's (supervisors only
    look: test_only_admins_change_supervisors_look_others_find_nothing)."""
    page = admin.get(f"{portal}/admin/access?lang=ru", timeout=10).text
    assert "Агенты видят только обращения своих отделов" in page
    assert 'name="department_scoped_agents" checked' in page
    try:
        saved(admin.submit("/admin/access", "/admin/access", {}, allow_redirects=False))
        assert api("get", "/api/admin/access-settings") == {"department_scoped_agents": False}
        assert 'name="department_scoped_agents" checked' not in admin.get(
            f"{portal}/admin/access", timeout=10).text
    finally:
        saved(admin.submit("/admin/access", "/admin/access", {"department_scoped_agents": "on"},
                           allow_redirects=False))
    assert api("get", "/api/admin/access-settings") == {"department_scoped_agents": True}
