"""Pure rules of the agents' queue query (intake's ``queue`` RPC): a filter, a sort and a page
in one Mongo request, so a page of the console's queue is one RPC, not one per ticket.

The deadline a ticket races ("next due") is the first-response deadline until the first
response is given, then the resolution deadline; tickets waiting on the customer (pending)
race none.

Speed (BENCHMARKS.md, "Agent console queue"): a page never counts or sorts every matching
ticket.  It asks for one row more than it shows (so it knows whether there is a next page;
the total is given only when the page reaches the end).  Intake stores two fields on every
ticket (``stored_fields``, written by the repository with each change of their inputs):
``next_due``, so the default sort is one index walk (``next_due, number``) over the racing
tickets, then the tickets without a running clock (by number); and ``search_text``,
the searched fields lowercased, so the search box tests one field.  Only the priority sort is
computed in the database."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

OPEN_STATUSES = ("new", "open", "pending", "on_hold")
SOON = timedelta(hours=1)
SLA_STATES = ("breached", "soon", "ok", "none")
SORTS = {"due": "next_due", "number": "number", "created": "created_at",
         "updated": "updated_at", "priority": "priority_rank", "status": "status",
         "subject": "subject"}
PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2, "low": 3}
UNASSIGNED = "none"

NOT_RACING = ("pending", "solved", "closed")  # waiting on the customer, or done
SEARCHED = ("subject", "description", "requester_name", "requester_email")
# What the stored fields are computed from: a change to any of these recomputes them.
STORED_FROM = ("status", "first_response_at", "sla") + SEARCHED


def next_due(ticket: dict):
    """The deadline the ticket races: the first response's until it is given, then the
    resolution's; none while it waits on the customer or is done."""
    if ticket.get("status") in NOT_RACING:
        return None
    sla = ticket.get("sla") or {}
    if ticket.get("first_response_at") is None and sla.get("first_response_due") is not None:
        return sla["first_response_due"]
    return sla.get("resolution_due")


def stored_fields(ticket: dict) -> dict:
    """The fields the queue reads instead of computing per ticket (from STORED_FROM).
    Python lowercases every alphabet (Mongo's $toLower folds ASCII only)."""
    return {"next_due": next_due(ticket),
            "search_text": "\n".join(str(ticket.get(f) or "") for f in SEARCHED).lower()}


def sla_filter(state: str, now: datetime) -> dict:
    if state == "breached":
        return {"next_due": {"$lte": now}}
    if state == "soon":
        return {"next_due": {"$gt": now, "$lte": now + SOON}}
    if state == "ok":
        return {"next_due": {"$gt": now + SOON}}
    return {"next_due": None}  # "none": no clock running


def text_filter(text: str) -> dict:
    """The search box: "#123" or "123" finds that ticket; words must all appear (any case) in
    the subject, the description or the requester's name or address: a case-sensitive
    substring test of the stored lowercased ``search_text`` (on the wire server a
    case-insensitive $regex costs ~10x more per ticket, $toLower of four fields ~2x;
    BENCHMARKS.md, "Agent console queue")."""
    text = text.strip()
    number = text.lstrip("#")
    if number.isdigit() and len(number) <= 18:
        return {"number": int(number)}
    words = [w for w in text.split() if w][:8]
    if not words:
        return {}
    return {"$and": [{"search_text": {"$regex": re.escape(word.lower())}} for word in words]}


def mongo_filter(query: dict, now: datetime) -> dict:
    """From the validated query (see schemas.QueueQuerySchema) to one Mongo filter."""
    parts: list[dict] = [{"status": {"$in": list(query.get("statuses") or OPEN_STATUSES)}}]
    if query.get("departments") is not None:
        parts.append({"department": {"$in": list(query["departments"])}})
    if query.get("priorities"):
        parts.append({"priority": {"$in": list(query["priorities"])}})
    assignee = query.get("assignee")
    if assignee == UNASSIGNED:
        parts.append({"assignee_id": None})
    elif assignee:
        parts.append({"assignee_id": assignee})
    if query.get("tags"):
        parts.append({"tags": {"$all": list(query["tags"])}})
    if query.get("sla_states"):
        parts.append({"$or": [sla_filter(s, now) for s in query["sla_states"]]})
    if query.get("text"):
        parts.append(text_filter(query["text"]))
    parts = [p for p in parts if p]
    return parts[0] if len(parts) == 1 else {"$and": parts}


def sort_spec(sort: str) -> list[tuple[str, int]]:
    """"due" / "-due" ... to Mongo sort keys; ties by number, newest first."""
    descending = sort.startswith("-")
    field = SORTS[sort.lstrip("-")]
    keys = [(field, -1 if descending else 1)]
    if field != "number":
        keys.append(("number", -1))
    return keys


def needs_computed(sort: str) -> bool:
    return SORTS[sort.lstrip("-")] == "priority_rank"


PRIORITY_RANK_EXPR = {"$switch": {"branches": [
    {"case": {"$eq": ["$priority", name]}, "then": rank} for name, rank in PRIORITY_RANK.items()],
    "default": 9}}


def pipeline(query: dict, now: datetime) -> list[dict]:
    """One aggregation: match, the computed priority rank, sort, and the page (one row more):
    for the sort no index gives (priority)."""
    skip = (query["page"] - 1) * query["per_page"]
    return [{"$match": mongo_filter(query, now)},
            {"$addFields": {"priority_rank": PRIORITY_RANK_EXPR}},
            {"$sort": dict(sort_spec(query["sort"]))},
            {"$skip": skip}, {"$limit": query["per_page"] + 1},
            {"$project": {"messages": 0, "attachments": 0, "priority_rank": 0}}]


# ------------------------------------------------------------------ the page, read in index order

HIDDEN = {"messages": 0, "attachments": 0, "search_text": 0}  # never on a queue row


def races(query: dict) -> bool:
    """Whether the query's statuses include one with a running clock (pending: none)."""
    return any(s not in NOT_RACING for s in query.get("statuses") or OPEN_STATUSES)


def racing_read(query: dict, now: datetime) -> tuple[dict, list[tuple[str, int]]]:
    """(filter, sort) of the deadline-ordered read behind the "due" sort: the tickets with a
    running clock, ties by number, newest first, as sort_spec."""
    return ({"$and": [mongo_filter(query, now), {"next_due": {"$ne": None}}]},
            sort_spec(query["sort"]))


def idle_filter(query: dict, now: datetime) -> dict:
    """The tickets without a running clock: after every racing one, by number."""
    return {"$and": [mongo_filter(query, now), {"next_due": None}]}


def page_of(query: dict, rows: list[dict]) -> dict:
    """The page from the rows read from its first one on (at most one more than a page):
    whether there are more, and the total once the page reaches the end."""
    skip, per_page = (query["page"] - 1) * query["per_page"], query["per_page"]
    more = len(rows) > per_page
    return {"rows": rows[:per_page], "has_more": more,
            "total": None if more else skip + len(rows)}


def idle_window(query: dict, racing_count: int) -> tuple[int, int]:
    """(skip, limit) of the idle read once all ``racing_count`` racing tickets are known."""
    skip, per_page = (query["page"] - 1) * query["per_page"], query["per_page"]
    shown_racing = max(0, racing_count - skip)
    return max(0, skip - racing_count), max(0, per_page + 1 - shown_racing)
