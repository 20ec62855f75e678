"""Time rules (services/automation/time_rules.py, contract.py): which rule a ticket waits for
and since when, late events, acting, escalation, and the admin's payload."""
from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from services.automation import time_rules as tr
from services.automation.schemas import TimeRulesSchema

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=timezone.utc)


def state(status, at=T0, **extra):
    return tr.status_changed(dict(tr.blank("t1", 7), **extra), status, at)


@pytest.mark.parametrize("status, extra, due", [
    ("solved", {}, ("close", T0)),
    ("pending", {}, ("remind", T0)),
    ("new", {}, ("escalate", T0)),
    ("new", {"assignee_id": "a1"}, (None, None)),
    ("new", {"escalated": True}, (None, None)),
    ("open", {}, (None, None)),
    ("closed", {}, (None, None)),
])
def test_each_status_waits_for_its_rule_from_when_it_began(status, extra, due):
    s = state(status, **extra)
    assert (s["due_rule"], s["due_from"]) == due


def test_a_reminded_pending_ticket_waits_to_be_solved_from_the_reminder():
    reminded = tr.acted(state("pending"), "remind", T0 + timedelta(days=3))
    assert (reminded["due_rule"], reminded["due_from"]) == ("solve", T0 + timedelta(days=3))
    # The customer answers (open), the agent asks again (pending): a new spell, a new reminder.
    again = tr.status_changed(tr.status_changed(reminded, "open", T0 + timedelta(days=4)),
                              "pending", T0 + timedelta(days=5))
    assert (again["due_rule"], again["due_from"], again["reminded_at"]) == (
        "remind", T0 + timedelta(days=5), None)


def test_a_late_older_status_event_is_ignored():
    solved = state("solved", T0 + timedelta(hours=1))
    assert tr.status_changed(solved, "open", T0) == solved


def test_assignment_and_escalation_end_the_escalate_rule():
    assert tr.assigned(state("new"), "a1", T0)["due_rule"] is None
    escalated = tr.acted(state("new"), "escalate", T0)
    assert escalated["escalated"] and escalated["due_rule"] is None
    assert tr.acted(state("solved"), "close", T0)["due_rule"] is None


def test_an_older_or_repeated_assignment_changes_nothing():
    taken = tr.assigned(state("new"), "a1", T0)
    moved = tr.assigned(taken, "a2", T0 + timedelta(minutes=5))
    assert (moved["assignee_id"], moved["assignee_at"]) == ("a2", T0 + timedelta(minutes=5))
    assert tr.assigned(moved, "a1", T0) == moved                        # late, older
    assert tr.assigned(moved, "a2", T0 + timedelta(minutes=5)) == moved  # the same again


@pytest.mark.parametrize("priority, tags, edit", [
    ("normal", ["vpn"], {"priority": "high", "tags": ["vpn", "escalated"]}),
    ("urgent", ["escalated"], {"priority": "urgent", "tags": ["escalated"]}),
])
def test_escalation_raises_priority_one_step_and_tags(priority, tags, edit):
    assert tr.escalation({"priority": priority, "tags": tags}) == edit


def test_defaults_and_the_admin_payload_round_trip():
    defaults = tr.rules_to_payload(tr.TimeRules())
    assert defaults == {"close_solved_after_days": 4, "remind_pending_after_days": 3,
                        "solve_reminded_after_days": 4,
                        "escalate_unassigned_after_minutes": 30}
    changed = dict(defaults, close_solved_after_days=1, remind_pending_after_days=None)
    rules = tr.rules_from_payload(TimeRulesSchema().load(changed))
    assert rules.delay("close") == timedelta(days=1) and rules.delay("remind") is None
    assert tr.rules_to_payload(rules) == changed


@pytest.mark.parametrize("bad", [
    {"close_solved_after_days": 0}, {"close_solved_after_days": 1.5},
    {"close_solved_after_days": "4"}, {"close_solved_after_days": True},
    {"escalate_unassigned_after_minutes": 10_081}, {"surprise": 1},
])
def test_the_admin_payload_is_refused_field_by_field(bad):
    payload = dict(tr.rules_to_payload(tr.TimeRules()), **bad)
    with pytest.raises(ValidationError) as exc:
        TimeRulesSchema().load(payload)
    assert set(exc.value.messages) == set(bad)


def test_changes_together_each_ticket_its_rules_in_order_on_one_state():
    def assignment(agent_id, at):
        return lambda s: tr.assigned(s, agent_id, at)

    stored = {"t1": dict(state("new"), version=3), "t2": dict(state("new", _id="t2"), version=1)}
    later = T0 + timedelta(minutes=5)
    changed = tr.evolved(stored, [
        ("t1", 7, assignment("a2", later)), ("t1", 7, assignment("a1", T0)),  # older, after
        ("t2", 8, assignment("a1", T0)), ("t2", 8, assignment("a1", T0)),      # the same twice
        ("t3", 9, assignment("a3", T0)),                                       # nothing stored
        ("t1", 7, assignment("a2", later))])
    by_id = {s["_id"]: s for s in changed}
    assert by_id["t1"] == tr.assigned(stored["t1"], "a2", later)
    assert by_id["t1"]["version"] == 3  # as read: its write is compare-and-set on it
    assert by_id["t2"] == tr.assigned(stored["t2"], "a1", T0)
    assert by_id["t3"] == tr.assigned(tr.blank("t3", 9), "a3", T0)
    assert by_id["t3"]["version"] == 0 and by_id["t3"]["status"] is None
    assert [s["_id"] for s in changed] == ["t1", "t2", "t3"]
    # An unchanged state is left out, as is one with nothing stored and nothing done to it.
    assert tr.evolved({"t1": by_id["t1"]}, [("t1", 7, assignment("a1", T0))]) == []
    assert tr.evolved({"t4": None}, [("t4", 4, lambda s: s)]) == []
