"""Webhooks and triggers over the real RabbitMQ and Mongo wire server, to a real local HTTP
receiver: a trigger's webhook is delivered as signed JSON, retried with back-off (the
automation's clock is injected and moved past each wait), dead-lettered after the last
attempt, listed for the admin and replayed; subscribed ticket events are delivered too.
Triggers run in order, set fields and add notes, and never re-fire on their own change.
Filing a ticket never waits for a receiver."""
import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest

from tests.integration.webhook_receiver import Receiver
from tests.integration.automation_fixtures import clock, runner  # noqa: F401 - fixtures
from tests.support import eventually

CUSTOMER = {"id": "cust-1", "role": "customer", "name": "Ann Customer"}
ADMIN = {"id": "admin-1", "role": "admin", "name": "Ada"}
SECRET = "webhook-secret-0123456789"


@pytest.fixture(scope="module")
def receiver():
    server = Receiver()
    yield server
    server.stop()


def file(rpc, subject):
    started = time.perf_counter()
    result = rpc.intake.create_ticket({
        "ticket": {"subject": subject, "description": "It jams", "department": "technical"},
        "requester": CUSTOMER, "channel": "api", "idempotency_key": None})
    assert result["ok"], result
    return result["ticket"]["number"], time.perf_counter() - started


def verified(request) -> dict:
    headers = request["headers"]
    signed = f"{headers['X-Helpdesk-Timestamp']}.".encode() + request["body"]
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Helpdesk-Signature"], f"sha256={expected}")
    return json.loads(request["body"])


def test_a_trigger_s_webhook_is_signed_retried_and_dead_lettered(rpc, db, receiver, clock):
    receiver.answers["/flaky"] = [500, 503, 200]
    receiver.answers["/down"] = [500]
    for name in ("flaky", "down"):
        assert rpc.automation.upsert_webhook({
            "id": name, "url": f"{receiver.url}/{name}", "secret": SECRET}, ADMIN)["ok"]
    assert rpc.automation.upsert_trigger({
        "id": "tell-crm", "name": "Tell the CRM about urgent tickets", "on": ["created"],
        "conditions": [{"field": "subject", "op": "contains", "value": "crm"}],
        "actions": [{"type": "webhook", "webhook_id": "flaky"},
                    {"type": "webhook", "webhook_id": "down"}]}, ADMIN)["ok"]
    assert rpc.automation.upsert_webhook({"id": "x", "url": "ftp://x", "secret": "s"},
                                         ADMIN)["status"] == 400
    assert rpc.automation.upsert_webhook({"id": "y", "url": f"{receiver.url}/y",
                                          "secret": SECRET}, CUSTOMER)["status"] == 403
    assert "secret" not in rpc.automation.list_webhooks()["webhooks"][0]

    file(rpc, "Nothing for them")  # the condition does not hold: no delivery
    number, filing = file(rpc, "Tell the CRM")
    eventually(lambda: len(receiver.to("/flaky")) == 1 and len(receiver.to("/down")) == 1)
    clock.at += timedelta(seconds=31)   # first back-off: 30 s
    eventually(lambda: len(receiver.to("/flaky")) == 2 and len(receiver.to("/down")) == 2)
    clock.at += timedelta(seconds=61)   # second: 60 s
    eventually(lambda: len(receiver.to("/flaky")) == 3 and len(receiver.to("/down")) == 3)

    # The same signed body each time; the third attempt was accepted.
    bodies = [verified(r) for r in receiver.to("/flaky")]
    assert bodies[0] == bodies[1] == bodies[2]
    assert (bodies[0]["trigger_id"], bodies[0]["event_type"]) == ("tell-crm", "ticket_created")
    assert bodies[0]["ticket"]["number"] == number
    assert {r["headers"]["X-Helpdesk-Delivery"] for r in receiver.to("/flaky")} == {
        f"flaky:tell-crm:{bodies[0]['event_id']}"}
    assert receiver.to("/flaky")[0]["headers"]["X-Helpdesk-Event"] == "trigger_fired"
    flaky = eventually(lambda: db("automation").deliveries.find_one(
        {"webhook_id": "flaky", "status": "delivered"}))
    assert flaky["attempts"] == 3

    # /down used its three attempts: a dead letter the admin sees and can replay.
    dead = eventually(lambda: rpc.automation.dead_letters(ADMIN)["deliveries"])
    assert [(d["webhook_id"], d["attempts"], d["last_error"]) for d in dead] == [
        ("down", 3, "HTTP 500")]
    assert rpc.automation.dead_letters(CUSTOMER)["status"] == 403
    clock.at += timedelta(hours=7)
    time.sleep(1.5)  # a sweep or two: a dead letter is not retried by itself
    assert len(receiver.to("/down")) == 3
    receiver.answers["/down"] = [200]
    assert rpc.automation.replay_dead_letter(dead[0]["id"], ADMIN)["ok"]
    eventually(lambda: len(receiver.to("/down")) == 4)
    eventually(lambda: rpc.automation.dead_letters(ADMIN)["deliveries"] == [])
    assert rpc.automation.replay_dead_letter(dead[0]["id"], ADMIN)["status"] == 404
    # Filing never waited for the receivers (delivery is the automation's own work).
    assert filing < 2.0
    assert rpc.automation.delete_trigger("tell-crm", ADMIN)["ok"]


