"""Every clock rule, on round-the-clock time unless a business calendar is the point."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla import domain
from services.sla.calendar import (ROUND_THE_CLOCK, add_business_time, business_time_between,
                                   from_spec)

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
CAL = ROUND_THE_CLOCK
POLICY = {"_id": "p-normal", "priority": "normal", "warning_threshold": 0.8,
          "targets": {"first_response": 60, "next_response": 30, "resolution": 600},
          "escalation": {"first_response": {"warning": ["notify_supervisor"],
                                            "breach": ["raise_priority", "reassign"]}}}
TICKET = {"ticket_id": "t1", "number": 42, "department": "billing", "priority": "normal",
          "created_at": T0}


def minutes(n):
    return timedelta(minutes=n)


def started(policy=POLICY, calendar=CAL):
    return domain.new_clock(TICKET, policy, calendar)


def target(clock, name):
    return clock["targets"][name]


# --------------------------------------------------------------------------- policies

POLICIES = [
    {"_id": "normal", "priority": "normal"},
    {"_id": "normal-billing", "priority": "normal", "department": "billing"},
    {"_id": "normal-gold", "priority": "normal", "plan": "gold"},
    {"_id": "normal-acme", "priority": "normal", "organization": "acme"},
    {"_id": "normal-acme-billing", "priority": "normal", "organization": "acme",
     "department": "billing"},
    {"_id": "high", "priority": "high"},
]


@pytest.mark.parametrize("ticket, expected", [
    ({"priority": "normal", "department": "tech"}, "normal"),
    ({"priority": "normal", "department": "billing"}, "normal-billing"),
    ({"priority": "normal", "department": "billing", "plan": "gold"}, "normal-gold"),
    ({"priority": "normal", "department": "tech", "organization": "acme", "plan": "gold"},
     "normal-acme"),
    ({"priority": "normal", "department": "billing", "organization": "acme"},
     "normal-acme-billing"),
    ({"priority": "high", "department": "billing", "organization": "acme"}, "high"),
    ({"priority": "urgent", "department": "billing"}, "default-urgent"),
])
def test_most_specific_matching_policy_wins(ticket, expected):
    assert domain.select_policy(POLICIES, ticket)["_id"] == expected


def test_default_policy_is_round_the_clock():
    policy = domain.select_policy([], {"priority": "low"})
    assert policy["calendar_id"] is None and policy["targets"]["first_response"] == 480


# --------------------------------------------------------------------------- starting

def test_creation_starts_first_response_and_resolution():
    clock = started()
    assert set(clock["targets"]) == {"first_response", "resolution"}
    assert target(clock, "first_response")["due_at"] == T0 + minutes(60)
    assert target(clock, "first_response")["warn_at"] == T0 + minutes(48)
    assert target(clock, "resolution")["due_at"] == T0 + minutes(600)
    assert clock["next_check"] == T0 + minutes(48)
    assert clock["policy_id"] == "p-normal" and clock["status"] == "new"


def test_business_calendar_deadline_skips_the_weekend():
    msk = ZoneInfo("Europe/Moscow")
    calendar = from_spec({"time_zone": "Europe/Moscow", "hours": {
        d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}})
    friday = datetime(2026, 11, 20, 17, 30, tzinfo=msk)
    clock = domain.new_clock(dict(TICKET, created_at=friday),
                             dict(POLICY, targets={"first_response": 240}), calendar)
    assert target(clock, "first_response")["due_at"] == datetime(2026, 11, 23, 12, 30, tzinfo=msk)


# --------------------------------------------------------------------------- replies

def test_public_staff_reply_meets_first_response():
    clock = domain.staff_replied(started(), T0 + minutes(20))
    fr = target(clock, "first_response")
    assert fr["met_at"] == T0 + minutes(20) and fr["used"] == 20 * 60
    assert clock["next_check"] == target(clock, "resolution")["warn_at"]


def test_customer_message_before_first_response_starts_nothing():
    clock = domain.customer_wrote(started(), T0 + minutes(5))
    assert "next_response" not in clock["targets"]


def test_each_customer_message_after_a_reply_starts_a_next_response_cycle():
    clock = domain.staff_replied(started(), T0 + minutes(10))
    clock = domain.customer_wrote(clock, T0 + minutes(20))
    nr = target(clock, "next_response")
    assert nr["cycle"] == 1 and nr["due_at"] == T0 + minutes(50)
    # A second message while the first is unanswered keeps the earlier deadline.
    clock = domain.customer_wrote(clock, T0 + minutes(25))
    assert target(clock, "next_response")["due_at"] == T0 + minutes(50)
    clock = domain.staff_replied(clock, T0 + minutes(40))
    assert target(clock, "next_response")["met_at"] == T0 + minutes(40)
    clock = domain.customer_wrote(clock, T0 + minutes(60))
    assert target(clock, "next_response")["cycle"] == 2
    assert target(clock, "next_response")["due_at"] == T0 + minutes(90)


def test_policy_without_next_response_never_starts_one():
    policy = dict(POLICY, targets={"first_response": 60, "resolution": 600})
    clock = domain.staff_replied(started(policy), T0 + minutes(10))
    assert "next_response" not in domain.customer_wrote(clock, T0 + minutes(20))["targets"]


# --------------------------------------------------------------------------- pausing

@pytest.mark.parametrize("waiting", ["pending", "on_hold"])
def test_waiting_pauses_and_the_paused_time_extends_deadlines(waiting):
    clock = domain.status_changed(started(), waiting, T0 + minutes(30))
    fr = target(clock, "first_response")
    assert fr["since"] is None and fr["used"] == 30 * 60 and fr["due_at"] is None
    assert clock["next_check"] is None  # nothing to check while the team waits
    clock = domain.status_changed(clock, "open", T0 + minutes(130))
    assert target(clock, "first_response")["due_at"] == T0 + minutes(160)
    assert target(clock, "resolution")["due_at"] == T0 + minutes(700)


def test_customer_message_while_pending_starts_a_paused_next_response():
    clock = domain.staff_replied(started(), T0 + minutes(5))
    clock = domain.status_changed(clock, "pending", T0 + minutes(5))
    clock = domain.customer_wrote(clock, T0 + minutes(20))
    assert target(clock, "next_response")["since"] is None
    clock = domain.status_changed(clock, "open", T0 + minutes(20))
    assert target(clock, "next_response")["due_at"] == T0 + minutes(50)


def test_deadline_missed_just_before_a_pause_is_still_checked():
    clock = domain.status_changed(started(), "pending", T0 + minutes(70))
    assert target(clock, "first_response")["due_at"] == T0 + minutes(60)
    assert clock["next_check"] == T0 + minutes(48)
    _, alerts = domain.raise_alerts(clock, T0 + minutes(71))
    assert alerts == [("warning", "first_response"), ("breach", "first_response")]


def test_pending_to_on_hold_stays_paused():
    clock = domain.status_changed(started(), "pending", T0 + minutes(10))
    clock = domain.status_changed(clock, "on_hold", T0 + minutes(50))
    assert target(clock, "first_response")["used"] == 10 * 60


# --------------------------------------------------------------------------- solving

def test_solved_meets_resolution_and_reopen_resumes_it():
    clock = domain.staff_replied(started(), T0 + minutes(10))
    clock = domain.status_changed(clock, "solved", T0 + minutes(100))
    res = target(clock, "resolution")
    assert res["met_at"] == T0 + minutes(100) and res["used"] == 100 * 60
    assert clock["next_check"] is None
    clock = domain.status_changed(clock, "closed", T0 + minutes(200))
    assert target(clock, "resolution")["met_at"] == T0 + minutes(100)
    clock = domain.status_changed(clock, "open", T0 + minutes(1000))
    res = target(clock, "resolution")
    assert res["met_at"] is None and res["due_at"] == T0 + minutes(1000 + 500)


def test_solving_a_pending_ticket_does_not_count_the_wait():
    clock = domain.status_changed(started(), "pending", T0 + minutes(30))
    clock = domain.status_changed(clock, "solved", T0 + minutes(300))
    assert target(clock, "resolution")["used"] == 30 * 60


# --------------------------------------------------------------------------- priority

def test_priority_change_recomputes_deadlines_on_the_time_used():
    clock = domain.status_changed(started(), "open", T0 + minutes(10))
    urgent = {"_id": "p-urgent", "priority": "urgent",
              "targets": {"first_response": 20, "resolution": 120}}
    clock = domain.policy_changed(clock, urgent, CAL, dict(TICKET, priority="urgent"),
                                  T0 + minutes(15))
    assert clock["priority"] == "urgent" and clock["policy_id"] == "p-urgent"
    assert target(clock, "first_response")["due_at"] == T0 + minutes(20)
    assert target(clock, "resolution")["due_at"] == T0 + minutes(120)
    assert clock["threshold"] == domain.DEFAULT_THRESHOLD


def test_smaller_budget_while_paused_makes_it_due_now():
    clock = domain.status_changed(started(), "pending", T0 + minutes(30))
    tight = {"_id": "tight", "priority": "urgent", "targets": {"first_response": 20}}
    clock = domain.policy_changed(clock, tight, CAL, dict(TICKET, priority="urgent"),
                                  T0 + minutes(40))
    assert target(clock, "first_response")["due_at"] == T0 + minutes(40)
    assert clock["next_check"] == T0 + minutes(40)


def test_assignment_is_remembered_for_reports():
    assert domain.assigned(started(), "agent-7", T0)["assignee_id"] == "agent-7"


# --------------------------------------------------------------------------- alerts

def test_warning_then_breach_each_once():
    clock = started()
    same, alerts = domain.raise_alerts(clock, T0 + minutes(47))
    assert alerts == [] and same["next_check"] == T0 + minutes(48)
    clock, alerts = domain.raise_alerts(clock, T0 + minutes(48))
    assert alerts == [("warning", "first_response")]
    assert clock["next_check"] == T0 + minutes(60)
    clock, alerts = domain.raise_alerts(clock, T0 + minutes(60))  # due exactly now = breached
    assert alerts == [("breach", "first_response")]
    clock, alerts = domain.raise_alerts(clock, T0 + minutes(61))
    assert alerts == []
    assert clock["next_check"] == target(clock, "resolution")["warn_at"]


def test_met_targets_never_alert():
    clock = domain.staff_replied(started(), T0 + minutes(1))
    clock, alerts = domain.raise_alerts(clock, T0 + minutes(59))
    assert alerts == []


def test_actions_come_from_the_policy_per_target_and_stage():
    clock = started()
    assert domain.actions_for(clock, "first_response", "warning") == ["notify_supervisor"]
    assert domain.actions_for(clock, "first_response", "breach") == ["raise_priority", "reassign"]
    assert domain.actions_for(clock, "resolution", "breach") == []


# --------------------------------------------------------------------------- outcomes

def test_outcomes_record_met_breached_and_open():
    clock = domain.assigned(started(), "agent-7", T0)
    clock = domain.staff_replied(clock, T0 + minutes(20))
    by_target = {o["target"]: o for o in domain.outcomes(clock)}
    assert by_target["first_response"]["result"] == "met"
    assert by_target["first_response"]["elapsed_s"] == 1200
    assert by_target["first_response"]["agent_id"] == "agent-7"
    assert by_target["resolution"]["result"] == "open"
    assert by_target["resolution"]["elapsed_s"] is None

    late = domain.staff_replied(started(), T0 + minutes(60))  # exactly at the deadline
    assert {o["target"]: o["result"] for o in domain.outcomes(late)}["first_response"] == \
        "breached"
    announced, _ = domain.raise_alerts(started(), T0 + minutes(61))
    assert {o["target"]: o["result"] for o in domain.outcomes(announced)}["first_response"] == \
        "breached"


def test_only_decided_outcomes_are_stored_and_only_when_they_change():
    """The compliance report reads met and breached records only: an assignment while every
    target is open writes none; the reply that meets first response writes that one; a late
    event that undoes it removes it."""
    fresh = started()
    taken = domain.assigned(fresh, "agent-7", T0)
    assert domain.outcome_changes(fresh, taken) == ([], [])
    replied = domain.staff_replied(taken, T0 + minutes(20))
    changed, gone = domain.outcome_changes(taken, replied)
    assert [(o["_id"], o["result"], o["agent_id"]) for o in changed] == \
        [(f"{fresh['_id']}:first_response:1", "met", "agent-7")]
    assert gone == []
    assert domain.outcome_changes(replied, domain.assigned(replied, "agent-8",
                                                           T0 + minutes(30))) == ([], [])
    assert domain.outcome_changes(replied, taken) == \
        ([], [f"{fresh['_id']}:first_response:1"])


def test_a_clock_is_saved_alone_only_when_nothing_is_announced_or_recorded_with_it():
    """An assignment while every target is open is the clock's own write (no transaction);
    the reply that meets first response moves a deadline and decides a record."""
    fresh = started()
    taken = domain.assigned(fresh, "agent-7", T0)
    assert domain.saved_alone(fresh, taken)
    replied = domain.staff_replied(taken, T0 + minutes(20))
    assert domain.deadlines(replied) != domain.deadlines(taken)
    assert not domain.saved_alone(taken, replied)
    assert domain.saved_alone(replied, domain.assigned(replied, "agent-8", T0 + minutes(30)))
    # A priority raise while open moves the deadlines: announced, so not alone.
    urgent = dict(POLICY, _id="p-urgent", priority="urgent",
                  targets={"first_response": 15, "next_response": 10, "resolution": 60})
    raised = domain.policy_changed(taken, urgent, CAL, dict(TICKET, priority="urgent"),
                                   T0 + minutes(1))
    assert domain.deadlines(raised) != domain.deadlines(taken)
    assert not domain.saved_alone(taken, raised)


@pytest.mark.parametrize("role, public, rule", [
    ("agent", True, domain.staff_replied), ("supervisor", True, domain.staff_replied),
    ("admin", True, domain.staff_replied), ("customer", True, domain.customer_wrote),
    ("agent", False, None), ("system", True, None),
])
def test_which_messages_count(role, public, rule):
    assert domain.message_rule(role, public) is rule


def test_results_stay_with_the_agent_assigned_when_they_were_decided():
    clock = domain.assigned(started(), "agent-a", T0)
    clock = domain.staff_replied(clock, T0 + minutes(10))
    clock = domain.assigned(clock, "agent-b", T0 + minutes(15))
    by_target = {o["target"]: o["agent_id"] for o in domain.outcomes(clock)}
    assert by_target == {"first_response": "agent-a", "resolution": "agent-b"}
    clock = domain.status_changed(clock, "solved", T0 + minutes(20))
    clock = domain.assigned(clock, "agent-c", T0 + minutes(25))
    clock = domain.status_changed(clock, "open", T0 + minutes(30))  # reopened
    clock = domain.status_changed(clock, "solved", T0 + minutes(40))
    assert {o["target"]: o["agent_id"] for o in domain.outcomes(clock)}["resolution"] == \
        "agent-c"


# --------------------------------------------------------------------------- a property

OFFICE = from_spec({"time_zone": "Europe/Berlin", "hours": {
    d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}})


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3 * 24 * 60), min_size=2, max_size=10))
def test_resolution_counts_exactly_the_business_time_spent_not_waiting(gaps):
    """Alternate open/pending at random moments (across a DST change), then solve: the time
    used is the business time of the open stretches only, and the deadline moved with it."""
    start = datetime(2024, 3, 28, 10, 0, tzinfo=timezone.utc)
    clock = domain.new_clock(dict(TICKET, created_at=start), POLICY, OFFICE)
    at, running, expected = start, True, timedelta(0)
    for gap in gaps:
        later = at + minutes(gap)
        if running:
            expected += business_time_between(OFFICE, at, later)
        clock = domain.status_changed(clock, "open" if not running else "pending", later)
        at, running = later, not running
        res = clock["targets"]["resolution"]
        assert res["used"] == int(expected.total_seconds())
        if running:
            assert res["due_at"] == add_business_time(
                OFFICE, at, max(timedelta(seconds=res["budget"]) - expected, timedelta(0)))
    clock = domain.status_changed(clock, "solved", at + minutes(1))
    if running:
        expected += business_time_between(OFFICE, at, at + minutes(1))
    assert clock["targets"]["resolution"]["used"] == int(expected.total_seconds())


# --------------------------------------------------------------------------- arrival order
# Events reach SLA on separate queues, through several workers and replicas, and the outbox
# may re-send an old one late: the clock must follow event time, not arrival order.

def test_status_changes_applied_in_reverse_give_the_time_ordered_clock():
    in_order = domain.status_changed(started(), "pending", T0 + timedelta(seconds=10), "e1")
    in_order = domain.status_changed(in_order, "open", T0 + timedelta(seconds=11), "e2")
    reversed_ = domain.status_changed(started(), "open", T0 + timedelta(seconds=11), "e2")
    reversed_ = domain.status_changed(reversed_, "pending", T0 + timedelta(seconds=10), "e1")
    assert reversed_["status"] == "open" and reversed_["status_at"] == T0 + timedelta(seconds=11)
    assert reversed_["next_check"] is not None  # it still warns and breaches
    fr = target(reversed_, "first_response")
    assert fr["used"] == 10 and fr["due_at"] == T0 + minutes(60) + timedelta(seconds=1)
    assert reversed_ == in_order


def test_a_reply_that_arrives_after_the_solve_counts_at_its_own_time():
    clock = domain.status_changed(started(), "solved", T0 + minutes(20), "solve")
    clock = domain.staff_replied(clock, T0 + minutes(5), "reply")
    fr = target(clock, "first_response")
    assert fr["met_at"] == T0 + minutes(5) and fr["used"] == 5 * 60
    assert target(clock, "resolution")["used"] == 20 * 60


def test_a_late_customer_message_starts_its_cycle_at_its_own_time():
    clock = domain.staff_replied(started(), T0 + minutes(10), "r1")
    clock = domain.staff_replied(clock, T0 + minutes(40), "r2")
    clock = domain.customer_wrote(clock, T0 + minutes(30), "c1")  # arrives after r2
    nr = target(clock, "next_response")
    assert nr["cycle"] == 1 and nr["met_at"] == T0 + minutes(40) and nr["used"] == 10 * 60


def test_the_same_event_twice_changes_nothing():
    once = domain.status_changed(started(), "pending", T0 + minutes(10), "e1")
    assert domain.status_changed(once, "pending", T0 + minutes(10), "e1") == once


def test_announced_alerts_survive_a_late_event():
    clock, alerts = domain.raise_alerts(domain.assigned(started(), "agent-a", T0, "a"),
                                        T0 + minutes(61))
    assert alerts == [("warning", "first_response"), ("breach", "first_response")]
    clock = domain.assigned(clock, "agent-b", T0 + minutes(62), "b")
    clock = domain.staff_replied(clock, T0 + minutes(30), "late-reply")
    fr = target(clock, "first_response")
    assert fr["warned"] and fr["breached"] and fr["agent_id"] == "agent-a"
    assert fr["met_at"] == T0 + minutes(30)


def test_deadlines_follow_pause_and_resume():
    clock = started()
    assert domain.deadlines(clock) == {"first_response_due": T0 + minutes(60),
                                       "resolution_due": T0 + minutes(600)}
    clock = domain.status_changed(clock, "pending", T0 + minutes(10), "p")
    assert domain.deadlines(clock) == {"first_response_due": None, "resolution_due": None}
    clock = domain.status_changed(clock, "open", T0 + minutes(40), "o")
    assert domain.deadlines(clock) == {"first_response_due": T0 + minutes(90),
                                       "resolution_due": T0 + minutes(630)}


URGENT = {"_id": "p-urgent", "priority": "urgent", "calendar_id": "office",
          "targets": {"first_response": 20, "next_response": 20, "resolution": 120}}
EVENT_KINDS = st.sampled_from(["open", "pending", "on_hold", "solved", "closed", "staff",
                               "customer", "assign", "urgent", "normal"])


def _apply(clock, kind, at, event_id):
    if kind == "staff":
        return domain.staff_replied(clock, at, event_id)
    if kind == "customer":
        return domain.customer_wrote(clock, at, event_id)
    if kind == "assign":
        return domain.assigned(clock, f"agent-{event_id}", at, event_id)
    if kind in ("urgent", "normal"):
        policy, calendar = (URGENT, OFFICE) if kind == "urgent" else (POLICY, CAL)
        return domain.policy_changed(clock, policy, calendar, dict(TICKET, priority=kind),
                                     at, event_id)
    return domain.status_changed(clock, kind, at, event_id)


@st.composite
def event_sequences(draw):
    """A few events at increasing (sometimes equal) times, and a shuffled delivery of them."""
    steps = draw(st.lists(st.tuples(EVENT_KINDS, st.integers(0, 6 * 60)), min_size=1,
                          max_size=8))
    at, events = T0, []
    for i, (kind, gap) in enumerate(steps):
        at += minutes(gap)
        events.append((kind, at, f"e{i}"))
    return events, draw(st.permutations(events))


@settings(max_examples=150, deadline=None)
@given(event_sequences())
def test_any_delivery_order_gives_the_time_ordered_clock(sequence):
    events, delivered = sequence
    in_order, shuffled = started(), started()
    for kind, at, event_id in events:
        in_order = _apply(in_order, kind, at, event_id)
    for kind, at, event_id in delivered:
        shuffled = _apply(shuffled, kind, at, event_id)
    assert shuffled == in_order
    assert domain.outcomes(shuffled) == domain.outcomes(in_order)


def test_a_clock_stored_before_inputs_were_kept_still_alerts():
    legacy = {k: v for k, v in started().items() if k not in ("origin", "inputs", "marks")}
    _, alerts = domain.raise_alerts(legacy, T0 + minutes(61))
    assert alerts == [("warning", "first_response"), ("breach", "first_response")]


def test_organization_and_plan_applied_later_are_kept_on_the_clock_and_its_replays():
    """A sender verified after filing: the account's organization and plan arrive as a
    policy change and stay through later replays (older policy entries leave them alone)."""
    gold = {"_id": "p-gold", "priority": "normal", "plan": "gold",
            "targets": {"first_response": 20, "resolution": 120}}
    clock = domain.policy_changed(started(), gold, CAL,
                                  dict(TICKET, organization="Acme", plan="gold"),
                                  T0 + minutes(5))
    assert (clock["organization"], clock["plan"], clock["policy_id"]) == ("Acme", "gold",
                                                                          "p-gold")
    clock = domain.status_changed(clock, "open", T0 + minutes(10))
    assert (clock["organization"], clock["plan"]) == ("Acme", "gold")
    old_entry = dict(clock["inputs"][0])
    for name in domain.ACCOUNT_FIELDS:
        old_entry.pop(name)
    replayed = domain.policy_changed(dict(clock, inputs=[old_entry]), gold, CAL,
                                     dict(TICKET, organization="Acme", plan="gold"),
                                     T0 + minutes(30))
    assert replayed["plan"] == "gold"


# --------------------------------------------------------------------------- held for the creation

def test_only_the_creation_starts_a_clock_not_the_events_held_for_it():
    from services.sla.repository import held_events

    solve = {"event_id": "e2", "event_type": "status_changed", "occurred_at": T0 + minutes(5),
             "data": {"ticket_id": "t1", "new_status": "solved", "changed_at": T0 + minutes(5)}}
    reply = dict(solve, event_id="e1", event_type="message_added", occurred_at=T0 + minutes(4))
    held = {"_id": "t1", "held": [solve, reply], "version": 2}
    assert domain.started(started())
    assert not domain.started(None) and not domain.started(held)
    assert [(e.event_id, e.event_type, e.occurred_at) for e in held_events(held)] == [
        ("e1", "message_added", T0 + minutes(4)), ("e2", "status_changed", T0 + minutes(5))]


# --------------------------------------------------------------------------- events together

def _assignment(agent_id, at, event_id):
    return lambda clock: domain.assigned(clock, agent_id, at, event_id)


def test_what_a_clocks_events_ask_of_its_write():
    fresh = started()
    held = {"_id": "t1", "held": [], "version": 1}
    assert domain.evolution(None, [_assignment("a1", T0, "e1")]) == (domain.NOT_STARTED, None)
    assert domain.evolution(held, [_assignment("a1", T0, "e1")]) == (domain.NOT_STARTED, None)
    legacy = {k: v for k, v in fresh.items() if k != "origin"}
    assert domain.evolution(legacy, [_assignment("a1", T0, "e1")]) == (domain.UNCHANGED, None)
    kind, taken = domain.evolution(fresh, [_assignment("a1", T0, "e1")])
    assert (kind, taken) == (domain.ALONE, domain.assigned(fresh, "a1", T0, "e1"))
    assert domain.evolution(taken, [_assignment("a1", T0, "e1")]) == (domain.UNCHANGED, None)
    assert domain.evolution(taken, []) == (domain.UNCHANGED, None)
    # A late assignment from before the reply that met first response: the reply's record is
    # credited to that agent now, so it is saved with the clock.
    replied = domain.staff_replied(taken, T0 + minutes(20), "e2")
    kind, recredited = domain.evolution(replied, [_assignment("a2", T0 + minutes(10), "e3")])
    assert kind == domain.RECORDED
    assert {o["target"]: o["agent_id"] for o in domain.outcomes(recredited)}[
        "first_response"] == "a2"


def test_several_clocks_events_together_each_clock_its_events_in_order():
    fresh = started()
    other = domain.new_clock(dict(TICKET, ticket_id="t2", number=43), POLICY, CAL)
    replied = domain.staff_replied(domain.assigned(fresh, "a1", T0, "e0"), T0 + minutes(20),
                                   "e1")
    kept = {"t1": fresh, "t2": other, "t4": {"_id": "t4", "held": [], "version": 1},
            "t5": replied}
    saved, alone = domain.evolved_together(kept, {
        # Two for one ticket, the newer first: both recorded, the newer one holds it.
        "t1": [_assignment("a2", T0 + minutes(5), "e2"), None,
               _assignment("a1", T0 + minutes(1), "e3")],
        "t2": [_assignment("a3", T0, "e4"), _assignment("a3", T0, "e4")],  # the same twice
        "t3": [_assignment("a4", T0, "e5")],    # nothing kept yet
        "t4": [_assignment("a4", T0, "e6")],    # events held for its creation
        "t5": [_assignment("a9", T0 + minutes(10), "e7")],  # re-credits the reply's record
        "t6": [None]})
    assert alone == {"t3", "t4", "t5", "t6"}
    by_id = {clock["_id"]: clock for clock in saved}
    assert set(by_id) == {"t1", "t2"}
    assert by_id["t1"] == domain.assigned(domain.assigned(fresh, "a2", T0 + minutes(5), "e2"),
                                          "a1", T0 + minutes(1), "e3")
    assert by_id["t1"]["assignee_id"] == "a2" and by_id["t1"]["version"] == fresh["version"]
    assert [i["id"] for i in by_id["t2"]["inputs"]] == ["e4"]
    # Nothing to do for a started clock: neither saved nor alone.
    assert domain.evolved_together({"t1": fresh}, {"t1": [None]}) == ([], set())
