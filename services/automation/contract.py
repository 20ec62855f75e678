"""The automation service's public contract: the payloads other services (the portal) send
and receive over RPC.  Other services import only this module of the automation service."""
from __future__ import annotations

from datetime import timedelta

from marshmallow import fields, validate

from services.common.validation import Strict

from .time_rules import TimeRules

DAYS = validate.Range(min=1, max=365, error="Must be a whole number of days from {min} to {max}.")
MINUTES = validate.Range(min=1, max=10_080,
                         error="Must be a whole number of minutes from {min} to {max}.")


def _days(**kwargs):
    return fields.Int(strict=True, allow_none=True, validate=DAYS, **kwargs)


class TimeRulesSchema(Strict):
    """The admin's time rules; null switches a rule off."""

    close_solved_after_days = _days(required=True, metadata={
        "description": "a solved ticket is closed this many days later"})
    remind_pending_after_days = _days(required=True, metadata={
        "description": "a pending ticket's silent requester is reminded after this many days"})
    solve_reminded_after_days = _days(required=True, metadata={
        "description": "a reminded pending ticket is solved this many days after the reminder"})
    escalate_unassigned_after_minutes = fields.Int(
        strict=True, allow_none=True, required=True, validate=MINUTES, metadata={
            "description": "a new ticket nobody took is escalated (priority one step up, tag "
                           "'escalated') after this many minutes"})


def _whole(delta: timedelta | None, unit: timedelta) -> int | None:
    return None if delta is None else int(delta / unit)


def rules_to_payload(rules: TimeRules) -> dict:
    day, minute = timedelta(days=1), timedelta(minutes=1)
    return {"close_solved_after_days": _whole(rules.close_solved_after, day),
            "remind_pending_after_days": _whole(rules.remind_pending_after, day),
            "solve_reminded_after_days": _whole(rules.solve_reminded_after, day),
            "escalate_unassigned_after_minutes": _whole(rules.escalate_unassigned_after,
                                                        minute)}


def rules_from_payload(payload: dict) -> TimeRules:
    def days(key):
        return None if payload.get(key) is None else timedelta(days=payload[key])
    minutes = payload.get("escalate_unassigned_after_minutes")
    return TimeRules(close_solved_after=days("close_solved_after_days"),
                     remind_pending_after=days("remind_pending_after_days"),
                     solve_reminded_after=days("solve_reminded_after_days"),
                     escalate_unassigned_after=None if minutes is None
                     else timedelta(minutes=minutes))
