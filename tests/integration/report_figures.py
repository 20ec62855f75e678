"""Supervisor figures computed independently of intake's rollups and pipelines: plain Python
over ticket documents, with the report's documented meaning (tickets created in the period,
in their current state; medians exact here, the report's within rollups.PRECISION)."""
import statistics
from collections import Counter, defaultdict

OPEN = ("new", "open", "pending", "on_hold")
SOLVED = ("solved", "closed")


def minutes(ticket, field):
    return (ticket[field] - ticket["created_at"]).total_seconds() / 60


def _staff_public(ticket):
    return sum(1 for m in ticket["messages"] if m["public"] and m["author_role"] != "customer")


def _scores(tickets):
    return [t["csat"]["score"] for t in tickets if (t["csat"] or {}).get("score")]


def csat_of(tickets):
    """CSAT as documented: the share of 4-5 scores, the average score, the count per score."""
    scores = _scores(tickets)
    satisfied = sum(1 for s in scores if s >= 4)
    return {"rated": len(scores), "satisfied": satisfied,
            "score": round(satisfied / len(scores), 4) if scores else None,
            "average": round(sum(scores) / len(scores), 2) if scores else None,
            "by_score": {str(s): scores.count(s) for s in range(1, 6)}}


def _median(values):
    # The report's percentiles are nearest-rank: the lower middle of an even count.
    return statistics.median_low(values) if values else None


def independent_figures(tickets, first_day, end_day):
    in_period = [t for t in tickets if first_day <= t["created_at"] < end_day]
    solved = [t for t in in_period if t["status"] in SOLVED]
    open_now = [t for t in tickets if t["status"] in OPEN]
    first = [minutes(t, "first_response_at") for t in in_period if t["first_response_at"]]
    resolution = [minutes(t, "solved_at") for t in in_period if t["solved_at"]]
    agents = defaultdict(list)
    for t in in_period:
        if t["assignee_id"]:
            agents[t["assignee_id"]].append(t)

    def overdue(t):
        # The SLA service decides (pauses move its deadlines): a breach it reported.
        return bool((t.get("sla") or {}).get("breached"))

    return {
        "created": len(in_period),
        "solved": len(solved),
        "volume": Counter((t["created_at"].strftime("%Y-%m-%d"), t["channel"]) for t in in_period),
        "volume_by_department": Counter((t["created_at"].strftime("%Y-%m-%d"), t["department"])
                                        for t in in_period),
        "reopened": sum(1 for t in in_period if t["reopened_at"]),
        "by_department": Counter(t["department"] for t in in_period),
        "backlog": len(open_now),
        "unassigned": sum(1 for t in open_now if t["assignee_id"] is None),
        "overdue": sum(1 for t in open_now if overdue(t)),
        "first_median": _median(first),
        "first_avg": round(statistics.fmean(first), 1) if first else None,
        "resolution_median": _median(resolution),
        "fcr": round(sum(1 for t in solved if _staff_public(t) == 1 and not t["reopened_at"])
                     / len(solved), 4) if solved else None,
        "csat": csat_of(in_period),
        "agents": {agent: {
            "assigned": len(mine),
            "solved": sum(1 for t in mine if t["status"] in SOLVED),
            "first_median": _median([minutes(t, "first_response_at") for t in mine
                                     if t["first_response_at"]]),
            "resolution_median": _median([minutes(t, "solved_at") for t in mine
                                          if t["solved_at"]]),
            "csat": csat_of(mine)}
            for agent, mine in agents.items()},
    }
