"""SLA rules with no I/O: which policy applies, how each per-ticket clock starts, pauses,
resumes and stops, when it warns and breaches, and what its outcome is for the reports.

A clock holds one state per target.  A target has a budget of business seconds; ``used`` is
the business time it has consumed in finished segments and ``since`` the start of the running
segment (None while paused or stopped).  A running target's deadline is therefore
``add_business_time(since, budget - used)``: time spent paused extends it automatically.
"""
from __future__ import annotations

import copy
from datetime import datetime, timedelta

from .calendar import BusinessCalendar, add_business_time, business_time_between

TARGETS = ("first_response", "next_response", "resolution")
ACTIONS = ("notify_supervisor", "raise_priority", "reassign")
RUNNING_STATUSES = ("new", "open")  # pending / on_hold (waiting) and solved / closed pause
DONE_STATUSES = ("solved", "closed")
STAFF_ROLES = ("agent", "supervisor", "admin")  # a "system" auto-reply answers nobody
DEFAULT_THRESHOLD = 0.8
# More specific criteria weigh more: a named customer beats a plan beats a department.
SPECIFICITY = {"organization": 4, "plan": 2, "department": 1}

# Out-of-the-box targets in minutes of round-the-clock time, per priority.
DEFAULT_POLICIES = {
    "urgent": {"first_response": 30, "next_response": 30, "resolution": 4 * 60},
    "high": {"first_response": 60, "next_response": 60, "resolution": 8 * 60},
    "normal": {"first_response": 4 * 60, "next_response": 4 * 60, "resolution": 24 * 60},
    "low": {"first_response": 8 * 60, "next_response": 8 * 60, "resolution": 72 * 60},
}


# --------------------------------------------------------------------------- policies

def default_policy(priority: str) -> dict:
    return {"_id": f"default-{priority}", "priority": priority,
            "targets": DEFAULT_POLICIES[priority], "warning_threshold": DEFAULT_THRESHOLD,
            "calendar_id": None, "escalation": {}}


def select_policy(policies: list[dict], ticket: dict) -> dict:
    """The most specific policy for the ticket's priority whose criteria all match it.

    A policy that names an organization, plan or department applies only to tickets with that
    value; among those that apply, the highest specificity wins, then the smallest id.
    """
    best, best_key = None, None
    for policy in policies:
        if policy["priority"] != ticket["priority"]:
            continue
        criteria = {k: policy.get(k) for k in SPECIFICITY if policy.get(k)}
        if any(ticket.get(k) != v for k, v in criteria.items()):
            continue
        key = (-sum(SPECIFICITY[k] for k in criteria), policy["_id"])
        if best_key is None or key < best_key:
            best, best_key = policy, key
    return best or default_policy(ticket["priority"])


def actions_for(clock: dict, target: str, stage: str) -> list[str]:
    return list(clock.get("escalation", {}).get(target, {}).get(stage, []))


# --------------------------------------------------------------------------- target states

def _budget(policy: dict, target: str) -> int | None:
    minutes = policy["targets"].get(target)
    return int(minutes) * 60 if minutes else None


def _new_target(budget: int, at: datetime, cycle: int = 1) -> dict:
    return {"budget": budget, "used": 0, "since": None, "started_at": at, "cycle": cycle,
            "due_at": None, "warn_at": None, "warned": False, "breached": False,
            "met_at": None}


def _active(state: dict | None) -> bool:
    return state is not None and state["met_at"] is None


def _schedule(state: dict, calendar: BusinessCalendar, threshold: float,
              at: datetime | None = None) -> None:
    """Deadline and warning instants of a running target.  A paused target keeps only the
    ones it has already passed (or ``at``, when a smaller budget puts it past them now), so
    the sweep still announces a deadline missed just before a pause."""
    warn_point = int(state["budget"] * threshold)
    if state["since"] is not None:
        start, used = state["since"], state["used"]
        state["due_at"] = add_business_time(calendar, start,
                                            timedelta(seconds=max(state["budget"] - used, 0)))
        state["warn_at"] = add_business_time(calendar, start,
                                             timedelta(seconds=max(warn_point - used, 0)))
    else:
        state["due_at"] = None if state["used"] < state["budget"] else state["due_at"] or at
        state["warn_at"] = None if state["used"] < warn_point else state["warn_at"] or at


