"""SLA warnings reach the ticket's assignee by email (issue 3): routing assigns the ticket and
tells intake where to write to the agent; the SLA service's warning (published here as it
publishes it) becomes one mail in the agent's language through a real SMTP sink on 127.0.0.1,
never a mail to the customer, never carrying an internal note, once even when redelivered."""
from datetime import datetime, timedelta, timezone

import pytest

from services.common import events as ev
from services.intake.service import IntakeService
from services.routing.service import RoutingService
from tests.integration.routing_helpers import dispatcher
from tests.support import eventually, queues_drained, running

AGENT = {"id": "agent-w", "name": "Ванда Дежурная", "email": "wanda@desk.test",
         "departments": ["technical"], "languages": ["ru", "en"], "capacity": 10}
AGENT_ACTOR = {"id": "agent-w", "role": "agent", "name": "Ванда Дежурная"}
ADMIN = {"id": "admin-1", "role": "admin", "name": "Ada"}
CUSTOMER_EMAIL = "carl@example.com"


@pytest.fixture(scope="module", autouse=True)
def services(config, rpc, sink):
    cfg = dict(config, SMTP_RELAY_HOST="127.0.0.1", SMTP_RELAY_PORT=sink.port,
               MAIL_FROM="support@desk.test", PORTAL_URL="http://portal.test")
    with running(cfg, IntakeService, RoutingService):
        assert rpc.routing.upsert_department({"id": "technical", "name": "Technical"})["ok"]
        assert rpc.routing.upsert_agent(AGENT)["ok"]
        yield


def assigned_ticket(rpc, subject):
    """An English ticket from a customer with an email address, assigned by routing."""
    filed = rpc.intake.create_ticket({"ticket": {
        "subject": subject, "description": "It smokes", "department": "technical",
        "language": "en", "requester_email": CUSTOMER_EMAIL, "requester_name": "Carl"},
        "requester": {"id": "cust-w", "role": "customer", "name": "Carl"}, "channel": "api",
        "idempotency_key": None})
    assert filed["ok"], filed
    number = filed["ticket"]["number"]
    eventually(lambda: rpc.intake.get_ticket(number, AGENT_ACTOR)["ticket"]["assignee_id"]
               == AGENT["id"])
    return filed["ticket"]["id"], number


def warning(ticket_id, number, due_at, target="first_response"):
    return ev.new_event(ev.SLA_WARNING, {
        "ticket_id": ticket_id, "number": number, "target": target, "due_at": due_at,
        "policy_id": "normal", "department": "technical", "priority": "normal", "actions": []})


def to(sink, number, address):
    return [m for m in sink.about(number) if m["To"] == address]


def decided(db, event):
    """Intake has handled this warning (mailed or decided not to)."""
    return db("intake").processed_events.find_one(
        {"_id": f"notify_sla_warning:{event['event_id']}"}) is not None


def test_a_warning_mails_the_assignee_once_and_never_the_customer(rpc, sink, config, db):
    ticket_id, number = assigned_ticket(rpc, "Printer on fire")
    assert rpc.intake.add_message(number, {"body": "INTERNAL: owes us money, go slow",
                                           "public": False}, AGENT_ACTOR)["ok"]
    eventually(lambda: to(sink, number, CUSTOMER_EMAIL))  # "received": the customer's mail

    due = datetime(2030, 1, 15, 9, 30, tzinfo=timezone.utc)
    first = warning(ticket_id, number, due)
    publish = dispatcher(config)
    publish(first)
    [mail] = eventually(lambda: to(sink, number, AGENT["email"]))
    publish(first)  # redelivered after it was mailed: no second mail
    # A later, different warning is mailed (and arrives after the redelivery was handled).
    publish(warning(ticket_id, number, due + timedelta(hours=4), "resolution"))
    eventually(lambda: len(to(sink, number, AGENT["email"])) == 2)
    eventually(lambda: queues_drained(config["_vhost"], "intake"))
    subjects = sorted(m["Subject"] for m in to(sink, number, AGENT["email"]))
    assert subjects == [f"[#{number}] Предупреждение SLA: первый ответ до 2030-01-15 09:30 UTC",
                        f"[#{number}] Предупреждение SLA: решение до 2030-01-15 13:30 UTC"]

    # In the agent's first language (Russian) though the ticket is English; what, by when,
    # where to work on it; never the internal note.
    text = mail.get_content()
    assert "Printer on fire" in text and f"http://portal.test/agent/tickets/{number}" in text
    assert "Ванда Дежурная" in text and "2030-01-15 09:30 UTC" in text
    assert "INTERNAL" not in mail["Subject"] + text

    # The customer got only what customers get, and no mail carries the internal note.
    customer_mails = to(sink, number, CUSTOMER_EMAIL)
    assert len(customer_mails) == 1 and "We received" in customer_mails[0]["Subject"]
    assert not any("INTERNAL" in m.get_content() for m in sink.about(number))


def test_no_warning_mail_when_switched_off_or_the_ticket_is_solved(rpc, sink, config, db):
    ticket_id, number = assigned_ticket(rpc, "Scanner jams")
    publish = dispatcher(config)
    due = datetime.now(timezone.utc) + timedelta(minutes=20)
    saved = rpc.intake.update_mail_settings({"sender_address": "support@desk.test",
                                             "notifications": {"sla_warning": False}}, ADMIN)
    assert saved["ok"] and saved["settings"]["notifications"]["sla_warning"] is False
    switched_off = warning(ticket_id, number, due)
    try:
        publish(switched_off)
        eventually(lambda: decided(db, switched_off))
    finally:
        assert rpc.intake.update_mail_settings({"sender_address": "support@desk.test"},
                                               ADMIN)["ok"]
    publish(switched_off)  # redelivered now that mail is on again: it was decided already
    eventually(lambda: queues_drained(config["_vhost"], "intake"))
    assert to(sink, number, AGENT["email"]) == []

    assert rpc.intake.change_status(number, {"status": "solved"}, AGENT_ACTOR)["ok"]
    moot = warning(ticket_id, number, due, "resolution")
    publish(moot)
    eventually(lambda: decided(db, moot))
    assert to(sink, number, AGENT["email"]) == []
