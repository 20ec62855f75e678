"""Ticket rules with no I/O: creation, the lifecycle state machine and who may move it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

ROLES = ("customer", "agent", "supervisor", "admin", "system")
STAFF = frozenset({"agent", "supervisor", "admin"})
ANYONE = frozenset(ROLES)

# (from, to) -> roles allowed to make that move.  Reopening is solved/closed -> open.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("new", "open"): STAFF | {"system"},
    ("new", "pending"): STAFF,
    ("new", "on_hold"): STAFF,
    ("new", "solved"): STAFF | {"customer"},
    ("open", "pending"): STAFF,
    ("open", "on_hold"): STAFF,
    ("open", "solved"): STAFF | {"customer"},
    ("pending", "open"): ANYONE,  # a customer reply reopens the conversation
    ("pending", "on_hold"): STAFF,
    ("pending", "solved"): STAFF | {"customer", "system"},
    ("on_hold", "open"): STAFF | {"system"},
    ("on_hold", "pending"): STAFF,
    ("on_hold", "solved"): STAFF | {"customer"},
    ("solved", "closed"): ANYONE,
    ("solved", "open"): STAFF | {"customer"},
    ("closed", "open"): STAFF | {"customer"},
}

DEFAULT_REOPEN_WINDOW = timedelta(days=14)


class TransitionError(Exception):
    """An illegal move; carries the moves that are allowed from here for this role."""

    def __init__(self, current: str, requested: str, allowed: list[str], reason: str):
        super().__init__(reason)
        self.current, self.requested, self.allowed, self.reason = (
            current, requested, allowed, reason)


def allowed_targets(current: str, role: str) -> list[str]:
    return sorted(to for (frm, to), roles in TRANSITIONS.items()
                  if frm == current and role in roles)


@dataclass(frozen=True)
class Transition:
    old: str
    new: str
    is_reopen: bool


def plan_transition(current: str, requested: str, role: str, *, closed_at: datetime | None,
                    now: datetime, reopen_window: timedelta = DEFAULT_REOPEN_WINDOW
                    ) -> Transition:
    """Decide whether ``role`` may move a ticket from ``current`` to ``requested``."""
    allowed = allowed_targets(current, role)
    if requested == current:
        raise TransitionError(current, requested, allowed, f"ticket is already {current}")
    if requested not in allowed:
        raise TransitionError(current, requested, allowed,
                              f"a {role} cannot move a ticket from {current} to {requested}")
    if current == "closed" and closed_at is not None and now - closed_at > reopen_window:
        raise TransitionError(current, requested, [],
                              "closed too long ago to reopen; file a follow-up ticket")
    return Transition(current, requested,
                      is_reopen=current in ("solved", "closed") and requested == "open")


def format_number(number: int) -> str:
    """Human-friendly ticket reference used in subjects and the UI."""
    return f"#{number}"


def new_ticket(*, ticket_id: str, number: int, fields: dict, requester_id: str, channel: str,
               now: datetime, idempotency_key: str | None) -> dict:
    """The stored shape of a freshly filed ticket."""
    return {
        "_id": ticket_id,
        "number": number,
        "subject": fields["subject"],
        "description": fields["description"],
        "department": fields["department"],
        "category": fields.get("category"),
        "priority": fields["priority"],
        "language": fields["language"],
        "tags": fields.get("tags", []),
        "channel": channel,
        "requester_id": requester_id,
        "requester_email": fields.get("requester_email"),
        "requester_name": fields.get("requester_name"),
        "status": "new",
        "assignee_id": None,
        "assignee_name": None,
        "sla": None,
        "idempotency_key": idempotency_key,
        "created_at": now,
        "updated_at": now,
        "first_response_at": None,
        "solved_at": None,
        "closed_at": None,
        "reopened_at": None,
        "messages": [],
    }


def latest_public_reply(ticket: dict) -> str:
    """What a solved ticket's resolution looks like to search: the last public staff reply."""
    for message in reversed(ticket.get("messages", [])):
        if message["public"] and message["author_role"] in STAFF:
            return message["body"]
    return ""
