"""SLA rules with no I/O: deadlines from a policy, which targets are due, which have breached."""
from __future__ import annotations

from datetime import datetime, timedelta

TARGETS = ("first_response", "resolution")

# Out-of-the-box targets in minutes of round-the-clock time, per priority.
DEFAULT_POLICIES = {
    "urgent": {"first_response": 30, "resolution": 4 * 60},
    "high": {"first_response": 60, "resolution": 8 * 60},
    "normal": {"first_response": 4 * 60, "resolution": 24 * 60},
    "low": {"first_response": 8 * 60, "resolution": 72 * 60},
}


def deadlines(policy: dict, started_at: datetime) -> dict[str, datetime]:
    return {target: started_at + timedelta(minutes=policy["targets"][target])
            for target in TARGETS if policy["targets"].get(target)}


def next_due(clock: dict) -> datetime | None:
    """The earliest deadline still running (neither met nor already breached)."""
    running = [clock["due"][t] for t in TARGETS
               if t in clock["due"] and t not in clock["met"] and t not in clock["breached"]]
    return min(running, default=None)


def breached_targets(clock: dict, now: datetime) -> list[str]:
    return [t for t in TARGETS
            if t in clock["due"] and t not in clock["met"] and t not in clock["breached"]
            and clock["due"][t] <= now]


def new_clock(ticket: dict, policy: dict, now: datetime) -> dict:
    clock = {"_id": ticket["ticket_id"], "number": ticket["number"],
             "department": ticket["department"], "priority": ticket["priority"],
             "policy_id": policy["_id"], "started_at": ticket["created_at"],
             "due": deadlines(policy, ticket["created_at"]), "met": {}, "breached": []}
    clock["next_due"] = next_due(clock)
    return clock
