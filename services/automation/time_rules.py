"""Time rules with no I/O: what each ticket waits for, and from when.

A ticket's follower state (``TicketState``) says which rule can next become due for it
(``due_rule``) and the instant its waiting started (``due_from``).  The rule fires once
``due_from + delay(rule) <= now``; the sweep asks, per rule, only for tickets whose
``due_from <= now - delay`` (an index range scan on (due_rule, due_from)), so its cost follows
the due tickets, not the open ones, and an admin's new delay applies at once with no
re-indexing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable, Literal, Mapping, TypedDict

Rule = Literal["close", "remind", "solve", "escalate"]
RULES: tuple[Rule, ...] = ("close", "remind", "solve", "escalate")
PRIORITY_LADDER = ("low", "normal", "high", "urgent")
ESCALATED_TAG = "escalated"


class TicketState(TypedDict, total=False):
    """What the automation knows of a ticket (from intake's and routing's events)."""

    _id: str
    number: int
    status: str
    status_at: datetime          # when the current status began (orders late events)
    assignee_id: str | None
    assignee_at: datetime | None  # when the current assignment was made (orders late events)
    reminded_at: datetime | None  # the pending reminder of the current pending spell
    escalated: bool
    due_rule: Rule | None
    due_from: datetime | None
    version: int


@dataclass(frozen=True)
class TimeRules:
    """The admin's delays; None switches a rule off.  Defaults: a solved ticket closes after
    4 days; a pending one reminds its requester after 3 days and is solved 4 days after the
    reminder; a new ticket nobody took is escalated after 30 minutes."""

    close_solved_after: timedelta | None = timedelta(days=4)
    remind_pending_after: timedelta | None = timedelta(days=3)
    solve_reminded_after: timedelta | None = timedelta(days=4)
    escalate_unassigned_after: timedelta | None = timedelta(minutes=30)

    def delay(self, rule: Rule) -> timedelta | None:
        return {"close": self.close_solved_after, "remind": self.remind_pending_after,
                "solve": self.solve_reminded_after,
                "escalate": self.escalate_unassigned_after}[rule]


def with_due(state: TicketState) -> TicketState:
    """The state with its next rule and the instant that rule's waiting began."""
    rule, since = None, None
    status = state.get("status")
    if status == "solved":
        rule, since = "close", state["status_at"]
    elif status == "pending":
        reminded = state.get("reminded_at")
        rule, since = ("solve", reminded) if reminded else ("remind", state["status_at"])
    elif status == "new" and not state.get("assignee_id") and not state.get("escalated"):
        rule, since = "escalate", state["status_at"]
    return TicketState(state, due_rule=rule, due_from=since)


def blank(ticket_id: str, number: int) -> TicketState:
    return TicketState(_id=ticket_id, number=number, status=None, status_at=None,
                       assignee_id=None, reminded_at=None, escalated=False, version=0)


def status_changed(state: TicketState, status: str, at: datetime) -> TicketState:
    """A status move; an older one arriving late (events travel on separate queues) is
    ignored.  A new pending spell starts without a reminder."""
    if state.get("status_at") is not None and at < state["status_at"]:
        return state
    return with_due(TicketState(state, status=status, status_at=at, reminded_at=None))


def assigned(state: TicketState, agent_id: str, at: datetime) -> TicketState:
    """An assignment; an older one arriving late, or the same one again, changes nothing."""
    if state.get("assignee_at") is not None and at <= state["assignee_at"]:
        return state
    return with_due(TicketState(state, assignee_id=agent_id, assignee_at=at))


# What an event does to its ticket's state: (ticket id, number, ``rule(state) -> state``).
Change = tuple[str, int, Callable[[TicketState], TicketState]]


def evolved(stored: Mapping[str, TicketState | None], changes: list[Change]) -> list[TicketState]:
    """The states ``changes`` make of the ``stored`` ones (by ticket id; a blank one where there
    is none), each ticket's rules applied in order to its one state: those that changed, each
    still carrying the version it was read at (an unchanged state is not written)."""
    read: dict[str, TicketState] = {}
    current: dict[str, TicketState] = {}
    for ticket_id, number, rule in changes:
        if ticket_id not in read:
            read[ticket_id] = stored.get(ticket_id) or blank(ticket_id, number)
        current[ticket_id] = rule(current.get(ticket_id, read[ticket_id]))
    return [state for ticket_id, state in current.items() if state != read[ticket_id]]


def acted(state: TicketState, rule: Rule, now: datetime) -> TicketState:
    """After a rule fired: a reminder waits for the solve rule; the others wait for the status
    change the action causes (its event sets the next rule)."""
    if rule == "remind":
        return with_due(TicketState(state, reminded_at=now))
    if rule == "escalate":
        return with_due(TicketState(state, escalated=True))
    return TicketState(state, due_rule=None, due_from=None)


def escalation(ticket: dict) -> dict:
    """The edit that escalates a ticket nobody took: one priority step up, and a tag."""
    ladder = PRIORITY_LADDER
    current = ticket["priority"]
    higher = ladder[min(ladder.index(current) + 1, len(ladder) - 1)] if current in ladder \
        else current
    tags = list(ticket.get("tags", []))
    return {"priority": higher,
            "tags": tags if ESCALATED_TAG in tags else tags + [ESCALATED_TAG]}


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
