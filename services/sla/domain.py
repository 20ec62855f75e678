"""SLA rules with no I/O: which policy applies, how each per-ticket clock starts, pauses,
resumes and stops, when it warns and breaches, and what its outcome is for the reports.

A clock holds one state per target.  A target has a budget of business seconds; ``used`` is
the business time it has consumed in finished segments and ``since`` the start of the running
segment (None while paused or stopped).  A running target's deadline is therefore
``add_business_time(since, budget - used)``: time spent paused extends it automatically.
"""
from __future__ import annotations

import copy
import functools
import json
from datetime import datetime, timedelta

from .calendar import (BusinessCalendar, add_business_time, business_time_between, from_spec,
                       to_spec)

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


def started(clock: dict | None) -> bool:
    """Whether the ticket's creation started its clock.  Until it has, what is kept under the
    ticket's id (if anything) holds the events that came long before it (no number yet)."""
    return clock is not None and "number" in clock


def is_running(clock: dict) -> bool:
    return clock["status"] in RUNNING_STATUSES


# --------------------------------------------------------------------------- clock rules
# A clock is a fold of its inputs in the order they happened, not the order they arrived:
# events travel on separate queues, through several workers and replicas, and the outbox may
# re-send an old one late.  So each rule records its input (creation stays in ``origin``),
# sorted by event time, and the clock is recomputed from them.  Alerts already announced by
# the sweep are facts, not inputs: they are kept in ``marks`` and laid over the result.
# Every rule returns a new clock; the caller persists it (with its version).

# At the same instant: a policy change first (the others run under it), then an assignment
# (a reply or a solve at that instant is credited to the new agent), replies, statuses.
ENTRY_ORDER = {"policy": 0, "assigned": 1, "message": 2, "status": 3}
# The requester's account: known at filing, or only once an unverified sender confirms.
ACCOUNT_FIELDS = ("organization", "plan")
TICKET_FIELDS = ("ticket_id", "number", "department", "priority", "organization", "plan",
                 "created_at")


def new_clock(ticket: dict, policy: dict, calendar: BusinessCalendar) -> dict:
    """Started at creation: first response and resolution run from the ticket's creation."""
    origin = {"ticket": {k: ticket.get(k) for k in TICKET_FIELDS},
              "policy": _policy_snapshot(policy), "calendar": to_spec(calendar)}
    return _replayed({"_id": ticket["ticket_id"], "origin": origin, "inputs": [], "marks": {},
                      "version": 0})


def _policy_snapshot(policy: dict) -> dict:
    """What a clock needs of a policy, frozen: later edits of the policy do not rewrite the
    past when the clock is replayed."""
    return {"_id": policy["_id"], "calendar_id": policy.get("calendar_id"),
            "warning_threshold": policy.get("warning_threshold", DEFAULT_THRESHOLD),
            "escalation": policy.get("escalation", {}), "targets": dict(policy["targets"])}


def _apply_policy(clock: dict, policy: dict, calendar_spec: dict) -> None:
    clock.update(policy_id=policy["_id"], calendar_id=policy.get("calendar_id"),
                 threshold=policy.get("warning_threshold", DEFAULT_THRESHOLD),
                 escalation=policy.get("escalation", {}), calendar=calendar_spec,
                 budgets={t: _budget(policy, t) for t in TARGETS})


def message_rule(author_role: str, public: bool):
    """Which rule a message triggers: internal notes and system messages stop no clock."""
    if not public:
        return None
    if author_role == "customer":
        return customer_wrote
    return staff_replied if author_role in STAFF_ROLES else None


def staff_replied(clock: dict, at: datetime, event_id: str | None = None) -> dict:
    """A public staff reply meets the first response and any open next response."""
    return _recorded(clock, {"kind": "message", "author": "staff", "at": at}, event_id)


def customer_wrote(clock: dict, at: datetime, event_id: str | None = None) -> dict:
    """A customer message starts a next-response clock -- unless the first response is still
    owed, or an earlier message is still unanswered (its clock keeps running)."""
    return _recorded(clock, {"kind": "message", "author": "customer", "at": at}, event_id)


def status_changed(clock: dict, new_status: str, at: datetime,
                   event_id: str | None = None) -> dict:
    """Waiting (pending/on hold) pauses every target; solved/closed meets resolution and
    pauses the rest; back to new/open resumes them (a reopened ticket owes resolution again)."""
    return _recorded(clock, {"kind": "status", "status": new_status, "at": at}, event_id)


def policy_changed(clock: dict, policy: dict, calendar: BusinessCalendar, ticket: dict,
                   at: datetime, event_id: str | None = None) -> dict:
    """Priority, department, organization or plan changed: the new policy's budgets apply to
    the time already used; deadlines move accordingly.  Warnings and breaches already
    announced stay so."""
    return _recorded(clock, {"kind": "policy", "policy": _policy_snapshot(policy),
                             "calendar": to_spec(calendar), "priority": ticket["priority"],
                             "department": ticket["department"],
                             **{name: ticket.get(name) for name in ACCOUNT_FIELDS},
                             "at": at}, event_id)


