from datetime import datetime, timedelta, timezone

import pytest

from services.common.clock import FixedClock
from services.common.events import TicketState
from services.intake.domain import (DEFAULT_REOPEN_WINDOW, STAFF, TransitionError,
                                    allowed_targets, is_replay_of, latest_public_reply,
                                    may_see, new_ticket, plan_transition, scoped_queue,
                                    ticket_state,
                                    visible_filters)

CLOCK = FixedClock(datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
NOW = CLOCK.now()


def plan(current, requested, role, closed_at=None, **kw):
    return plan_transition(current, requested, role, closed_at=closed_at, now=NOW, **kw)


@pytest.mark.parametrize("current, role, expected", [
    ("new", "customer", ["solved"]),
    ("new", "system", ["open"]),
    ("new", "agent", ["on_hold", "open", "pending", "solved"]),
    ("open", "customer", ["solved"]),
    ("pending", "system", ["open", "solved"]),
    ("solved", "customer", ["closed", "open"]),
    ("solved", "system", ["closed"]),
    ("closed", "agent", ["open"]),
    ("closed", "system", []),
])
def test_allowed_targets(current, role, expected):
    assert allowed_targets(current, role) == expected


@pytest.mark.parametrize("current, requested, role", [
    ("new", "open", "system"),
    ("open", "pending", "agent"),
    ("pending", "open", "customer"),
    ("pending", "solved", "system"),
    ("on_hold", "open", "supervisor"),
    ("open", "solved", "customer"),
])
def test_permitted_moves_are_planned(current, requested, role):
    t = plan(current, requested, role)
    assert (t.old, t.new, t.is_reopen) == (current, requested, False)


@pytest.mark.parametrize("current, requested, role, allowed", [
    ("open", "pending", "customer", ["solved"]),
    ("open", "on_hold", "customer", ["solved"]),
    ("new", "open", "customer", ["solved"]),
    ("closed", "open", "system", []),
    ("open", "closed", "admin", ["on_hold", "pending", "solved"]),
])
def test_forbidden_moves_raise_with_allowed_list(current, requested, role, allowed):
    with pytest.raises(TransitionError) as exc:
        plan(current, requested, role)
    err = exc.value
    assert (err.current, err.requested) == (current, requested)
    assert err.allowed == allowed  # written out here, not recomputed by the code under test
    assert role in err.reason


def test_system_may_move_pending_to_open_but_customer_cannot_move_open_to_pending():
    assert plan("pending", "open", "system").new == "open"
    with pytest.raises(TransitionError):
        plan("open", "pending", "customer")


def test_moving_to_current_status_is_rejected():
    with pytest.raises(TransitionError) as exc:
        plan("open", "open", "agent")
    assert "already open" in exc.value.reason
    assert exc.value.allowed == ["on_hold", "pending", "solved"]


@pytest.mark.parametrize("current", ["solved", "closed"])
def test_reopen_is_flagged(current):
    t = plan(current, "open", "customer", closed_at=NOW - timedelta(days=1))
    assert t.is_reopen is True


@pytest.mark.parametrize("age, ok", [
    (timedelta(days=1), True),
    (DEFAULT_REOPEN_WINDOW, True),
    (DEFAULT_REOPEN_WINDOW + timedelta(seconds=1), False),
    (timedelta(days=60), False),
])
def test_closed_ticket_reopen_window(age, ok):
    if ok:
        assert plan("closed", "open", "customer", closed_at=NOW - age).is_reopen
    else:
        with pytest.raises(TransitionError) as exc:
            plan("closed", "open", "customer", closed_at=NOW - age)
        assert exc.value.allowed == []
        assert "follow-up" in exc.value.reason


def test_custom_reopen_window():
    with pytest.raises(TransitionError):
        plan("closed", "open", "agent", closed_at=NOW - timedelta(hours=2),
             reopen_window=timedelta(hours=1))


def test_window_does_not_apply_to_solved_tickets():
    assert plan("solved", "open", "agent", closed_at=NOW - timedelta(days=365)).is_reopen


def test_new_ticket_shape():
    fields = {"subject": "Printer", "description": "It jams", "department": "it",
              "priority": "high", "language": "en", "requester_email": "a@example.com"}
    t = new_ticket(ticket_id="t1", number=7, fields=fields, requester_id="u1",
                   channel="portal", now=NOW, idempotency_key="k1")
    assert t["_id"] == "t1" and t["number"] == 7
    assert t["status"] == "new"
    assert t["subject"] == "Printer" and t["priority"] == "high"
    assert t["category"] is None and t["tags"] == []
    assert t["requester_email"] == "a@example.com" and t["requester_name"] is None
    assert t["assignee_id"] is None and t["sla"] is None
    assert t["created_at"] == t["updated_at"] == NOW
    assert t["solved_at"] is t["closed_at"] is t["first_response_at"] is None
    assert t["messages"] == [] and t["idempotency_key"] == "k1"


def msg(body, role, public=True):
    return {"body": body, "author_role": role, "public": public}


def test_latest_public_reply_skips_notes_and_customer_messages():
    ticket = {"messages": [msg("first answer", "agent"), msg("older", "supervisor"),
                           msg("internal note", "agent", public=False),
                           msg("thanks!", "customer"), msg("auto", "system")]}
    assert latest_public_reply(ticket) == "older"


@pytest.mark.parametrize("role", sorted(STAFF))
def test_latest_public_reply_accepts_any_staff(role):
    assert latest_public_reply({"messages": [msg("x", role)]}) == "x"


@pytest.mark.parametrize("ticket", [
    {}, {"messages": []}, {"messages": [msg("note", "agent", public=False), msg("hi", "customer")]},
])
def test_latest_public_reply_empty(ticket):
    assert latest_public_reply(ticket) == ""


def test_the_state_events_carry_is_public_and_valid():
    """Internal notes and the requester's contact details never leave intake in an event."""
    ticket = new_ticket(ticket_id="t1", number=3, fields={
        "subject": "VPN down", "description": "Cannot connect", "department": "it",
        "priority": "high", "language": "en", "tags": ["vpn"],
        "requester_email": "secret@example.com", "requester_name": "Secret Person"},
        requester_id="u1", channel="api", now=NOW, idempotency_key=None)
    ticket.update(status="solved", solved_at=NOW, assignee_id="a1", assignee_name="Agent",
                  messages=[msg("Update the client", "agent"),
                            msg("INTERNAL NOTE", "agent", public=False),
                            msg("thanks!", "customer")])
    state = ticket_state(ticket)
    text = repr(state)
    for private in ("secret@example.com", "Secret Person", "INTERNAL NOTE"):
        assert private not in text
    assert "assignee_name" not in state
    assert state["conversation"] == ["Update the client", "thanks!"]
    assert state["last_public_reply"] == "Update the client"
    assert (state["status"], state["assignee_id"], state["solved_at"]) == ("solved", "a1", NOW)
    assert TicketState().load(TicketState().dump(state)) == state  # the events' contract


def test_closing_a_solved_ticket_is_not_a_reopen():
    t = plan_transition("solved", "closed", "customer", closed_at=None, now=NOW)
    assert t.is_reopen is False


def test_a_key_reused_for_another_request_is_not_a_replay():
    fields = {"subject": "Printer jams", "description": "On page 2", "department": "technical",
              "priority": "normal", "language": "en", "tags": ["printer"]}
    ticket = new_ticket(ticket_id="t1", number=1, fields=fields, requester_id="c1",
                               channel="api", now=NOW, idempotency_key="k1")
    assert is_replay_of(ticket, dict(fields))
    assert is_replay_of(ticket, dict(reversed(list(fields.items()))))  # order-free
    assert not is_replay_of(ticket, dict(fields, subject="Printer is on fire"))
    assert not is_replay_of(ticket, dict(fields, tags=[]))
    # Filed before requests were remembered: any retry with its key is taken as a replay.
    assert is_replay_of(dict(ticket, idempotency_digest=None), {"subject": "x"})
    keyless = new_ticket(ticket_id="t2", number=2, fields=fields, requester_id="c1",
                                channel="api", now=NOW, idempotency_key=None)
    assert keyless["idempotency_digest"] is None


# ---------------------------------------------------------------------------- who sees what

BILLING_TICKET = {"department": "billing", "requester_id": "c1"}
SCOPED = {"id": "a1", "role": "agent", "departments": ["technical", "general"]}


@pytest.mark.parametrize("actor, sees", [
    (SCOPED, False),
    (dict(SCOPED, departments=["billing"]), True),
    (dict(SCOPED, departments=[]), False),              # an agent with no department
    ({"id": "a1", "role": "agent"}, True),               # scoping switched off
    ({"id": "s1", "role": "supervisor"}, True),
    ({"id": "c1", "role": "customer"}, True),
    ({"id": "c2", "role": "customer", "departments": ["billing"]}, False),
    ({"id": "intake", "role": "system"}, True),
])
def test_may_see_a_ticket(actor, sees):
    assert may_see(BILLING_TICKET, actor) is sees


def test_ticket_lists_are_narrowed_to_what_the_actor_may_see():
    assert visible_filters({"status": "open"}, SCOPED) == {
        "status": "open", "department": {"$in": ["general", "technical"]}}
    assert visible_filters({"department": "billing"}, SCOPED) is None
    assert visible_filters({"department": "general"}, SCOPED) == {"department": "general"}
    assert visible_filters({}, {"id": "s1", "role": "supervisor"}) == {}
    assert visible_filters({}, {"id": "c1", "role": "customer"}) == {"requester_id": "c1"}


def test_a_department_scoped_agent_queues_only_their_departments():
    scoped = {"id": "a1", "role": "agent", "departments": ["billing", "it"]}
    assert scoped_queue({"departments": None}, scoped)["departments"] == ["billing", "it"]
    assert scoped_queue({"departments": ["it", "sales"]}, scoped)["departments"] == ["it"]
    assert scoped_queue({"departments": ["sales"]}, scoped)["departments"] == []
    everyone = {"id": "s1", "role": "supervisor"}
    assert scoped_queue({"departments": None}, everyone) == {"departments": None}
