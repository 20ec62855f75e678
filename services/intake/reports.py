"""Supervisor reports as Mongo aggregation pipelines (built here, run by the repository) and
the pure shaping of their results.  Aggregation happens in Mongo, never in Python loops over
tickets; Python only renames and rounds a handful of numbers."""
from __future__ import annotations

from datetime import datetime

OPEN_STATUSES = ["new", "open", "pending", "on_hold"]
STAFF_ROLES = ["agent", "supervisor", "admin"]


def _ms_between(start: str, end: str) -> dict:
    return {"$dateDiff": {"startDate": f"${start}", "endDate": f"${end}",
                          "unit": "millisecond"}}


def _duration_stats(field: str) -> dict:
    """avg / median / p90 of a millisecond field, ignoring documents without it."""
    return {
        "n": {"$sum": {"$cond": [{"$ne": [f"${field}", None]}, 1, 0]}},
        "avg_ms": {"$avg": f"${field}"},
        "pct_ms": {"$percentile": {"input": f"${field}", "p": [0.5, 0.9],
                                   "method": "approximate"}},
    }


def _public_staff_replies() -> dict:
    return {"$size": {"$filter": {"input": {"$ifNull": ["$messages", []]}, "as": "m", "cond": {
        "$and": ["$$m.public", {"$in": ["$$m.author_role", STAFF_ROLES]}]}}}}


def period_pipeline(since: datetime, until: datetime, department: str | None) -> list[dict]:
    """Everything about tickets created in [since, until)."""
    match: dict = {"created_at": {"$gte": since, "$lt": until}}
    if department:
        match["department"] = department
    return [
        {"$match": match},
        {"$project": {
            "channel": 1, "department": 1, "assignee_id": 1, "status": 1,
            "day": {"$dateToString": {"date": "$created_at", "format": "%Y-%m-%d"}},
            "first_response_ms": {"$cond": [{"$ne": [{"$ifNull": ["$first_response_at", None]},
                                                     None]},
                                            _ms_between("created_at", "first_response_at"),
                                            None]},
            "resolution_ms": {"$cond": [{"$ne": [{"$ifNull": ["$solved_at", None]}, None]},
                                        _ms_between("created_at", "solved_at"), None]},
            "solved": {"$cond": [{"$in": ["$status", ["solved", "closed"]]}, 1, 0]},
            "first_contact": {"$cond": [{"$and": [
                {"$in": ["$status", ["solved", "closed"]]},
                {"$eq": [_public_staff_replies(), 1]},
                {"$eq": [{"$ifNull": ["$reopened_at", None]}, None]}]}, 1, 0]},
            "csat_good": {"$cond": [{"$eq": ["$csat.rating", "good"]}, 1, 0]},
            "csat_bad": {"$cond": [{"$eq": ["$csat.rating", "bad"]}, 1, 0]},
        }},
        {"$facet": {
            "volume": [{"$group": {"_id": {"day": "$day", "channel": "$channel"},
                                   "n": {"$sum": 1}}},
                       {"$sort": {"_id.day": 1, "_id.channel": 1}}],
            "by_department": [{"$group": {"_id": "$department", "n": {"$sum": 1}}},
                              {"$sort": {"_id": 1}}],
            "totals": [{"$group": {
                "_id": None, "created": {"$sum": 1}, "solved": {"$sum": "$solved"},
                "first_contact": {"$sum": "$first_contact"},
                "csat_good": {"$sum": "$csat_good"}, "csat_bad": {"$sum": "$csat_bad"}}}],
            "first_response": [{"$group": {"_id": None,
                                           **_duration_stats("first_response_ms")}}],
            "resolution": [{"$group": {"_id": None, **_duration_stats("resolution_ms")}}],
            "per_agent": [
                {"$match": {"assignee_id": {"$ne": None}}},
                {"$group": {"_id": "$assignee_id", "assigned": {"$sum": 1},
                            "solved": {"$sum": "$solved"},
                            "csat_good": {"$sum": "$csat_good"},
                            "csat_bad": {"$sum": "$csat_bad"},
                            "first_response": {"$percentile": {
                                "input": "$first_response_ms", "p": [0.5],
                                "method": "approximate"}},
                            "resolution": {"$percentile": {
                                "input": "$resolution_ms", "p": [0.5],
                                "method": "approximate"}}}},
                {"$sort": {"_id": 1}}],
        }},
    ]


def current_pipeline(now: datetime, department: str | None) -> list[dict]:
    """The state of the queue right now, whatever the period."""
    match: dict = {"status": {"$in": OPEN_STATUSES}}
    if department:
        match["department"] = department
    overdue = {"$or": [
        {"$gt": [{"$size": {"$ifNull": ["$sla.breached", []]}}, 0]},
        {"$lt": [{"$ifNull": ["$sla.resolution_due", now]}, now]}]}
    return [
        {"$match": match},
        {"$group": {"_id": None, "backlog": {"$sum": 1},
                    "unassigned": {"$sum": {"$cond": [{"$eq": ["$assignee_id", None]}, 1, 0]}},
                    "overdue": {"$sum": {"$cond": [overdue, 1, 0]}}}},
    ]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _minutes(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 60000, 1)


def _durations(raw: list[dict]) -> dict:
    row = raw[0] if raw else {}
    pct = row.get("pct_ms") or [None, None]
    return {"count": row.get("n", 0), "avg_minutes": _minutes(row.get("avg_ms")),
            "median_minutes": _minutes(pct[0]), "p90_minutes": _minutes(pct[1])}


def shape(period: dict, current: list[dict]) -> dict:
    """Names and units for people: minutes, rates 0..1, None where there is nothing to measure."""
    totals = (period["totals"] or [{}])[0]
    created, solved = totals.get("created", 0), totals.get("solved", 0)
    rated = totals.get("csat_good", 0) + totals.get("csat_bad", 0)
    now = (current or [{}])[0]
    return {
        "volume": [{"day": v["_id"]["day"], "channel": v["_id"]["channel"], "tickets": v["n"]}
                   for v in period["volume"]],
        "by_department": {d["_id"]: d["n"] for d in period["by_department"]},
        "created": created,
        "solved": solved,
        "backlog": now.get("backlog", 0),
        "unassigned": now.get("unassigned", 0),
        "overdue": now.get("overdue", 0),
        "first_response": _durations(period["first_response"]),
        "resolution": _durations(period["resolution"]),
        "first_contact_resolution_rate": _rate(totals.get("first_contact", 0), solved),
        "csat": {"good": totals.get("csat_good", 0), "bad": totals.get("csat_bad", 0),
                 "score": _rate(totals.get("csat_good", 0), rated)},
        "agents": [{"agent_id": a["_id"], "assigned": a["assigned"], "solved": a["solved"],
                    "median_first_response_minutes": _minutes((a["first_response"] or [None])[0]),
                    "median_resolution_minutes": _minutes((a["resolution"] or [None])[0]),
                    "csat_score": _rate(a["csat_good"], a["csat_good"] + a["csat_bad"])}
                   for a in period["per_agent"]],
    }
