"""The automation administration pages over HTTP against the whole stack (the automation
service in its own process, a real local webhook receiver): time rules changed from the
form; a trigger created in the plain form (no JSON), listed, dry-run on sample tickets, then
firing on a new ticket, disabled and deleted; a webhook created with a generated secret shown
once, its failed delivery listed as a dead letter (payload and last error), replayed from the
page and delivered signed with that secret.  Refusals come back beside the form with a 4xx,
in Russian for a Russian reader, on the pages and from the API; nothing on the Russian pages
is left in English.  Only admins get in (the e2e suite makes a failed delivery a dead letter
at once: HELPDESK_WEBHOOK_MAX_ATTEMPTS=1 in conftest)."""
import hashlib
import hmac
import html
import json
import re
import uuid

import pytest
import requests
from babel.messages.pofile import read_po

from services.portal import i18n
from tests.e2e.conftest import STAFF, Browser, admin_api, api_token, bearer, saved, unique
from tests.integration.webhook_receiver import Receiver
from tests.support import eventually


@pytest.fixture(scope="module")
def admin(portal) -> Browser:
    return Browser(portal).sign_in(STAFF["admin"], "demo-pass-1")


@pytest.fixture(scope="module")
def admin_ru(portal) -> Browser:
    """An admin reading in Russian (?lang= is remembered in a cookie, so a browser of its
    own)."""
    return Browser(portal).sign_in(STAFF["admin"], "demo-pass-1")


@pytest.fixture(scope="module")
def api(portal):
    return admin_api(portal)


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.stop()


def alert(answer, status: int) -> str:
    """The refusal's message box (status and role=alert), as text."""
    assert answer.status_code == status, answer.text[:2000]
    found = re.search(r'role="alert"[^>]*>(.*?)</div>', answer.text, re.S)
    assert found, answer.text[:3000]
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def file_ticket(portal: str, subject: str) -> int:
    """Texts unlike each other: near-duplicate tickets make routing see an incident and raise
    their priority, which would race a trigger's change."""
    filed = requests.post(f"{portal}/api/tickets", timeout=10, json={
        "subject": subject, "description": " ".join(uuid.uuid4().hex[i:i + 5]
                                                    for i in range(0, 30, 5)),
        "requester_email": f"{unique('auto')}@example.com"})
    assert filed.status_code == 201, filed.text
    return filed.json()["number"]


def visible_text(page: str) -> str:
    """What a reader sees: no markup, no code samples (event names, JSON bodies)."""
    page = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def left_in_english(page: str) -> list[str]:
    """Catalog messages whose English text shows on a page meant to be Russian (messages the
    same in both languages, such as "id", do not count)."""
    with (i18n.SOURCE / "ru" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po)
    text = visible_text(page)
    left = []
    for message in catalog:
        if not message.id or not isinstance(message.id, str) or message.string == message.id:
            continue
        for fragment in re.split(r"%\(\w+\)[sd]", message.id):
            fragment = fragment.strip(" .,:;")
            if len(fragment) >= 4 and re.search(rf"(?<!\w){re.escape(fragment)}(?!\w)", text):
                left.append(message.id)
    return left


def test_only_admins_see_the_automation_pages(portal):
    supervisor = Browser(portal).sign_in(STAFF["supervisor"], "demo-pass-1")
    agent = Browser(portal).sign_in(STAFF["agent"], "demo-pass-1")
    for path in ("/admin/automation", "/admin/webhooks"):
        assert supervisor.get(f"{portal}{path}", timeout=10).status_code == 404
        assert agent.get(f"{portal}{path}", timeout=10).status_code == 404
        assert Browser(portal).get(f"{portal}{path}", timeout=10,
                                   allow_redirects=False).status_code == 302
    sla = supervisor.get(f"{portal}/admin/sla", timeout=10).text
    assert 'id="tab-admin_sla"' in sla and 'id="tab-admin_automation"' not in sla
    answer = supervisor.submit("/admin/sla", "/admin/automation/time-rules",
                               {"close_solved_after_days": "9"}, allow_redirects=False)
    assert answer.status_code == 404


