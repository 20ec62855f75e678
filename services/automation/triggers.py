"""Triggers with no I/O: when a ticket is created, updated, replied to or rated and a
trigger's conditions hold, its actions run.  Conditions read the ticket as intake shows it to
staff; time of day is checked against the trigger's own business hours.  The loop guard
keeps a trigger from firing again on the change it made itself."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from services.common import events as ev

from .schemas import WEEKDAYS

# The ticket event -> which triggers listen ("on"; contract.MOMENT_NAMES).
MOMENTS = {ev.TICKET_CREATED: "created", ev.TICKET_UPDATED: "updated",
           ev.STATUS_CHANGED: "updated", ev.MESSAGE_ADDED: "replied", ev.TICKET_RATED: "rated"}
# What a trigger's webhook delivery says about the ticket (no thread, no requester address).
SNAPSHOT = ("number", "subject", "status", "priority", "department", "category", "channel",
            "language", "tags", "organization", "plan", "assignee_id", "requester_id",
            "requester_verified", "created_at", "updated_at")


def _holds(condition: dict, ticket: dict) -> bool:
    value, wanted, op = ticket.get(condition["field"]), condition["value"], condition["op"]
    if isinstance(value, list):  # tags: "contains" one, "is" the whole set
        found = wanted in value if op in ("contains", "not_contains") else (
            sorted(value) == sorted(wanted) if isinstance(wanted, list) else wanted in value)
    elif op in ("contains", "not_contains"):
        found = str(wanted).casefold() in str(value or "").casefold()
    elif op in ("in", "not_in"):
        found = value in wanted
    else:
        found = value == wanted
    return not found if op in ("is_not", "not_in", "not_contains") else found


def in_business_hours(hours: dict, at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(hours["time_zone"]))
    start, end = (time.fromisoformat(hours[k]) for k in ("from", "to"))
    return WEEKDAYS[local.weekday()] in hours["days"] and start <= local.time() < end


@dataclass(frozen=True)
class Evaluation:
    matches: bool
    conditions: list[bool]   # each condition's result, in order
    business_hours: bool | None  # None: the trigger has no time condition


def evaluate(trigger: dict, ticket: dict, at: datetime) -> Evaluation:
    results = [_holds(c, ticket) for c in trigger["conditions"]]
    hours = trigger.get("business_hours")
    in_hours = None if hours is None else (in_business_hours(hours, at) == hours["inside"])
    return Evaluation(matches=all(results) and in_hours is not False, conditions=results,
                      business_hours=in_hours)


def planned_edit(trigger: dict, ticket: dict) -> dict[str, Any]:
    """The field edit the trigger's set_field and add_tags actions make (only real changes)."""
    edit: dict[str, Any] = {}
    tags = list(ticket.get("tags", []))
    for action in trigger["actions"]:
        if action["type"] == "set_field" and ticket.get(action["field"]) != action["value"]:
            edit[action["field"]] = action["value"]
        elif action["type"] == "add_tags":
            tags += [t for t in action["tags"] if t not in tags]
    if tags != list(ticket.get("tags", [])):
        edit["tags"] = tags
    return edit


def own_change(mark: dict | None, changes: dict) -> bool:
    """Loop guard: is this ``ticket_updated`` exactly the edit the trigger itself made (its
    ``mark``)?  Then that trigger does not fire on it; other triggers still may."""
    if not mark or not changes:
        return False
    made = mark["edit"]
    return all(name in made and change.get("new") == made[name]
               for name, change in changes.items())


def ordered(triggers: list[dict]) -> list[dict]:
    return sorted((t for t in triggers if t["active"]), key=lambda t: (t["position"], t["_id"]))
