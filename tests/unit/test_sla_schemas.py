"""Invalid policies and calendars are refused with a message that says what to fix."""
import pytest
from marshmallow import ValidationError

from services.sla.calendar import from_spec
from services.sla.schemas import CalendarSchema, PolicySchema, calendar_document

CALENDAR = {"id": "msk-office", "name": "Moscow office", "time_zone": "Europe/Moscow",
            "hours": {"mon": [["09:00", "13:00"], ["14:00", "18:00"]], "fri": [["09:00", "17:00"]]},
            "holidays": ["2026-12-31"], "yearly_holidays": ["01-01", "02-29"]}
POLICY = {"id": "gold-urgent", "name": "Gold, urgent", "priority": "urgent", "plan": "gold",
          "calendar_id": "msk-office", "warning_threshold": 0.75,
          "targets": {"first_response": 30, "next_response": 60, "resolution": 240},
          "escalation": {"first_response": {"warning": ["notify_supervisor"],
                                            "breach": ["raise_priority", "reassign"]}}}


def errors(schema, payload):
    with pytest.raises(ValidationError) as caught:
        schema.load(payload)
    return caught.value.messages


def test_valid_calendar_loads_and_round_trips_to_arithmetic():
    loaded = CalendarSchema().load(CALENDAR)
    calendar = from_spec(calendar_document(loaded))
    assert calendar.time_zone == "Europe/Moscow"
    assert calendar.hours[0] == ((540, 780), (840, 1080)) and calendar.hours[1] == ()
    assert (2, 29) in calendar.yearly_holidays


@pytest.mark.parametrize("change, field, message", [
    ({"time_zone": "Mars/Olympus"}, "time_zone", "Unknown time zone 'Mars/Olympus'"),
    ({"time_zone": "../etc/passwd"}, "time_zone", "Unknown time zone"),
    ({"hours": {"mon": [["09:00", "13:00"], ["12:00", "18:00"]]}}, "hours",
     "09:00-13:00 overlaps 12:00-18:00"),
    ({"hours": {"mon": [["18:00", "09:00"]]}}, "hours", "ends before it starts"),
    ({"hours": {"mon": [["9am", "18:00"]]}}, "hours", "not a time as HH:MM"),
    ({"hours": {"mon": [["09:00", "25:00"]]}}, "hours", "not a time of day"),
    ({"hours": {"mon": [["09:00"]]}}, "hours", "Length must be 2"),
    ({"hours": {"someday": [["09:00", "18:00"]]}}, "hours", "Unknown field"),
    ({"hours": {}}, "hours", "at least one weekday"),
    ({"yearly_holidays": ["13-01"]}, "yearly_holidays", "not a month and day"),
    ({"holidays": ["2026-02-30"]}, "holidays", "Not a valid date"),
])
def test_bad_calendars_are_refused_with_clear_messages(change, field, message):
    messages = errors(CalendarSchema(), dict(CALENDAR, **change))
    assert field in messages and message in str(messages[field])


def test_round_the_clock_calendar_needs_no_hours():
    loaded = CalendarSchema().load({"id": "always", "name": "24/7", "time_zone": "UTC",
                                    "always_open": True})
    assert from_spec(calendar_document(loaded)).round_the_clock


def test_valid_policy_loads():
    policy = PolicySchema().load(POLICY)
    assert policy["targets"]["next_response"] == 60 and policy["department"] is None


@pytest.mark.parametrize("change, field, message", [
    ({"targets": {"first_response": -5, "resolution": 240}}, "targets", "whole number of minutes"),
    ({"targets": {"first_response": 0, "resolution": 240}}, "targets", "whole number of minutes"),
    ({"targets": {"first_response": 1.5, "resolution": 240}}, "targets", "Not a valid integer"),
    ({"targets": {"resolution": 240}}, "targets", "Missing data"),
    ({"warning_threshold": 1.5}, "warning_threshold", "between 0 and 1"),
    ({"warning_threshold": 0}, "warning_threshold", "between 0 and 1"),
    ({"priority": "whenever"}, "priority", "Must be one of"),
    ({"escalation": {"first_response": {"breach": ["fire_everyone"]}}}, "escalation",
     "Must be one of"),
    ({"escalation": {"lunch": {}}}, "escalation", "Must be one of"),
    ({"calendar_id": "Not A Slug"}, "calendar_id", "lowercase"),
])
def test_bad_policies_are_refused_with_clear_messages(change, field, message):
    messages = errors(PolicySchema(), dict(POLICY, **change))
    assert field in messages and message in str(messages[field])
