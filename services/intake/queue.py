"""Pure rules of the agents' queue query (intake's ``queue`` RPC): a filter, a sort and a page
in one Mongo request, so a page of the console's queue is one RPC, not one per ticket.

The deadline a ticket races ("next due") is the first-response deadline until the first
response is given, then the resolution deadline; tickets waiting on the customer (pending)
race none.  Sorting by it is done in the database with a computed field."""
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

# Next due as a Mongo expression; "missing" sorts after every date ($max of dates and null).
NEXT_DUE = {"$cond": [
    {"$in": ["$status", ["pending", "solved", "closed"]]}, None,
    {"$cond": [{"$and": [{"$not": ["$first_response_at"]}, "$sla.first_response_due"]},
               "$sla.first_response_due", {"$ifNull": ["$sla.resolution_due", None]}]}]}


def _racing(due_filter: dict) -> dict:
    """Tickets whose next due matches ``due_filter`` (a condition on a date)."""
    return {"status": {"$nin": ["pending", "solved", "closed"]}, "$or": [
        {"first_response_at": None, "sla.first_response_due": due_filter},
        {"first_response_at": {"$ne": None}, "sla.resolution_due": due_filter},
    ]}


def sla_filter(state: str, now: datetime) -> dict:
    if state == "breached":
        return _racing({"$lte": now})
    if state == "soon":
        return _racing({"$gt": now, "$lte": now + SOON})
    if state == "ok":
        return _racing({"$gt": now + SOON})
    return {"$nor": [_racing({"$ne": None})]}  # "none": no clock running


def text_filter(text: str) -> dict:
    """The search box: "#123" or "123" finds that ticket; words must all appear (any case) in
    the subject, the description or the requester's name or address."""
    text = text.strip()
    number = text.lstrip("#")
    if number.isdigit() and len(number) <= 18:
        return {"number": int(number)}
    words = [w for w in text.split() if w][:8]
    return {"$and": [{"$or": [{field: {"$regex": re.escape(word), "$options": "i"}}
                              for field in ("subject", "description", "requester_name",
                                            "requester_email")]}
                     for word in words]} if words else {}


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
    return SORTS[sort.lstrip("-")] in ("next_due", "priority_rank")


PRIORITY_RANK_EXPR = {"$switch": {"branches": [
    {"case": {"$eq": ["$priority", name]}, "then": rank} for name, rank in PRIORITY_RANK.items()],
    "default": 9}}


def pipeline(query: dict, now: datetime) -> list[dict]:
    """One aggregation: match, (computed sort keys), sort, and the page with the total."""
    sort = query["sort"]
    skip = (query["page"] - 1) * query["per_page"]
    stages: list[dict] = [{"$match": mongo_filter(query, now)}]
    if needs_computed(sort):
        stages.append({"$addFields": {"next_due": NEXT_DUE, "priority_rank": PRIORITY_RANK_EXPR}})
        if SORTS[sort.lstrip("-")] == "next_due":
            # No running clock sorts last whichever way: a flag before the date.
            stages.append({"$addFields": {"no_due": {"$cond": [{"$not": ["$next_due"]}, 1, 0]}}})
            stages.append({"$sort": dict([("no_due", 1)] + sort_spec(sort))})
        else:
            stages.append({"$sort": dict(sort_spec(sort))})
    else:
        stages.append({"$sort": dict(sort_spec(sort))})
    stages.append({"$facet": {
        "rows": [{"$skip": skip}, {"$limit": query["per_page"]},
                 {"$project": {"messages": 0, "attachments": 0, "next_due": 0,
                               "priority_rank": 0, "no_due": 0}}],
        "total": [{"$count": "n"}]}})
    return stages
