"""Supervisor reports as Mongo aggregation pipelines (built here, run by the repository) and
the pure shaping of their results.  Period figures are summed in Mongo over the daily rollup
documents (``rollups``), never in Python loops over tickets; Python only renames, rounds and
reads percentiles off a few hundred summed buckets.  Current-state figures (backlog,
unassigned, overdue) are per-department counters kept the same way."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from services.common.events import CSAT_SATISFIED_FROM, CSAT_SCORES

from . import rollups

TOTALS = ("created", "solved", "reopened", "first_contact", *rollups.CSAT_FIELDS,
          "fr_n", "fr_sum_ms", "res_n", "res_sum_ms")
AGENT_TOTALS = ("assigned", "solved", *rollups.CSAT_FIELDS)


def rollup_match(start: datetime, end: datetime, department: str | None) -> dict:
    """Rollup documents of the whole UTC days in [start, end)."""
    match: dict = {"day": {"$gte": rollups.day_of(start), "$lt": rollups.day_of(end)}}
    if department:
        match["department"] = department
    return match


def _counted_by(*fields: str) -> list[dict]:
    """Tickets created, grouped by the given rollup fields (groups left at zero dropped)."""
    group_id = {name: f"${name}" for name in fields} if len(fields) > 1 else f"${fields[0]}"
    order = {f"_id.{name}": 1 for name in fields} if len(fields) > 1 else {"_id": 1}
    return [{"$group": {"_id": group_id, "n": {"$sum": "$created"}}},
            {"$match": {"n": {"$gt": 0}}}, {"$sort": order}]


def _sums(fields: tuple[str, ...], group_id) -> dict:
    return {"$group": {"_id": group_id, **{name: {"$sum": f"${name}"} for name in fields}}}


def _histogram(per_agent: bool = False) -> list[dict]:
    """Bucket counts of both durations summed over the matched rollups:
    [{_id: {key: "<metric>_<bucket>"[, agent]}, n}]."""
    group_id = {"key": "$h.k", **({"agent": "$agent_id"} if per_agent else {})}
    return [{"$project": {"agent_id": 1, "h": {"$objectToArray": {"$ifNull": ["$hist", {}]}}}},
            {"$unwind": "$h"},
            {"$group": {"_id": group_id, "n": {"$sum": "$h.v"}}}]


def daily_pipeline(match: dict) -> list[dict]:
    """Everything about tickets created in the matched days, from the daily rollups."""
    return [
        {"$match": match},
        {"$facet": {
            "volume": _counted_by("day", "channel"),
            "volume_by_department": _counted_by("day", "department"),
            "by_department": _counted_by("department"),
            "totals": [_sums(TOTALS, None)],
            "histograms": _histogram(),
        }},
    ]


def agents_pipeline(match: dict) -> list[dict]:
    """The per-agent table's sums and duration buckets, from the per-agent rollups."""
    return [
        {"$match": match},
        {"$facet": {
            "counts": [_sums(AGENT_TOTALS, "$agent_id"), {"$match": {"assigned": {"$gt": 0}}},
                       {"$sort": {"_id": 1}}],
            "histograms": _histogram(per_agent=True),
        }},
    ]


def current_pipeline(department: str | None) -> list[dict]:
    """The state of the queue right now, whatever the period, from the per-department
    counters (overdue: open tickets with an SLA breach recorded)."""
    return [{"$match": {"department": department} if department else {}},
            _sums(("backlog", "unassigned", "overdue"), None)]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _minutes(ms: float | None) -> float | None:
    return None if ms is None else round(ms / 60000, 1)


def _histograms(rows: list[dict]) -> dict:
    """{(agent or None, metric): {bucket: count}} from the summed histogram rows."""
    out: dict = defaultdict(dict)
    for row in rows:
        metric, index = rollups.split_hist_key(row["_id"]["key"])
        out[(row["_id"].get("agent"), metric)][index] = row["n"]
    return out


def _median_minutes(histogram: dict) -> float | None:
    return _minutes(rollups.percentile_ms(histogram, 0.5))


def _durations(totals: dict, prefix: str, histogram: dict) -> dict:
    n = totals.get(f"{prefix}_n", 0)
    return {"count": n,
            "avg_minutes": _minutes(totals.get(f"{prefix}_sum_ms", 0) / n) if n else None,
            "median_minutes": _median_minutes(histogram),
            "p90_minutes": _minutes(rollups.percentile_ms(histogram, 0.9))}


def _agent_row(row: dict, histograms: dict) -> dict:
    agent, csat = row["_id"], _csat(row)
    return {"agent_id": agent, "assigned": row["assigned"], "solved": row["solved"],
            "median_first_response_minutes": _median_minutes(histograms[(agent, "fr")]),
            "median_resolution_minutes": _median_minutes(histograms[(agent, "res")]),
            "csat_score": csat["score"], "csat_average": csat["average"],
            "csat_rated": csat["rated"]}


def _csat(sums: dict) -> dict:
    """CSAT as the industry reads it: the share of ratings that are 4 or 5 ("score", 0..1),
    with the average score (1..5), the number of ratings and the count of each score."""
    by_score = {str(s): sums.get(f"csat_{s}", 0) for s in CSAT_SCORES}
    rated = sums.get("csat_n", 0)
    satisfied = sum(sums.get(f"csat_{s}", 0) for s in CSAT_SCORES if s >= CSAT_SATISFIED_FROM)
    return {"rated": rated, "satisfied": satisfied, "score": _rate(satisfied, rated),
            "average": round(sums.get("csat_sum", 0) / rated, 2) if rated else None,
            "by_score": by_score}


def shape(period: dict, agents: dict, current: list[dict]) -> dict:
    """Names and units for people: minutes, rates 0..1, None where there is nothing to measure.
    Medians and p90 come from the rollups' buckets (within ``rollups.PRECISION``)."""
    totals = (period["totals"] or [{}])[0]
    histograms = _histograms(period["histograms"])
    per_agent = _histograms(agents["histograms"])
    created, solved = totals.get("created", 0), totals.get("solved", 0)
    now = (current or [{}])[0]
    return {
        "volume": [{"day": v["_id"]["day"], "channel": v["_id"]["channel"], "tickets": v["n"]}
                   for v in period["volume"]],
        "volume_by_department": [
            {"day": v["_id"]["day"], "department": v["_id"]["department"], "tickets": v["n"]}
            for v in period["volume_by_department"]],
        "by_department": {d["_id"]: d["n"] for d in period["by_department"]},
        "created": created,
        "solved": solved,
        "reopened": totals.get("reopened", 0),
        "backlog": now.get("backlog", 0),
        "unassigned": now.get("unassigned", 0),
        "overdue": now.get("overdue", 0),
        "first_response": _durations(totals, "fr", histograms[(None, "fr")]),
        "resolution": _durations(totals, "res", histograms[(None, "res")]),
        "first_contact_resolution_rate": _rate(totals.get("first_contact", 0), solved),
        "csat": _csat(totals),
        "agents": [_agent_row(row, per_agent) for row in agents["counts"]],
    }