def test_time_rules_are_changed_from_the_form(portal, admin, admin_ru, api):
    page = admin.get(f"{portal}/admin", timeout=10).text
    assert 'id="tab-admin_automation"' in page and 'id="tab-admin_webhooks"' in page
    before = api("get", "/api/admin/time-rules")
    form = {name: "" if value is None else str(value) for name, value in before.items()}
    try:
        english = alert(admin.submit("/admin/automation", "/admin/automation/time-rules",
                                     dict(form, close_solved_after_days="0",
                                          escalate_unassigned_after_minutes="soon")), 400)
        assert "whole number of days from 1 to 365" in english and "Must be a whole number." in english
        russian = alert(admin_ru.submit("/admin/automation",
                                        "/admin/automation/time-rules?lang=ru",
                                        dict(form, close_solved_after_days="0")), 400)
        assert "Целое число дней от 1 до 365." in russian
        assert api("get", "/api/admin/time-rules") == before  # nothing half-saved

        saved(admin.submit("/admin/automation", "/admin/automation/time-rules",
                           dict(form, close_solved_after_days="6",
                                escalate_unassigned_after_minutes=""), allow_redirects=False))
        assert api("get", "/api/admin/time-rules") == dict(
            before, close_solved_after_days=6, escalate_unassigned_after_minutes=None)
        shown = admin.get(f"{portal}/admin/automation", timeout=10).text
        assert re.search(r'name="close_solved_after_days" type="text" value="6"', shown)
    finally:
        api("put", "/api/admin/time-rules", before)


def test_a_trigger_made_in_the_form_is_listed_dry_run_and_fires(portal, admin, admin_ru, api):
    word = unique("zqx")
    trigger_id = unique("refunds")
    form = {"id": trigger_id, "name": "Refunds are urgent", "position": "5", "active": "on",
            "on": ["created", "replied"],
            "conditions.0.field": "subject", "conditions.0.op": "contains",
            "conditions.0.value": word,
            "conditions.1.field": "status", "conditions.1.op": "in",
            "conditions.1.value": "new, open",
            "actions.priority": "urgent", "actions.tags": "refund, money",
            "actions.note": "Check the payment provider first."}
    try:
        refused = alert(admin.submit("/admin/automation", "/admin/automation/triggers",
                                     dict(form, on=[], **{"actions.tags": "two words"})), 400)
        assert "From 1 to 4 long." in refused and "no spaces or commas" in refused
        page = admin_ru.submit("/admin/automation", "/admin/automation/triggers?lang=ru",
                            dict(form, on=[], id="Bad Id"))
        russian = alert(page, 400)
        assert "строчных латинских букв" in russian and "Длина от 1 до 4." in russian
        assert 'value="Refunds are urgent"' in page.text  # what was typed is kept
        assert trigger_id not in [t["id"] for t in api("get", "/api/admin/triggers")["triggers"]]

        # A dry run of the trigger as typed, before it is saved (nothing fires yet).
        matching, other = file_ticket(portal, f"About my {word}"), file_ticket(portal, "Hello")
        dry = admin.submit("/admin/automation", "/admin/automation/triggers/dry-run",
                           dict(form, number=str(matching)))
        assert dry.status_code == 200 and 'id="dry-run-result"' in dry.text, dry.text[:2000]
        assert "It would fire." in dry.text
        changes = dry.text.split('id="dry-run-edit">', 1)[1].split("</p>", 1)[0]
        assert "Urgent" in changes and "money" in changes
        assert api("get", f"/api/tickets/{matching}")["priority"] != "urgent"  # nothing done
        assert trigger_id not in [t["id"] for t in api("get", "/api/admin/triggers")["triggers"]]
        missed = admin.submit("/admin/automation", "/admin/automation/triggers/dry-run",
                              dict(form, number=str(other)))
        assert "It would not fire." in missed.text and "does not hold" in missed.text
        assert "ticket not found" in alert(admin.submit(
            "/admin/automation", "/admin/automation/triggers/dry-run",
            dict(form, number="987654321")), 404)
        russian_dry = admin_ru.submit("/admin/automation",
                                   "/admin/automation/triggers/dry-run?lang=ru",
                                   dict(form, number=str(matching)))
        assert "Триггер сработал бы." in russian_dry.text
        assert left_in_english(russian_dry.text) == []

        saved(admin.submit("/admin/automation", "/admin/automation/triggers", form,
                           allow_redirects=False))
        listing = admin.get(f"{portal}/admin/automation", timeout=10).text
        row = listing.split(f'id="trigger-{trigger_id}"', 1)[1].split("</tr>", 1)[0]
        assert "Refunds are urgent" in row and word in row and "Urgent" in row
        stored = next(t for t in api("get", "/api/admin/triggers")["triggers"]
                      if t["id"] == trigger_id)
        assert stored["conditions"][1] == {"field": "status", "op": "in",
                                           "value": ["new", "open"]}
        assert [a["type"] for a in stored["actions"]] == ["set_field", "add_tags", "add_note"]
        edit = admin.get(f"{portal}/admin/automation?trigger={trigger_id}", timeout=10).text
        assert f'value="{word}"' in edit and 'value="refund, money"' in edit

        later = unique("later")
        api("put", f"/api/admin/triggers/{later}", {
            "name": "Later", "position": 6, "on": ["rated"],
            "actions": [{"type": "add_tags", "tags": ["later"]}]})

        def order() -> list[str]:
            return [t["id"] for t in api("get", "/api/admin/triggers")["triggers"]]
        for direction, step in (("down", 1), ("up", -1)):
            before = order().index(trigger_id)
            saved(admin.submit("/admin/automation",
                               f"/admin/automation/triggers/{trigger_id}/move",
                               {"direction": direction}, allow_redirects=False))
            assert order().index(trigger_id) == before + step
        api("delete", f"/api/admin/triggers/{later}", expect=204)

        fired = file_ticket(portal, f"Need a {word} please")
        ticket = eventually(lambda: (t := api("get", f"/api/tickets/{fired}"))[
            "priority"] == "urgent" and t, timeout=20)
        assert {"refund", "money"} <= set(ticket["tags"])

        saved(admin.submit("/admin/automation",
                           f"/admin/automation/triggers/{trigger_id}/toggle", {},
                           allow_redirects=False))
        assert not next(t for t in api("get", "/api/admin/triggers")["triggers"]
                        if t["id"] == trigger_id)["active"]
    finally:
        admin.submit("/admin/automation", f"/admin/automation/triggers/{trigger_id}/delete", {})
    assert trigger_id not in [t["id"] for t in api("get", "/api/admin/triggers")["triggers"]]
    assert f'id="trigger-{trigger_id}"' not in admin.get(f"{portal}/admin/automation",
                                                          timeout=10).text


