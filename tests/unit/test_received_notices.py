"""The received notices of tickets filed together: sent when the tickets are settled, recorded
by the one settling write, and a send that fails holds back only its own notice (handler logic
with in-memory fakes)."""
from datetime import timedelta

from nameko.testing.services import worker_factory

from services.intake.dependencies import IntakeSettings
from services.intake.service import IntakeService


class FakeStore:
    """Settles as the repository does: a ticket whose notice was not sent keeps owing it."""

    def __init__(self, tickets):
        self.tickets = {t["_id"]: dict(t, settle={"notice": True, "correlation_id": "c"})
                        for t in tickets}
        self.settlements = 0

    def recent_mail_settings(self):
        return None  # the defaults

    def settle(self, ticket_ids, sent, unsent):
        self.settlements += 1
        for ticket_id in ticket_ids:
            ticket = self.tickets[ticket_id]
            if ticket_id in unsent or ticket.pop("settle", None) is None:
                continue  # still owing its notice, or settled already
            if ticket_id in sent:
                kept = ticket.setdefault("email_message_ids", [])
                if sent[ticket_id] not in kept:
                    kept.append(sent[ticket_id])


class FakeMailer:
    enabled = True

    def __init__(self, refusing=()):
        self.refusing, self.sent = set(refusing), []

    def send(self, msg):
        if msg["To"] in self.refusing:
            raise ConnectionRefusedError("relay refused")
        self.sent.append(msg["To"])


def ticket(n):
    return {"_id": f"t{n}", "number": n, "subject": f"Printer {n}", "language": "en",
            "requester_email": f"r{n}@example.com", "requester_id": f"u{n}"}


def service(store, mailer):
    return worker_factory(IntakeService, store=store, mailer=mailer, settings=IntakeSettings(
        reopen_window=timedelta(days=7), smtp_host="relay.test", smtp_port=25,
        mail_from="desk@example.com", portal_url="http://desk.test", csat_secret="s" * 32,
        csat_previous_secrets=[], mail_token_secret="m" * 32))


def test_tickets_filed_together_are_acknowledged_and_settled_by_one_write():
    store, mailer = FakeStore([ticket(n) for n in (1, 2, 3)]), FakeMailer()
    service(store, mailer)._settle([store.tickets[f"t{n}"] for n in (1, 2, 3)])
    assert sorted(mailer.sent) == ["r1@example.com", "r2@example.com", "r3@example.com"]
    assert store.settlements == 1
    assert all(len(t["email_message_ids"]) == 1 and "settle" not in t
               for t in store.tickets.values())


def test_a_refused_send_leaves_only_its_notice_owed_and_only_it_is_sent_again():
    store, mailer = FakeStore([ticket(n) for n in (1, 2, 3)]), FakeMailer({"r2@example.com"})
    intake = service(store, mailer)
    as_filed = [dict(store.tickets[f"t{n}"]) for n in (1, 2, 3)]
    intake._settle([store.tickets[f"t{n}"] for n in (1, 2, 3)])
    assert sorted(mailer.sent) == ["r1@example.com", "r3@example.com"]
    assert "email_message_ids" not in store.tickets["t2"] and "settle" in store.tickets["t2"]

    mailer.refusing.clear()  # the relay is back; the sweep settles what is still owed
    intake._settle([store.tickets["t2"]])
    assert sorted(mailer.sent) == ["r1@example.com", "r2@example.com", "r3@example.com"]
    assert all(len(t["email_message_ids"]) == 1 and "settle" not in t
               for t in store.tickets.values())
    # A repeat (the writer's batch after a sweep took over) finds the Message-IDs recorded.
    intake._settle([dict(t, email_message_ids=store.tickets[t["_id"]]["email_message_ids"])
                    for t in as_filed])
    assert len(mailer.sent) == 3
