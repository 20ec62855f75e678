"""Payloads of the SLA service's RPC: policies, calendars, clocks and compliance queries."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from services.common.events import PRIORITIES
from services.common.validation import Strict, StrictBool, slug, text

from .calendar import WEEKDAYS, interval_problems, parse_minute
from .domain import ACTIONS, TARGETS

# This module is SLA's public contract: its RPC payload schemas and what the portal may use
# besides (WEEKDAYS, imported above).  Others import nothing else of SLA: import-linter holds
# them to it (pyproject.toml).

MAX_TARGET_MINUTES = 525_600  # a year
POSITIVE_MINUTES = validate.Range(min=1, max=MAX_TARGET_MINUTES,
                                  error="Must be a whole number of minutes from {min} to {max}.")


class TargetsSchema(Strict):
    first_response = fields.Int(required=True, strict=True, validate=POSITIVE_MINUTES)
    next_response = fields.Int(load_default=None, allow_none=True, strict=True,
                               validate=POSITIVE_MINUTES)
    resolution = fields.Int(required=True, strict=True, validate=POSITIVE_MINUTES)


ActionList = fields.List(fields.Str(validate=validate.OneOf(ACTIONS)), load_default=list)


class EscalationSchema(Strict):
    warning = ActionList
    breach = ActionList


class PolicySchema(Strict):
    id = slug(required=True)
    name = text(100, required=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    organization = slug(load_default=None, allow_none=True)
    plan = slug(load_default=None, allow_none=True)
    department = slug(load_default=None, allow_none=True)
    calendar_id = slug(load_default=None, allow_none=True,
                       metadata={"description": "business calendar; none means 24/7 UTC"})
    targets = fields.Nested(TargetsSchema, required=True, metadata={"description": "minutes"})
    warning_threshold = fields.Float(
        load_default=0.8, validate=validate.Range(
            min=0, max=1, min_inclusive=False, max_inclusive=False,
            error="Must be a fraction of the target between 0 and 1 (e.g. 0.8)."))
    escalation = fields.Dict(keys=fields.Str(validate=validate.OneOf(TARGETS)),
                             values=fields.Nested(EscalationSchema), load_default=dict)


class WorkingHours(fields.List):
    """[["09:00", "13:00"], ["14:00", "18:00"]]: a day's intervals, checked for overlaps."""

    def __init__(self, **kwargs):
        super().__init__(fields.List(fields.Str(), validate=validate.Length(equal=2)), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        intervals = super()._deserialize(value, attr, data, **kwargs)
        try:
            minutes = [(parse_minute(start), parse_minute(end)) for start, end in intervals]
        except ValueError as exc:
            raise ValidationError(str(exc)) from None
        problems = interval_problems(minutes)
        if problems:
            raise ValidationError(problems)
        return intervals


class HoursSchema(Strict):
    mon, tue, wed, thu, fri, sat, sun = (WorkingHours(load_default=list) for _ in WEEKDAYS)


class CalendarSchema(Strict):
    id = slug(required=True)
    name = text(100, required=True)
    time_zone = fields.Str(required=True, metadata={"description": "IANA name, e.g. Europe/Moscow"})
    always_open = StrictBool(load_default=False, metadata={"description": "24/7"})
    hours = fields.Nested(HoursSchema, load_default=dict)
    holidays = fields.List(fields.Date(), load_default=list,
                           metadata={"description": "dates, YYYY-MM-DD"})
    yearly_holidays = fields.List(fields.Str(), load_default=list,
                                  metadata={"description": "every year, MM-DD"})

    @validates("time_zone")
    def known_zone(self, value: str, **kwargs) -> None:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError(f"Unknown time zone {value!r}; use an IANA name such as "
                                  "Europe/Moscow.") from None

    @validates("yearly_holidays")
    def month_days(self, value: list[str], **kwargs) -> None:
        for item in value:
            try:
                date.fromisoformat(f"2000-{item}")  # a leap year, so 02-29 is allowed
            except ValueError:
                raise ValidationError(f"{item!r} is not a month and day as MM-DD.") from None

    @validates_schema
    def some_working_time(self, data: dict, **kwargs) -> None:
        if not data.get("always_open") and not any(data.get("hours", {}).values()):
            raise ValidationError("Give working hours for at least one weekday, or set "
                                  "always_open.", "hours")


def calendar_document(calendar: dict) -> dict:
    """What is stored: JSON-friendly dates."""
    return dict(calendar, holidays=[d.isoformat() for d in calendar["holidays"]])


class ComplianceQuery(Strict):
    by = fields.Str(load_default="policy",
                    validate=validate.OneOf(("policy", "priority", "department", "agent")))
    since = fields.AwareDateTime(load_default=None, allow_none=True)
    until = fields.AwareDateTime(load_default=None, allow_none=True)


class TargetView(Schema):
    budget_s = fields.Int(attribute="budget")
    used_s = fields.Int(attribute="used")
    cycle = fields.Int()
    started_at = fields.AwareDateTime()
    due_at = fields.AwareDateTime(allow_none=True)
    warn_at = fields.AwareDateTime(allow_none=True)
    running = fields.Function(lambda s: s["since"] is not None)
    warned = fields.Bool()
    breached = fields.Bool()
    met_at = fields.AwareDateTime(allow_none=True)


class ClockView(Schema):
    ticket_id = fields.Str(attribute="_id")
    number = fields.Int()
    policy_id = fields.Str()
    calendar_id = fields.Str(allow_none=True)
    priority = fields.Str()
    department = fields.Str()
    status = fields.Str()
    assignee_id = fields.Str(allow_none=True)
    targets = fields.Dict(keys=fields.Str(), values=fields.Nested(TargetView))
    next_check = fields.AwareDateTime(allow_none=True)
