"""Time rules over the real RabbitMQ and Mongo wire server: intake and the automation service
run together; the automation's clock is injected and moved days ahead, and its sweep acts on
the tickets through intake: a solved ticket closes, a silent pending requester is reminded
(a real SMTP sink receives the mail) and then solved, a new ticket nobody took is escalated.
The admin's rules change the delays and switch rules off."""
from datetime import timedelta


from tests.integration.automation_fixtures import clock, runner  # noqa: F401 - fixtures
from tests.support import eventually

CUSTOMER = {"id": "cust-1", "role": "customer", "name": "Ann Customer"}
AGENT = {"id": "agent-1", "role": "agent", "name": "Bob Agent"}
ADMIN = {"id": "admin-1", "role": "admin", "name": "Ada"}


def file(rpc, subject):
    result = rpc.intake.create_ticket({
        "ticket": {"subject": subject, "description": "It jams on page 2",
                   "department": "technical", "requester_name": "Ann",
                   "requester_email": "ann@example.com"},
        "requester": CUSTOMER, "channel": "api", "idempotency_key": None})
    assert result["ok"], result
    return result["ticket"]["number"]


def status_of(rpc, number):
    return rpc.intake.get_ticket(number, AGENT)["ticket"]["status"]


def waiting(db, number, rule):
    """The automation has followed the ticket's events up to waiting for ``rule``."""
    return eventually(lambda: (db("automation").ticket_states.find_one({"number": number})
                               or {}).get("due_rule") == rule)


def test_a_solved_ticket_closes_by_the_time_rule(rpc, db, clock):
    number = file(rpc, "Close me later")
    assert rpc.intake.change_status(number, {"status": "solved"}, AGENT)["ok"]
    waiting(db, number, "close")
    clock.at += timedelta(days=3, hours=23)  # not yet: the default is 4 days
    rpc.automation.get_time_rules()  # a round trip; the 1 s sweep runs meanwhile too
    eventually(lambda: status_of(rpc, number) == "solved", timeout=3)
    clock.at += timedelta(hours=2)
    eventually(lambda: status_of(rpc, number) == "closed", timeout=10)
    history = rpc.intake.get_history(number, AGENT)["history"]
    assert any(h["field"] == "status" and h["new"] == "closed" and h["actor_id"] == "automation"
               for h in history)


def test_a_silent_pending_requester_is_reminded_then_the_ticket_is_solved(
        rpc, db, sink, clock):
    number = file(rpc, "Waiting for you")
    assert rpc.intake.add_message(number, {"body": "Which printer model?"}, AGENT)["ok"]
    assert rpc.intake.change_status(number, {"status": "pending"}, AGENT)["ok"]
    waiting(db, number, "remind")
    clock.at += timedelta(days=3, minutes=1)
    reminder = eventually(lambda: [m for m in sink.about(number)
                                   if "still need help" in m["Subject"]])
    assert len(reminder) == 1 and reminder[0]["To"] == "ann@example.com"
    assert reminder[0]["Reply-To"].startswith(f"support+t{number}-")
    waiting(db, number, "solve")
    assert status_of(rpc, number) == "pending"
    clock.at += timedelta(days=4, minutes=1)
    eventually(lambda: status_of(rpc, number) == "solved", timeout=10)
    assert len([m for m in sink.about(number) if "still need help" in m["Subject"]]) == 1


def test_a_new_ticket_nobody_took_is_escalated_once(rpc, db, clock):
    number = file(rpc, "Nobody home")
    waiting(db, number, "escalate")
    clock.at += timedelta(minutes=31)
    ticket = eventually(lambda: (t := rpc.intake.get_ticket(number, AGENT)["ticket"])[
        "priority"] == "high" and t)
    assert "escalated" in ticket["tags"]
    waiting(db, number, None)
    clock.at += timedelta(hours=5)
    rpc.automation.get_time_rules()
    assert rpc.intake.get_ticket(number, AGENT)["ticket"]["priority"] == "high"


def test_the_admin_changes_and_switches_off_rules(rpc, db, clock):
    defaults = rpc.automation.get_time_rules()["rules"]
    assert defaults["close_solved_after_days"] == 4
    assert rpc.automation.update_time_rules(dict(defaults, close_solved_after_days=0),
                                            ADMIN)["status"] == 400
    assert rpc.automation.update_time_rules(defaults, AGENT)["status"] == 403
    assert db("automation").settings.find_one({"_id": "time_rules"}) is None
    try:
        saved = rpc.automation.update_time_rules(
            dict(defaults, close_solved_after_days=1, escalate_unassigned_after_minutes=None),
            ADMIN)
        assert saved["ok"] and saved["rules"]["close_solved_after_days"] == 1
        unescalated = file(rpc, "Not escalated")
        solved = file(rpc, "Closes in a day")
        assert rpc.intake.change_status(solved, {"status": "solved"}, AGENT)["ok"]
        waiting(db, solved, "close")
        clock.at += timedelta(days=1, minutes=1)
        eventually(lambda: status_of(rpc, solved) == "closed", timeout=10)
        assert rpc.intake.get_ticket(unescalated, AGENT)["ticket"]["priority"] == "normal"
    finally:
        db("automation").settings.delete_one({"_id": "time_rules"})