def _pause(state: dict, calendar: BusinessCalendar, threshold: float, at: datetime) -> None:
    if state["since"] is not None:
        state["used"] += int(business_time_between(calendar, state["since"], at).total_seconds())
        state["since"] = None
        _schedule(state, calendar, threshold)


def _resume(state: dict, calendar: BusinessCalendar, threshold: float, at: datetime) -> None:
    if state["since"] is None:
        state["since"] = at
        _schedule(state, calendar, threshold)


def _meet(state: dict, calendar: BusinessCalendar, threshold: float, at: datetime) -> None:
    _pause(state, calendar, threshold, at)
    state["met_at"] = at


def is_running(clock: dict) -> bool:
    return clock["status"] in RUNNING_STATUSES


# --------------------------------------------------------------------------- clock rules
# Each rule returns a new clock; the caller persists it (with its version) and its outcomes.

def new_clock(ticket: dict, policy: dict, calendar: BusinessCalendar) -> dict:
    """Started at creation: first response and resolution run from the ticket's creation."""
    at = ticket["created_at"]
    clock = {"_id": ticket["ticket_id"], "number": ticket["number"],
             "department": ticket["department"], "priority": ticket["priority"],
             "organization": ticket.get("organization"), "plan": ticket.get("plan"),
             "assignee_id": None, "status": "new", "targets": {}, "version": 0}
    _apply_policy(clock, policy)
    for target in ("first_response", "resolution"):
        budget = _budget(policy, target)
        if budget:
            clock["targets"][target] = _new_target(budget, at)
            _resume(clock["targets"][target], calendar, clock["threshold"], at)
    return _with_next_check(clock)


def _apply_policy(clock: dict, policy: dict) -> None:
    clock.update(policy_id=policy["_id"], calendar_id=policy.get("calendar_id"),
                 threshold=policy.get("warning_threshold", DEFAULT_THRESHOLD),
                 escalation=policy.get("escalation", {}),
                 budgets={t: _budget(policy, t) for t in TARGETS})


def message_rule(author_role: str, public: bool):
    """Which rule a message triggers: internal notes and system messages stop no clock."""
    if not public:
        return None
    if author_role == "customer":
        return customer_wrote
    return staff_replied if author_role in STAFF_ROLES else None


def staff_replied(clock: dict, calendar: BusinessCalendar, at: datetime) -> dict:
    """A public staff reply meets the first response and any open next response."""
    clock = copy.deepcopy(clock)
    for target in ("first_response", "next_response"):
        state = clock["targets"].get(target)
        if _active(state):
            _meet(state, calendar, clock["threshold"], at)
    return _with_next_check(clock)


def customer_wrote(clock: dict, calendar: BusinessCalendar, at: datetime) -> dict:
    """A customer message starts a next-response clock -- unless the first response is still
    owed, or an earlier message is still unanswered (its clock keeps running)."""
    clock = copy.deepcopy(clock)
    budget = clock["budgets"].get("next_response")
    first, current = clock["targets"].get("first_response"), clock["targets"].get("next_response")
    if not budget or _active(first) or _active(current):
        return clock
    cycle = current["cycle"] + 1 if current else 1
    state = clock["targets"]["next_response"] = _new_target(budget, at, cycle)
    if is_running(clock):
        _resume(state, calendar, clock["threshold"], at)
    return _with_next_check(clock)


def status_changed(clock: dict, calendar: BusinessCalendar, new_status: str,
                   at: datetime) -> dict:
    """Waiting (pending/on hold) pauses every target; solved/closed meets resolution and
    pauses the rest; back to new/open resumes them (a reopened ticket owes resolution again)."""
    clock = copy.deepcopy(clock)
    was_running, old_status = is_running(clock), clock["status"]
    clock["status"] = new_status
    threshold = clock["threshold"]
    resolution = clock["targets"].get("resolution")
    if old_status in DONE_STATUSES and new_status not in DONE_STATUSES and resolution:
        resolution["met_at"] = None
        if not resolution["breached"]:
            resolution.pop("agent_id", None)  # undecided again
    active = [s for s in clock["targets"].values() if _active(s)]
    if was_running and not is_running(clock):
        for state in active:
            _pause(state, calendar, threshold, at)
    elif not was_running and is_running(clock):
        for state in active:
            _resume(state, calendar, threshold, at)
    if new_status in DONE_STATUSES and _active(resolution):
        _meet(resolution, calendar, threshold, at)
    return _with_next_check(clock)