def assigned(clock: dict, agent_id: str | None, at: datetime,
             event_id: str | None = None) -> dict:
    """Records the agent for the compliance report (results decided from ``at`` on)."""
    return _recorded(clock, {"kind": "assigned", "agent_id": agent_id, "at": at}, event_id)


def _entry_key(entry: dict) -> tuple:
    return entry["at"], ENTRY_ORDER[entry["kind"]], entry["id"]


def _recorded(clock: dict, entry: dict, event_id: str | None) -> dict:
    clock = copy.deepcopy(clock)
    entry["id"] = event_id or f"local-{len(clock['inputs'])}"
    if any(e["id"] == entry["id"] for e in clock["inputs"]):
        return clock  # the same event again: already folded in
    clock["inputs"] = sorted(clock["inputs"] + [entry], key=_entry_key)
    return _replayed(clock)


def _replayed(clock: dict) -> dict:
    """The clock computed from its origin and inputs in time order, with the announced
    alerts laid over it.  Any arrival order of the same inputs gives the same clock."""
    origin = clock["origin"]
    ticket, created = origin["ticket"], origin["ticket"]["created_at"]
    fresh = {"_id": ticket["ticket_id"], "number": ticket["number"],
             "department": ticket["department"], "priority": ticket["priority"],
             "organization": ticket.get("organization"), "plan": ticket.get("plan"),
             "assignee_id": None, "status": "new", "status_at": created, "targets": {},
             "finished": [], "origin": origin, "inputs": clock["inputs"],
             "marks": clock["marks"], "version": clock["version"]}
    _apply_policy(fresh, origin["policy"], origin["calendar"])
    for target in ("first_response", "resolution"):
        budget = fresh["budgets"].get(target)
        if budget:
            fresh["targets"][target] = _new_target(budget, created)
            _resume(fresh["targets"][target], _calendar(fresh), fresh["threshold"], created)
    for entry in clock["inputs"]:
        # An input stamped before the creation (skewed clocks) happened at the creation.
        STEPS[entry["kind"]](fresh, entry, max(entry["at"], created))
        _credit_decided(fresh)
    _lay_marks(fresh)
    return _with_next_check(fresh)


def _calendar(clock: dict) -> BusinessCalendar:
    # The spec comes from ``to_spec``: plain JSON, so its dump is a faithful cache key.
    return _calendar_of(json.dumps(clock["calendar"], sort_keys=True))


@functools.lru_cache(maxsize=256)
def _calendar_of(key: str) -> BusinessCalendar:
    return from_spec(json.loads(key))


def _step_message(clock: dict, entry: dict, at: datetime) -> None:
    calendar, threshold = _calendar(clock), clock["threshold"]
    if entry["author"] == "staff":
        for target in ("first_response", "next_response"):
            state = clock["targets"].get(target)
            if _active(state):
                _meet(state, calendar, threshold, at)
        return
    budget = clock["budgets"].get("next_response")
    first, current = clock["targets"].get("first_response"), clock["targets"].get("next_response")
    if not budget or _active(first) or _active(current):
        return
    if current:
        clock["finished"].append(current)  # its outcome stays reported
    state = clock["targets"]["next_response"] = _new_target(
        budget, at, current["cycle"] + 1 if current else 1)
    if is_running(clock):
        _resume(state, calendar, threshold, at)


def _step_status(clock: dict, entry: dict, at: datetime) -> None:
    calendar, threshold = _calendar(clock), clock["threshold"]
    was_running, old_status, new_status = is_running(clock), clock["status"], entry["status"]
    clock.update(status=new_status, status_at=at)
    resolution = clock["targets"].get("resolution")
    if old_status in DONE_STATUSES and new_status not in DONE_STATUSES and resolution:
        resolution["met_at"] = None
        resolution.pop("agent_id", None)  # undecided again (a breach keeps its agent: marks)
    active = [s for s in clock["targets"].values() if _active(s)]
    if was_running and not is_running(clock):
        for state in active:
            _pause(state, calendar, threshold, at)
    elif not was_running and is_running(clock):
        for state in active:
            _resume(state, calendar, threshold, at)
    if new_status in DONE_STATUSES and _active(resolution):
        _meet(resolution, calendar, threshold, at)


def _step_policy(clock: dict, entry: dict, at: datetime) -> None:
    # Entries recorded before they carried the account fields leave those as they were.
    clock.update(priority=entry["priority"], department=entry["department"],
                 **{name: entry[name] for name in ACCOUNT_FIELDS if name in entry})
    _apply_policy(clock, entry["policy"], entry["calendar"])
    for target, state in clock["targets"].items():
        budget = clock["budgets"].get(target)
        if budget and _active(state):
            state["budget"] = budget
            _schedule(state, _calendar(clock), clock["threshold"], at)


