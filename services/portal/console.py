"""Pure rules of the agent console and supervisor dashboard: which queue a ticket belongs to,
how long is left on its SLA, and how report figures become chart series.  No I/O here."""
from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Mapping

OPEN_STATUSES = ("new", "open", "pending", "on_hold")
STAFF_ROLES = ("agent", "supervisor", "admin")
SUPERVISOR_ROLES = ("supervisor", "admin")
QUEUES = ("mine", "department", "unassigned", "breaching", "pending", "all")
# "Breaching soon" means a deadline within this window (or already passed).
BREACH_WINDOW = timedelta(hours=1)
VIEWING_TTL = timedelta(seconds=45)


def _parse(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def next_due(ticket: dict) -> tuple[str, datetime] | None:
    """The deadline the ticket is racing now: the first response until it is given, then
    resolution.  None for a ticket with no SLA, solved/closed, or waiting on the customer."""
    if ticket.get("status") not in OPEN_STATUSES or ticket.get("status") == "pending":
        return None
    sla = ticket.get("sla") or {}
    if not ticket.get("first_response_at") and sla.get("first_response_due"):
        return "first_response", _parse(sla["first_response_due"])
    if sla.get("resolution_due"):
        return "resolution", _parse(sla["resolution_due"])
    return None


def countdown(ticket: dict, now: datetime) -> dict | None:
    """{"target", "due", "minutes_left" (negative when late), "state": ok|soon|breached}."""
    due = next_due(ticket)
    if due is None:
        return None
    target, at = due
    left = at - now
    state = "breached" if left <= timedelta(0) else "soon" if left <= BREACH_WINDOW else "ok"
    return {"target": target, "due": at.isoformat(), "state": state,
            "minutes_left": int(left.total_seconds() // 60)}


ME = object()  # stands for the signed-in person in VIEW_QUERIES
# Each queue view is a query of intake's ``queue`` RPC (services/intake/queue.py); the
# filter form narrows it.  "department" is routing's waiting queue, not one of these.
VIEW_QUERIES: dict[str, dict] = {
    "mine": {"assignee": ME, "statuses": ["new", "open", "on_hold"]},
    "unassigned": {"assignee": "none"},
    "breaching": {"sla_states": ["soon", "breached"]},
    "pending": {"assignee": ME, "statuses": ["pending"]},
    "all": {},
}
FILTER_LISTS = {"status": "statuses", "priority": "priorities", "sla": "sla_states",
                "tag": "tags"}
PER_PAGE = 50


def queue_query(name: str, args: Mapping[str, list[str]], me: str,
                departments: list[str] | None) -> dict:
    """The ``queue`` RPC query of a view with the filter form's values (``args``: each
    parameter's values).  ``departments``: those the person works in (None: all)."""
    query = {key: me if value is ME else list(value) if isinstance(value, list) else value
             for key, value in VIEW_QUERIES[name].items()}
    for param, key in FILTER_LISTS.items():
        values = [v.strip() for v in args.get(param, []) if v.strip()]
        if values:
            query[key] = values
    chosen = [d for d in args.get("department", []) if d]
    if chosen:
        query["departments"] = [d for d in chosen if departments is None or d in departments]
    elif departments is not None:
        query["departments"] = list(departments)
    assignee = next((a for a in args.get("assignee", []) if a), None)
    if assignee:
        query["assignee"] = me if assignee == "me" else assignee
    for param in ("q", "sort", "page"):
        value = next((v for v in args.get(param, []) if v), None)
        if value:
            query["text" if param == "q" else param] = value
    query["per_page"] = PER_PAGE
    return query


def sort_link(current: str, column: str) -> str:
    """The sort a column header asks for: its own ascending, or descending if it is on."""
    return "-" + column if current == column else column


def similar_query(ticket: dict, limit: int = 5) -> dict:
    """Ask search for tickets worded like this one by its text, so the panel works even before
    search has indexed the ticket itself (which is then left out of the answer)."""
    text = f"{ticket['subject']}\n{ticket.get('description') or ''}"
    return {"ticket_id": ticket["id"], "text": text[:20_000], "limit": limit}


def ticket_names(ticket: dict) -> list[str]:
    """The people a ticket knows (its requester, everyone who wrote in it): their names are
    removed, with other personal data, from an answer approved for reuse."""
    names = {ticket.get("requester_name") or ""} | {
        m.get("author_name") or "" for m in ticket.get("messages", [])}
    return sorted(n for n in names if n)[:50]


def other_viewers(records: list[dict], me: str) -> list[dict]:
    """Everyone else looking at the ticket, one entry per person, replying beats viewing."""
    seen: dict[str, dict] = {}
    for record in records:
        if record["user_id"] == me:
            continue
        known = seen.get(record["user_id"])
        if known is None or record.get("mode") == "replying":
            seen[record["user_id"]] = {"user_id": record["user_id"], "name": record["name"],
                                       "mode": record.get("mode", "viewing")}
    return sorted(seen.values(), key=lambda v: v["name"])


def _stacked_by_day(rows: list[dict], by: str, names: Mapping[str, str]) -> dict:
    """Per-day series, one per value of ``by``, zero where a day has none."""
    days = sorted({r["day"] for r in rows})
    groups = sorted({r[by] for r in rows})
    counts = {(r["day"], r[by]): r["tickets"] for r in rows}
    return {"labels": days, "series": [
        {"label": names.get(g, g), "data": [counts.get((d, g), 0) for d in days]}
        for g in groups]}


def chart_data(report: dict, compliance: list[dict],
               names: Mapping[str, str] | None = None) -> dict:
    """The series the dashboard's charts draw, from intake's report and SLA compliance;
    ``names`` gives labels for department ids, channels and SLA targets (in the page's
    language)."""
    names = names or {}
    return {
        "volume": _stacked_by_day(report["volume"], "channel", names),
        "volume_by_department": _stacked_by_day(report.get("volume_by_department", []),
                                                "department", names),
        "departments": {"labels": [names.get(d, d) for d in report["by_department"]],
                        "data": list(report["by_department"].values())},
        "compliance": {"labels": [f"{names.get(g['key'], g['key'])} · "
                                  f"{names.get(g['target'], g['target'])}" for g in compliance],
                       "data": [round(100 * g["met_rate"], 1) for g in compliance]},
        "csat": {"labels": list(report["csat"]["by_score"]),
                 "data": list(report["csat"]["by_score"].values())},
    }


def deflection(summary: list[dict]) -> dict:
    """Suggestion deflection: the share of "did this solve it" answers that said yes."""
    solved = sum(r["solved"] for r in summary)
    answered = solved + sum(r["not_solved"] for r in summary)
    return {"solved": solved, "answered": answered,
            "rate": round(solved / answered, 4) if answered else None}


def funnel_chart(funnel: dict, labels: Mapping[str, str]) -> dict:
    """The deflection funnel's steps, one bar series per language."""
    steps = list(labels)
    return {"labels": [labels[s] for s in steps],
            "series": [{"label": language, "data": [row[s] for s in steps]}
                       for language, row in sorted(funnel["languages"].items())]}


def funnel_csv(report: dict, steps: list[str]) -> str:
    """The funnel per language, then per suggested answer (``result`` = kind:id), a row each."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["language", "result", "title", *steps],
                            restval="")
    writer.writeheader()
    for language, row in sorted(report["languages"].items()):
        writer.writerow({"language": language, **{s: row[s] for s in steps}})
    for row in report["results"]:
        writer.writerow({"result": row["result"], "title": row.get("title") or "",
                         **{s: row[s] for s in steps if s in row}})
    return out.getvalue()


def sla_compliance_rate(compliance: list[dict]) -> float | None:
    met = sum(g["met"] for g in compliance)
    total = sum(g["total"] for g in compliance)
    return round(met / total, 4) if total else None