def test_a_dead_letter_is_inspected_and_replayed_from_the_page(portal, admin, admin_ru, api,
                                                              receiver):
    hook_id, trigger_id, word = unique("crm"), unique("tell-crm"), unique("crmword")
    receiver.answers["/down"] = [500]
    try:
        refused = alert(admin.submit("/admin/webhooks", "/admin/webhooks",
                                     {"id": hook_id, "url": "not a url", "secret": "short"}),
                        400)
        assert "Must be a web address (URL)." in refused and "From 16 to 200 long." in refused
        made = admin.submit("/admin/webhooks", "/admin/webhooks",
                            {"id": hook_id, "url": f"{receiver.url}/down", "active": "on"})
        assert made.status_code == 200 and 'id="webhook-saved"' in made.text, made.text[:2000]
        secret = re.search(r'id="shown-secret">([^<]+)<', made.text).group(1)
        assert len(secret) >= 16
        listing = admin.get(f"{portal}/admin/webhooks", timeout=10).text
        assert f'id="webhook-{hook_id}"' in listing and secret not in listing  # shown once
        # An edit without a secret keeps it.
        kept = admin.submit("/admin/webhooks", "/admin/webhooks",
                            {"id": hook_id, "url": f"{receiver.url}/down", "active": "on"})
        assert kept.status_code == 200 and 'id="shown-secret"' not in kept.text

        saved(admin.submit("/admin/automation", "/admin/automation/triggers", {
            "id": trigger_id, "name": "Tell the CRM", "active": "on", "on": ["created"],
            "conditions.0.field": "subject", "conditions.0.op": "contains",
            "conditions.0.value": word, "actions.webhook": hook_id}, allow_redirects=False))
        number = file_ticket(portal, f"Order {word}")

        def dead_row():
            page = admin.get(f"{portal}/admin/webhooks", timeout=10).text
            found = re.search(rf'<tr id="dead-({re.escape(hook_id)}:[^"]+)">(.*?)</tr>',
                              page, re.S)
            return found and (found.group(1), found.group(2))
        delivery_id, row = eventually(dead_row, timeout=30)
        assert "HTTP 500" in row and "trigger_fired" in row
        inspected = admin.get(f"{portal}/admin/webhooks", params={"delivery": delivery_id},
                              timeout=10).text
        body = html.unescape(inspected.split('id="dead-letter-body">', 1)[1].split("</pre>")[0])
        assert json.loads(body)["ticket"]["number"] == number
        assert 'id="dead-letter-error">HTTP 500<' in inspected

        receiver.answers["/down"] = [200]
        saved(admin.submit("/admin/webhooks", f"/admin/webhooks/dead-letters/{delivery_id}/replay",
                           {}, allow_redirects=False))
        delivered = eventually(lambda: len(receiver.to("/down")) >= 2 and receiver.to("/down"),
                               timeout=30)
        last = delivered[-1]
        signed = f"{last['headers']['X-Helpdesk-Timestamp']}.".encode() + last["body"]
        expected = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        assert last["headers"]["X-Helpdesk-Signature"] == f"sha256={expected}"
        assert last["body"] == delivered[0]["body"]  # the same body again
        assert f'id="dead-{delivery_id}"' not in admin.get(f"{portal}/admin/webhooks",
                                                            timeout=10).text
        again = admin_ru.submit("/admin/webhooks",
                             f"/admin/webhooks/dead-letters/{delivery_id}/replay?lang=ru", {})
        assert "недоставленное сообщение не найдено" in alert(again, 404)
    finally:
        admin.submit("/admin/automation", f"/admin/automation/triggers/{trigger_id}/delete", {})
        admin.submit("/admin/webhooks", f"/admin/webhooks/{hook_id}/delete", {})
    assert hook_id not in [w["id"] for w in api("get", "/api/admin/webhooks")["webhooks"]]


