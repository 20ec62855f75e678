"""The received notice of tickets filed together: one read and one write for all, and a send
that fails holds back only its own notice (handler logic with in-memory fakes)."""
from datetime import datetime, timedelta, timezone

import pytest
from nameko.testing.services import worker_factory

from services.common import events as ev
from services.intake.dependencies import IntakeSettings
from services.intake.service import IntakeService

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=timezone.utc)


class FakeStore:
    def __init__(self, tickets):
        self.tickets = {t["_id"]: t for t in tickets}
        self.reads = self.writes = 0

    def recent_mail_settings(self):
        return None  # the defaults

    def by_ids(self, ticket_ids):
        self.reads += 1
        return {i: self.tickets[i] for i in ticket_ids if i in self.tickets}

    def record_sent_mail(self, sent):
        self.writes += 1
        for ticket_id, message_id in sent:
            kept = self.tickets[ticket_id].setdefault("email_message_ids", [])
            if message_id not in kept:
                kept.append(message_id)


class FakeMailer:
    enabled = True

    def __init__(self, refusing=()):
        self.refusing, self.sent = set(refusing), []

    def send_all(self, msgs):
        return [self._send(msg) for msg in msgs]

    def _send(self, msg):
        if msg["To"] in self.refusing:
            return ConnectionRefusedError("relay refused")
        self.sent.append(msg["To"])
        return None


def ticket(n):
    return {"_id": f"t{n}", "number": n, "subject": f"Printer {n}", "language": "en",
            "requester_email": f"r{n}@example.com", "requester_id": f"u{n}"}


def created(n):
    return ev.Event(f"e{n}", ev.TICKET_CREATED, NOW, {"ticket_id": f"t{n}"})


def service(store, mailer):
    return worker_factory(IntakeService, store=store, mailer=mailer, settings=IntakeSettings(
        reopen_window=timedelta(days=7), smtp_host="relay.test", smtp_port=25,
        mail_from="desk@example.com", portal_url="http://desk.test", csat_secret="s" * 32,
        csat_previous_secrets=[], mail_token_secret="m" * 32))


def test_tickets_filed_together_are_acknowledged_with_one_read_and_one_write():
    store, mailer = FakeStore([ticket(n) for n in (1, 2, 3)]), FakeMailer()
    service(store, mailer)._notify_received([created(n) for n in (1, 2, 3)])
    assert sorted(mailer.sent) == ["r1@example.com", "r2@example.com", "r3@example.com"]
    assert (store.reads, store.writes) == (1, 1)
    assert all(len(t["email_message_ids"]) == 1 for t in store.tickets.values())


def test_a_refused_send_is_raised_after_the_others_are_recorded_and_only_it_is_sent_again():
    store, mailer = FakeStore([ticket(n) for n in (1, 2, 3)]), FakeMailer({"r2@example.com"})
    intake = service(store, mailer)
    with pytest.raises(ConnectionRefusedError):
        intake._notify_received([created(n) for n in (1, 2, 3)])
    assert sorted(mailer.sent) == ["r1@example.com", "r3@example.com"]
    assert "email_message_ids" not in store.tickets["t2"]

    mailer.refusing.clear()  # the relay is back; the events come again, each alone
    for n in (1, 2, 3):
        intake._notify_received([created(n)])
    assert sorted(mailer.sent) == ["r1@example.com", "r2@example.com", "r3@example.com"]
    assert all(len(t["email_message_ids"]) == 1 for t in store.tickets.values())