def policy_changed(clock: dict, policy: dict, calendar: BusinessCalendar, ticket: dict,
                   at: datetime) -> dict:
    """Priority or department changed: the new policy's budgets apply to the time already
    used; deadlines move accordingly.  Warnings and breaches already announced stay so."""
    clock = copy.deepcopy(clock)
    clock.update(priority=ticket["priority"], department=ticket["department"])
    _apply_policy(clock, policy)
    for target, state in clock["targets"].items():
        budget = clock["budgets"].get(target)
        if budget and _active(state):
            state["budget"] = budget
            _schedule(state, calendar, clock["threshold"], at)
    return _with_next_check(clock)


def assigned(clock: dict, agent_id: str) -> dict:
    return _with_next_check(dict(copy.deepcopy(clock), assignee_id=agent_id))


# --------------------------------------------------------------------------- the sweep

def next_check(clock: dict) -> datetime | None:
    """When the sweep must next look at this clock: its earliest unannounced warning or
    deadline.  None when nothing is pending (the clock then leaves the index)."""
    moments = []
    for state in clock["targets"].values():
        if not _active(state):
            continue
        if not state["warned"] and state["warn_at"] is not None:
            moments.append(state["warn_at"])
        if not state["breached"] and state["due_at"] is not None:
            moments.append(state["due_at"])
    return min(moments, default=None)


def _with_next_check(clock: dict) -> dict:
    """Every rule ends here: the next check time, and each newly decided target credited to
    the agent assigned at that moment (a later reassignment does not move past results)."""
    clock["next_check"] = next_check(clock)
    for state in clock["targets"].values():
        if (state["met_at"] is not None or state["breached"]) and "agent_id" not in state:
            state["agent_id"] = clock.get("assignee_id")
    return clock


def raise_alerts(clock: dict, now: datetime) -> tuple[dict, list[tuple[str, str]]]:
    """Warnings and breaches due at ``now`` not yet announced: the clock with them marked, and
    [(stage, target)].  A breach found without its warning announces both, warning first."""
    clock = copy.deepcopy(clock)
    alerts = []
    for target in TARGETS:
        state = clock["targets"].get(target)
        if not _active(state):
            continue
        breaching = not state["breached"] and state["due_at"] is not None \
            and state["due_at"] <= now
        if not state["warned"] and state["warn_at"] is not None and \
                (state["warn_at"] <= now or breaching):
            state["warned"] = True
            alerts.append(("warning", target))
        if breaching:
            state["breached"] = True
            alerts.append(("breach", target))
    return _with_next_check(clock), alerts


# --------------------------------------------------------------------------- compliance

def outcomes(clock: dict) -> list[dict]:
    """One record per target cycle, for the compliance report: met, breached or open."""
    records = []
    for target, state in clock["targets"].items():
        late = state["breached"] or state["used"] >= state["budget"]
        if state["met_at"] is None and not late:
            result = "open"
        else:
            result = "breached" if late else "met"
        records.append({
            "_id": f"{clock['_id']}:{target}:{state['cycle']}", "ticket_id": clock["_id"],
            "target": target, "result": result, "policy_id": clock["policy_id"],
            "priority": clock["priority"], "department": clock["department"],
            "agent_id": state.get("agent_id", clock.get("assignee_id")),
            "budget_s": state["budget"],
            # Business seconds to meet the target; unknown until it is met.
            "elapsed_s": state["used"] if state["met_at"] is not None else None,
            "met_at": state["met_at"],
            # When the result became known: the reply/solve, or the missed deadline.
            "decided_at": state["met_at"] or (state["due_at"] if late else None)})
    return records