def _step_assigned(clock: dict, entry: dict, at: datetime) -> None:
    clock["assignee_id"] = entry["agent_id"]


STEPS = {"message": _step_message, "status": _step_status, "policy": _step_policy,
         "assigned": _step_assigned}


def _credit_decided(clock: dict) -> None:
    """Each newly met target is credited to the agent assigned at that moment (a later
    reassignment does not move past results)."""
    for state in clock["targets"].values():
        if state["met_at"] is not None and "agent_id" not in state:
            state["agent_id"] = clock.get("assignee_id")


def _mark_key(target: str, state: dict) -> str:
    return f"{target}:{state['cycle']}"


def _all_states(clock: dict):
    yield from clock["targets"].items()
    for state in clock.get("finished", []):
        yield "next_response", state


def _lay_marks(clock: dict) -> None:
    """Warnings and breaches announced stay announced; a breach stays with the agent who had
    the ticket when it was announced."""
    for target, state in _all_states(clock):
        mark = clock["marks"].get(_mark_key(target, state))
        if mark:
            state["warned"] = mark.get("warned", False)
            state["breached"] = mark.get("breached", False)
            if state["breached"]:
                state["agent_id"] = mark.get("agent_id")


def deadlines(clock: dict) -> dict:
    """The deadlines other services show and sort by (None: paused, met or not owed)."""
    return {f"{t}_due": (clock["targets"].get(t) or {}).get("due_at")
            for t in ("first_response", "resolution")}


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
    clock["next_check"] = next_check(clock)
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
            state["agent_id"] = clock.get("assignee_id")
            alerts.append(("breach", target))
        if alerts and alerts[-1][1] == target:
            clock.setdefault("marks", {})[_mark_key(target, state)] = {
                "warned": state["warned"], "breached": state["breached"],
                "agent_id": state.get("agent_id") if state["breached"] else None}
    return _with_next_check(clock), alerts


# --------------------------------------------------------------------------- compliance

def outcomes(clock: dict) -> list[dict]:
    """One record per target cycle, for the compliance report: met, breached or open."""
    records = []
    for target, state in _all_states(clock):
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


def decided_outcomes(clock: dict) -> list[dict]:
    """The records of the target cycles whose result is known, met or breached: the only
    ones the compliance report reads, so the only ones stored."""
    return [o for o in outcomes(clock) if o["result"] != "open"]


def outcome_changes(before: dict, after: dict) -> tuple[list[dict], list[str]]:
    """What saving ``after`` over ``before`` changes in the stored records, which are
    ``before``'s decided ones (a new clock has none): the records new or changed, and the ids
    no longer decided (a late event can renumber next-response cycles, or undo a result).
    An assignment or a move while every target is still open changes nothing."""
    stored = {o["_id"]: o for o in decided_outcomes(before)}
    current = decided_outcomes(after)
    changed = [o for o in current if stored.get(o["_id"]) != o]
    gone = sorted(stored.keys() - {o["_id"] for o in current})
    return changed, gone


def saved_alone(before: dict, after: dict) -> bool:
    """Whether saving ``after`` over ``before`` is the clock's own write and nothing else: no
    deadline moved (nothing to announce) and no stored compliance record changes."""
    changed, gone = outcome_changes(before, after)
    return not changed and not gone and deadlines(after) == deadlines(before)


# What a clock's events ask of its write (``evolution``): none, the events wait for the
# creation; none; the clock's own write alone; or with its records and announcement.
NOT_STARTED, UNCHANGED, ALONE, RECORDED = "not started", "unchanged", "alone", "recorded"


def evolution(clock: dict | None, rules: list) -> tuple[str, dict | None]:
    """The clock as read (None: nothing kept) after ``rules`` (``rule(clock) -> clock``) in
    order, and what saving it takes: NOT_STARTED (its creation has not come; nothing applied),
    UNCHANGED (also a clock stored before clocks kept their inputs: it cannot be replayed),
    ALONE (``saved_alone``) or RECORDED."""
    if not started(clock):
        return NOT_STARTED, None
    if "origin" not in clock:
        return UNCHANGED, None
    updated = clock
    for rule in rules:
        updated = rule(updated)
    if updated == clock:
        return UNCHANGED, None
    return (ALONE if saved_alone(clock, updated) else RECORDED), updated


def evolved_together(kept: dict[str, dict],
                     rules: dict[str, list]) -> tuple[list[dict], set[str]]:
    """``evolution`` of several tickets' clocks (``kept``: what was read, by ticket id;
    ``rules``: each ticket's, in order, None for an event that does nothing): the clocks
    whose changes are saved alone, and the tickets whose events need more than that, one at a
    time (a clock not started, or a change with records to save or an announcement)."""
    saved, alone = [], set()
    for ticket_id, its_rules in rules.items():
        kind, updated = evolution(kept.get(ticket_id), [rule for rule in its_rules if rule])
        if kind == ALONE:
            saved.append(updated)
        elif kind != UNCHANGED:
            alone.add(ticket_id)
    return saved, alone
