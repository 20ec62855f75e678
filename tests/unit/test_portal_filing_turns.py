"""Ticket filings take turns in a portal process (services/portal/routes/tickets.py): at most
HELPDESK_FILINGS_AT_ONCE are under way, the rest start in the order they came; one that gets
no turn within intake's answer time is refused, with nothing filed."""
import eventlet
import pytest
from flask import Flask
from flask_babel import Babel

from services.common.clock import SystemClock
from services.portal.routes.tickets import file_ticket
from services.portal.web import ApiError, Portal


class SlowIntake:
    """Answers create_tickets after a green-thread switch or two, noting which filings were
    under way."""

    def __init__(self, answer_in: float = 0.01, timeout: float = 10.0):
        self.under_way, self.most_at_once, self.started, self.requests = 0, 0, [], []
        self.answer_in, self.timeout = answer_in, timeout

    def call(self, service, method, filings):
        assert (service, method) == ("intake", "create_tickets")
        subjects = [filing["command"]["ticket"]["subject"] for filing in filings]
        self.requests.append(filings)
        self.started += subjects
        self.under_way += len(filings)
        self.most_at_once = max(self.most_at_once, self.under_way)
        eventlet.sleep(self.answer_in)
        self.under_way -= len(filings)
        return [{"ok": True, "created": True, "ticket": {"number": self.started.index(s) + 1}}
                for s in subjects]


class Customers:
    def requester(self, *, email, name, language):
        return {"_id": email, "email": email, "name": name, "role": "customer"}


def filing(subject: str) -> dict:
    return {"subject": subject, "description": "The printer jams.", "language": "en",
            "requester_email": f"{subject}@example.com"}


def filer(monkeypatch, at_once: str, intake: SlowIntake):
    monkeypatch.setenv("HELPDESK_FILINGS_AT_ONCE", at_once)
    app, portal = Flask(__name__), Portal(intake, Customers(), SystemClock())
    Babel(app)  # the refusal is a translated message

    def file(subject):
        with app.test_request_context("/api/tickets", method="POST"):
            return file_ticket(portal, filing(subject), None, "api")
    return file


def file_together(monkeypatch, at_once: str, count: int) -> SlowIntake:
    intake = SlowIntake()
    file, pool = filer(monkeypatch, at_once, intake), eventlet.GreenPool()
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


def test_a_filing_that_gets_no_turn_within_intakes_answer_time_is_refused_unfiled(monkeypatch):
    intake = SlowIntake(answer_in=0.3, timeout=0.05)  # intake far behind
    file = filer(monkeypatch, "1", intake)
    first = eventlet.spawn(file, "first")
    eventlet.sleep(0)  # the first has its turn
    with pytest.raises(ApiError) as refused:
        file("second")
    assert refused.value.status == 503
    assert "Nothing was filed" in refused.value.errors["_schema"][0]
    assert first.wait()["answer"]["subject"] == "first"
    assert intake.started == ["first"]
    assert file("third")["answer"]["subject"] == "third"  # the turn came back


def test_a_turn_given_back_goes_to_the_longest_waiting_not_to_a_newcomer(monkeypatch):
    monkeypatch.setenv("HELPDESK_FILINGS_AT_ONCE", "1")
    portal = Portal(SlowIntake(timeout=0.05), Customers(), SystemClock())
    assert portal.take_filing_turn()
    waiting = eventlet.spawn(portal.take_filing_turn)
    eventlet.sleep(0)  # waiting in line
    portal.filing_turns.release()
    assert not portal.take_filing_turn()  # a newcomer, right after: behind the one waiting
    assert waiting.wait()
