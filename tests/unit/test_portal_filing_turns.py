"""Ticket filings take turns in a portal process (services/portal/routes/tickets.py): at most
HELPDESK_FILINGS_AT_ONCE are under way, the rest start in the order they came."""
import eventlet
from flask import Flask

from services.common.clock import SystemClock
from services.portal.routes.tickets import file_ticket
from services.portal.web import Portal


class SlowIntake:
    """Answers create_ticket after a green-thread switch or two, noting who was under way."""

    def __init__(self):
        self.under_way, self.most_at_once, self.started = 0, 0, []

    def call(self, service, method, command):
        self.started.append(command["ticket"]["subject"])
        self.under_way += 1
        self.most_at_once = max(self.most_at_once, self.under_way)
        eventlet.sleep(0.01)
        self.under_way -= 1
        return {"ok": True, "created": True, "ticket": {"number": len(self.started)}}


class Customers:
    def requester(self, *, email, name, language):
        return {"_id": email, "email": email, "name": name, "role": "customer"}


def filing(subject: str) -> dict:
    return {"subject": subject, "description": "The printer jams.", "language": "en",
            "requester_email": f"{subject}@example.com"}


def file_together(monkeypatch, at_once: str, count: int) -> SlowIntake:
    monkeypatch.setenv("HELPDESK_FILINGS_AT_ONCE", at_once)
    intake, app = SlowIntake(), Flask(__name__)
    portal = Portal(intake, Customers(), SystemClock())

    def file(subject):
        with app.test_request_context("/api/tickets", method="POST"):
            return file_ticket(portal, filing(subject), None, "api")

    pool = eventlet.GreenPool()
    answers = [pool.spawn(file, f"t{i}") for i in range(count)]
    assert [a.wait()["answer"]["subject"] for a in answers] == [f"t{i}" for i in range(count)]
    return intake


def test_filings_beyond_the_limit_wait_and_start_in_arrival_order(monkeypatch):
    intake = file_together(monkeypatch, "2", 6)
    assert intake.most_at_once == 2
    assert intake.started == [f"t{i}" for i in range(6)]


def test_without_a_setting_eight_filings_are_under_way_at_once(monkeypatch):
    intake = file_together(monkeypatch, "", 12)
    assert intake.most_at_once == 8