def test_subscribed_events_are_delivered_until_the_webhook_is_deleted(rpc, receiver, clock):
    for name in ("sub", "gone"):
        assert rpc.automation.upsert_webhook({
            "id": name, "url": f"{receiver.url}/{name}", "secret": SECRET,
            "events": ["ticket_created", "status_changed"]}, ADMIN)["ok"]
    assert rpc.automation.delete_webhook("gone", ADMIN)["ok"]
    assert rpc.automation.delete_webhook("gone", ADMIN)["status"] == 404
    number, _ = file(rpc, "Second event")
    delivered = eventually(lambda: receiver.to("/sub"))
    body = verified(delivered[0])
    assert (body["event_type"], body["data"]["number"]) == ("ticket_created", number)
    assert receiver.to("/gone") == []


AGENT = {"id": "agent-1", "role": "agent", "name": "Bob Agent"}


def test_triggers_run_in_order_and_never_re_fire_on_their_own_change(rpc, db, runner):
    hot = {"id": "hot", "name": "High is hot", "position": 1, "on": ["updated"],
           "conditions": [{"field": "priority", "op": "is", "value": "high"}],
           "actions": [{"type": "add_tags", "tags": ["hot"]},
                       {"type": "add_note", "body": "Marked hot by a trigger."}]}
    urgent = {"id": "hot-urgent", "name": "Hot becomes urgent", "position": 2,
              "on": ["updated"], "conditions": [{"field": "tags", "op": "contains",
                                                 "value": "hot"}],
              "actions": [{"type": "set_field", "field": "priority", "value": "urgent"}]}
    for trigger in (urgent, hot):
        assert rpc.automation.upsert_trigger(trigger, ADMIN)["ok"]
    assert [t["id"] for t in rpc.automation.list_triggers()["triggers"]][:2] == [
        "hot", "hot-urgent"]
    number, _ = file(rpc, "Loop guard")
    # Dry run on this sample ticket: would not match yet; changes nothing.
    dry = rpc.automation.dry_run_trigger({"trigger": hot, "number": number}, ADMIN)["result"]
    assert dry == {"matches": False, "conditions": [False], "business_hours": None,
                   "edit": {}, "actions": []}
    assert rpc.automation.dry_run_trigger({"trigger": hot, "number": number},
                                          AGENT)["status"] == 403
    assert rpc.intake.update_ticket(number, {"priority": "high"}, AGENT)["ok"]
    # "hot" tags and notes; its own tag edit fires "hot-urgent" (another trigger), which
    # makes it urgent; "hot" no longer matches (priority urgent), and never re-ran on its
    # own tag edit: exactly one note.
    ticket = eventually(lambda: (t := rpc.intake.get_ticket(number, AGENT)["ticket"])[
        "priority"] == "urgent" and t)
    assert ticket["tags"] == ["hot"]
    notes = [m for m in ticket["messages"] if not m["public"]]
    assert [n["body"] for n in notes] == ["Marked hot by a trigger."]
    assert notes[0]["author_role"] == "system"
    customer_view = rpc.intake.get_ticket(number, CUSTOMER)["ticket"]["messages"]
    assert customer_view == []


