"""Routing rules with no I/O: who should get a ticket."""
from __future__ import annotations

from datetime import datetime, timezone

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
AVAILABILITY = ("online", "away", "offline")


def can_take(agent: dict, department: str) -> bool:
    return (agent["status"] == "online" and department in agent["departments"]
            and agent["load"] < agent["capacity"])


def rank_candidates(agents: list[dict], department: str,
                    preferred_id: str | None = None) -> list[dict]:
    """Agents who may take a ticket, best first: the previous agent of a reopened ticket,
    then the least loaded; ties go to whoever was assigned longest ago (round robin)."""
    able = [a for a in agents if can_take(a, department)]
    able.sort(key=lambda a: (a["_id"] != preferred_id, a["load"],
                             a.get("last_assigned_at") or EPOCH, a["_id"]))
    return able
