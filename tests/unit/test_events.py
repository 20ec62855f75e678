from datetime import datetime, timezone

import pytest
from marshmallow import ValidationError

from services.common import events as ev
from tests.support import ticket_state

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def created_data(**over):
    data = {"ticket_id": "t1", "number": 1, "subject": "Help", "description": "Broken",
            "department": "general", "priority": "normal", "channel": "portal",
            "language": "en", "requester_id": "u1", "created_at": NOW}
    data.update(over)
    return dict(data, ticket=ticket_state(data))


def closed_data(ticket_id):
    data = {"ticket_id": ticket_id, "number": 1, "closed_at": NOW}
    return dict(data, ticket=ticket_state(data, status="closed"))


def test_new_event_round_trips_through_parse_event():
    envelope = ev.new_event(ev.TICKET_CREATED, created_data(tags=["a"]), NOW, event_id="e1")
    assert envelope["event_type"] == ev.TICKET_CREATED
    assert envelope["version"] == ev.SCHEMA_VERSION
    assert envelope["data"]["created_at"] == NOW.isoformat()  # JSON-ready
    event = ev.parse_event(ev.TICKET_CREATED, envelope)
    assert event.event_id == "e1" and event.occurred_at == NOW
    assert event.data["created_at"] == NOW
    assert event.data["tags"] == ["a"] and event.data["category"] is None


def test_ticket_created_may_name_the_previous_agent_of_a_follow_up():
    plain = ev.parse_event(ev.TICKET_CREATED, ev.new_event(ev.TICKET_CREATED, created_data()))
    assert plain.data["previous_assignee_id"] is None
    follow_up = ev.parse_event(ev.TICKET_CREATED, ev.new_event(
        ev.TICKET_CREATED, created_data(previous_assignee_id="agent-7")))
    assert follow_up.data["previous_assignee_id"] == "agent-7"


def test_new_event_generates_unique_ids():
    a = ev.new_event(ev.TICKET_CLOSED, closed_data("t"))
    b = ev.new_event(ev.TICKET_CLOSED, closed_data("t"))
    assert a["event_id"] != b["event_id"]


@pytest.mark.parametrize("over, field", [
    ({"priority": "critical"}, "priority"),
    ({"channel": "fax"}, "channel"),
    ({"created_at": datetime(2024, 5, 1, 12, 0)}, "created_at"),
    ({"subject": None}, "subject"),
])
def test_new_event_rejects_bad_data(over, field):
    with pytest.raises(ValidationError) as exc:
        ev.new_event(ev.TICKET_CREATED, created_data(**over), NOW)
    assert field in exc.value.messages


def test_new_event_rejects_missing_required_field():
    data = created_data()
    del data["requester_id"]
    with pytest.raises(ValidationError) as exc:
        ev.new_event(ev.TICKET_CREATED, data, NOW)
    assert "requester_id" in exc.value.messages


@pytest.fixture
def envelope():
    return ev.new_event(ev.TICKET_CLOSED, closed_data("t1"), NOW)


def test_parse_event_rejects_unknown_data_field(envelope):
    envelope["data"]["requester_email"] = "x@example.com"
    with pytest.raises(ValidationError) as exc:
        ev.parse_event(ev.TICKET_CLOSED, envelope)
    assert "requester_email" in exc.value.messages


def test_parse_event_rejects_unknown_envelope_field(envelope):
    envelope["extra"] = 1
    with pytest.raises(ValidationError) as exc:
        ev.parse_event(ev.TICKET_CLOSED, envelope)
    assert "extra" in exc.value.messages


def test_parse_event_rejects_other_event_type(envelope):
    with pytest.raises(ValidationError) as exc:
        ev.parse_event(ev.TICKET_REOPENED, envelope)
    assert "event_type" in exc.value.messages


@pytest.mark.parametrize("field, value", [
    ("event_type", "ticket_exploded"),
    ("version", ev.SCHEMA_VERSION + 1),
    ("occurred_at", "2024-05-01T12:00:00"),  # naive
])
def test_parse_event_rejects_bad_envelope(envelope, field, value):
    envelope[field] = value
    with pytest.raises(ValidationError) as exc:
        ev.parse_event(ev.TICKET_CLOSED, envelope)
    assert field in exc.value.messages


def test_parse_event_rejects_naive_datetime_in_data(envelope):
    envelope["data"]["closed_at"] = "2024-05-01T12:00:00"
    with pytest.raises(ValidationError) as exc:
        ev.parse_event(ev.TICKET_CLOSED, envelope)
    assert "closed_at" in exc.value.messages


def test_every_event_type_has_a_schema_and_a_source():
    assert set(ev.EVENT_SCHEMAS) == set(ev.EVENT_SOURCE)


def test_new_event_rejects_fields_the_contract_does_not_know():
    with pytest.raises(ValidationError) as info:
        ev.new_event("ticket_closed", {"ticket_id": "t1", "number": 1,
                                    "closed_at": datetime.now(timezone.utc), "bogus": 1})
    assert "bogus" in info.value.messages


def test_new_event_rejects_a_naive_occurrence_time():
    with pytest.raises(ValidationError):
        ev.new_event("ticket_closed", {"ticket_id": "t1", "number": 1,
                                    "closed_at": datetime.now(timezone.utc)},
                  occurred_at=datetime(2026, 1, 1))


def rated_data(**over):
    return dict({"ticket_id": "t1", "number": 1, "score": 4, "satisfied": True,
                 "comment": None, "department": "general", "assignee_id": "a1",
                 "rated_at": NOW}, **over)


@pytest.mark.parametrize("score", [0, 6, "5", 4.5, True, None])
def test_ticket_rated_carries_a_whole_score_from_one_to_five(score):
    assert ev.new_event(ev.TICKET_RATED, rated_data())["data"]["score"] == 4
    with pytest.raises(ValidationError) as exc:
        ev.new_event(ev.TICKET_RATED, rated_data(score=score), NOW)
    assert "score" in exc.value.messages


def test_ticket_assigned_may_carry_where_to_write_to_the_agent():
    data = {"ticket_id": "t1", "number": 1, "agent_id": "a1", "agent_name": "Anna",
            "department": "general", "assigned_at": NOW}
    older = ev.parse_event(ev.TICKET_ASSIGNED, ev.new_event(ev.TICKET_ASSIGNED, data, NOW))
    assert (older.data["agent_email"], older.data["agent_language"]) == (None, None)
    newer = ev.new_event(ev.TICKET_ASSIGNED, dict(data, agent_email="anna@desk.test",
                                                  agent_language="ru"), NOW)
    assert ev.parse_event(ev.TICKET_ASSIGNED, newer).data["agent_email"] == "anna@desk.test"
    with pytest.raises(ValidationError):
        ev.new_event(ev.TICKET_ASSIGNED, dict(data, agent_language="de"), NOW)