def test_a_trigger_does_not_fire_on_its_own_change_even_when_it_still_matches(
        rpc, db, runner):
    sticky = {"id": "sticky", "name": "Normal gets a note", "on": ["updated"],
              "conditions": [{"field": "priority", "op": "is", "value": "low"}],
              "actions": [{"type": "add_tags", "tags": ["low-touch"]},
                          {"type": "add_note", "body": "Low priority: batch it."}]}
    assert rpc.automation.upsert_trigger(sticky, ADMIN)["ok"]
    number, _ = file(rpc, "Sticky")
    assert rpc.intake.update_ticket(number, {"priority": "low"}, AGENT)["ok"]
    eventually(lambda: "low-touch" in rpc.intake.get_ticket(number, AGENT)["ticket"]["tags"])
    time.sleep(2)  # its own tag edit comes back as ticket_updated; it must not fire on it
    ticket = rpc.intake.get_ticket(number, AGENT)["ticket"]
    assert [m["body"] for m in ticket["messages"]] == ["Low priority: batch it."]
    # A person's next edit is not the trigger's own change: it fires again.
    assert rpc.intake.update_ticket(number, {"category": "billing"}, AGENT)["ok"]
    eventually(lambda: len(rpc.intake.get_ticket(number, AGENT)["ticket"]["messages"]) == 2)


def test_a_trigger_mails_the_requester_in_the_ticket_s_language(rpc, sink, runner):
    welcome = {"id": "vip-welcome", "name": "VIP welcome", "on": ["created"],
               "conditions": [{"field": "subject", "op": "contains", "value": "vip"}],
               "actions": [{"type": "email", "email": {
                   "to": "requester",
                   "subject": {"en": "We are on it", "ru": "Мы уже работаем"},
                   "body": {"en": "Hello $customer_name, $ticket_number is ours.",
                            "ru": "Здравствуйте, $customer_name! Заявка $ticket_number у нас."}}},
                   {"type": "email", "email": {"to": "followers", "subject": {"en": "FYI"},
                                               "body": {"en": "Copy."}}}]}
    assert rpc.automation.upsert_trigger(welcome, ADMIN)["ok"]
    bad = dict(welcome, actions=[{"type": "email", "email": {
        "to": "everyone", "subject": {"ru": "x"}, "body": {"en": "y"}}}])
    assert rpc.automation.upsert_trigger(bad, ADMIN)["status"] == 400
    result = rpc.intake.create_ticket({
        "ticket": {"subject": "VIP: не работает вход", "description": "Ошибка", "language": "ru",
                   "department": "technical", "requester_name": "Анна",
                   "requester_email": "anna@example.com"},
        "requester": CUSTOMER, "channel": "api", "idempotency_key": None})
    number = result["ticket"]["number"]
    mail = eventually(lambda: [m for m in sink.about(number) if "Мы уже" in m["Subject"]])
    assert mail[0]["To"] == "anna@example.com"
    assert mail[0].get_content().strip() == f"Здравствуйте, Анна! Заявка #{number} у нас."
    assert mail[0]["Reply-To"].startswith(f"support+t{number}-")
    time.sleep(1)  # no followers: nothing else is sent, and the mail is not repeated
    assert len([m for m in sink.about(number) if "Мы уже" in m["Subject"]]) == 1
    assert not [m for m in sink.about(number) if "FYI" in m["Subject"]]
    assert rpc.automation.delete_trigger("vip-welcome", ADMIN)["ok"]