def test_russian_pages_leave_nothing_in_english(portal, admin_ru, api, receiver):
    """With a trigger, a webhook and a dead letter on them, so every table is filled."""
    hook_id, trigger_id, word = unique("ru-hook"), unique("ru-trigger"), unique("ruword")
    receiver.answers["/ru"] = [500]
    api("put", f"/api/admin/webhooks/{hook_id}", {
        "url": f"{receiver.url}/ru", "secret": "r" * 20, "events": ["ticket_created"],
        "active": True})
    api("put", f"/api/admin/triggers/{trigger_id}", {
        "name": "Возвраты", "on": ["created", "rated"],
        "conditions": [{"field": "subject", "op": "contains", "value": word}],
        "business_hours": {"time_zone": "Europe/Moscow", "days": ["mon"], "from": "09:00",
                           "to": "18:00", "inside": False},
        "actions": [{"type": "set_field", "field": "priority", "value": "high"},
                    {"type": "email", "email": {"to": "requester", "subject": {"en": "x"},
                                                "body": {"en": "y"}}},
                    {"type": "webhook", "webhook_id": hook_id}]})
    try:
        file_ticket(portal, f"Обращение {word}")
        eventually(lambda: any(d["webhook_id"] == hook_id for d in api(
            "get", "/api/admin/webhooks/dead-letters")["deliveries"]), timeout=30)
        for path in ("/admin/automation", f"/admin/automation?trigger={trigger_id}",
                     "/admin/webhooks", f"/admin/webhooks?webhook={hook_id}"):
            page = admin_ru.get(f"{portal}{path}", params={"lang": "ru"}, timeout=10)
            assert page.status_code == 200
            assert "Автоматизация" in page.text and "Вебхуки" in page.text
            assert left_in_english(page.text) == [], path
        api_ru = requests.put(f"{portal}/api/admin/time-rules", timeout=10,
                              headers={**bearer(api_token(portal, STAFF["admin"])),
                                       "Accept-Language": "ru"},
                              json={"close_solved_after_days": 0})
        assert api_ru.status_code == 400
        assert api_ru.json()["errors"] == {
            "close_solved_after_days": ["Целое число дней от 1 до 365."],
            "remind_pending_after_days": ["Обязательное поле."],
            "solve_reminded_after_days": ["Обязательное поле."],
            "escalate_unassigned_after_minutes": ["Обязательное поле."]}
    finally:
        api("delete", f"/api/admin/triggers/{trigger_id}", expect=204)
        api("delete", f"/api/admin/webhooks/{hook_id}", expect=204)
