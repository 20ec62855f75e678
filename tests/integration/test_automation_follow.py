"""The automation follows a ticket from events that travel on separate queues, on the real
broker and Mongo wire server: a creation that arrives after the assignment, or twice, still
leaves one right state (the first creation is a single insert; the others merge), and one
after the solve leaves it solved; an assignment arriving late or twice leaves the newest."""
from datetime import datetime, timedelta, timezone

import pytest
from nameko.standalone.events import event_dispatcher

from services.automation.service import AutomationService
from services.common import events as ev
from services.common.events import new_event
from tests.support import eventually, intake_event, queues_drained, running
from tests.unit.test_portal_live import created

AT = datetime(2026, 12, 4, 10, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def automation(config):
    with running(config, AutomationService) as runner:
        yield runner


def _dispatch(config, source: str, event: dict) -> None:
    event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})(
        source, event["event_type"], event)


def _state(db, ticket_id: str):
    return db("automation").ticket_states.find_one({"_id": ticket_id})


def test_a_creation_twice_or_after_the_assignment_leaves_one_right_state(automation, config,
                                                                       db):
    first = created(51, "technical")
    _dispatch(config, "intake", first)
    state = eventually(lambda: _state(db, "t51"))
    assert (state["status"], state["due_rule"], state["version"]) == ("new", "escalate", 1)
    _dispatch(config, "intake", first)  # redelivered
    eventually(lambda: queues_drained(config["_vhost"], "automation"))
    assert {k: v for k, v in _state(db, "t51").items() if k != "version"} == \
        {k: v for k, v in state.items() if k != "version"}

    _dispatch(config, "routing", new_event("ticket_assigned", {
        "ticket_id": "t52", "number": 52, "agent_id": "agent-1", "agent_name": "Bob",
        "department": "technical", "assigned_at": AT + timedelta(seconds=1)}))
    eventually(lambda: _state(db, "t52"))
    _dispatch(config, "intake", created(52, "technical"))
    state = eventually(lambda: (s := _state(db, "t52"))["status"] == "new" and s)
    assert (state["assignee_id"], state.get("due_rule")) == ("agent-1", None)  # not escalated


def test_a_creation_after_the_solve_leaves_the_ticket_solved(automation, config, db):
    """The solve came first: the creation does not make the ticket new again, so it waits to
    be closed, not to be escalated as nobody's."""
    solved_at = AT + timedelta(minutes=1)
    _dispatch(config, "intake", intake_event(ev.STATUS_CHANGED, {
        "ticket_id": "t55", "number": 55, "old_status": "new", "new_status": "solved",
        "actor_role": "agent", "department": "technical", "priority": "normal",
        "changed_at": solved_at}, solved_at))
    eventually(lambda: _state(db, "t55"))
    _dispatch(config, "intake", created(55, "technical"))
    eventually(lambda: queues_drained(config["_vhost"], "automation"))
    state = _state(db, "t55")
    assert (state["status"], state["due_rule"], state["due_from"]) == (
        "solved", "close", solved_at)


def _assigned(ticket_id: str, number: int, agent_id: str, at: datetime) -> dict:
    return new_event("ticket_assigned", {
        "ticket_id": ticket_id, "number": number, "agent_id": agent_id, "agent_name": agent_id,
        "department": "technical", "assigned_at": at})


def test_an_assignment_arriving_late_or_twice_leaves_the_newest(automation, config, db):
    _dispatch(config, "intake", created(53, "technical"))
    eventually(lambda: _state(db, "t53"))
    newer = _assigned("t53", 53, "agent-2", AT + timedelta(minutes=5))
    _dispatch(config, "routing", newer)
    eventually(lambda: _state(db, "t53")["assignee_id"] == "agent-2")
    kept = _state(db, "t53")

    _dispatch(config, "routing", _assigned("t53", 53, "agent-1", AT))  # older, delivered late
    _dispatch(config, "routing", newer)                                # redelivered
    eventually(lambda: queues_drained(config["_vhost"], "automation"))
    assert _state(db, "t53") == kept  # not even rewritten
