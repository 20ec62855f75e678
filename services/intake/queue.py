"""Pure rules of the agents' queue query (intake's ``queue`` RPC): a filter, a sort and a page
in one Mongo request, so a page of the console's queue is one RPC, not one per ticket.

The deadline a ticket races ("next due") is the first-response deadline until the first
response is given, then the resolution deadline; tickets waiting on the customer (pending)
race none.

Speed (BENCHMARKS.md, "Agent console queue"): a page never counts or sorts every matching
ticket.  It asks for one row more than it shows (so it knows whether there is a next page;
the total is given only when the page reaches the end), and the default sort by next due is
an index walk: the tickets racing their first response (by ``sla.first_response_due``) and
those racing resolution (by ``sla.resolution_due``) are read in deadline order and merged,
then the tickets without a running clock (by number).  Only the priority sort is computed in
the database."""
from __future__ import annotations

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


SEARCHED = ("subject", "description", "requester_name", "requester_email")


def _spellings(word: str) -> set[str]:
    """What to look for in a lowercased field: Mongo's $toLower folds ASCII only, so a word
    with other letters (Russian) is looked for as written in lower, upper and title case."""
    lowered = word.lower()
    return {lowered} if word.isascii() else {lowered, word.upper(), word.capitalize()}


def text_filter(text: str) -> dict:
    """The search box: "#123" or "123" finds that ticket; words must all appear (any case) in
    the subject, the description or the requester's name or address.  A substring test on
    the lowercased fields ($indexOfCP), not a case-insensitive $regex: on the wire server the
    latter costs ~10x more per ticket (BENCHMARKS.md, "Agent console queue")."""
    text = text.strip()
    number = text.lstrip("#")
    if number.isdigit() and len(number) <= 18:
        return {"number": int(number)}
    words = [w for w in text.split() if w][:8]
    if not words:
        return {}
    return {"$expr": {"$and": [{"$or": [
        {"$gte": [{"$indexOfCP": [{"$toLower": {"$ifNull": [f"${field}", ""]}}, spelling]}, 0]}
        for field in SEARCHED for spelling in sorted(_spellings(word))]} for word in words]}}


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
    """One aggregation: match, computed sort keys, sort, and the page (one row more): for
    the sorts no index gives (priority)."""
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
    stages += [{"$skip": skip}, {"$limit": query["per_page"] + 1},
               {"$project": {"messages": 0, "attachments": 0, "next_due": 0,
                             "priority_rank": 0, "no_due": 0}}]
    return stages


# ------------------------------------------------------------------ the page, read in index order

NOT_RACING = ["pending", "solved", "closed"]
HIDDEN = {"messages": 0, "attachments": 0}  # never on a queue row
# As NEXT_DUE: racing the first response (its deadline set, none given yet), else resolution.
RACING_FIRST = {"status": {"$nin": NOT_RACING}, "first_response_at": None,
                "sla.first_response_due": {"$ne": None}}
RACING_RESOLUTION = {"status": {"$nin": NOT_RACING}, "sla.resolution_due": {"$ne": None},
                     "$or": [{"first_response_at": {"$ne": None}},
                             {"sla.first_response_due": None}]}


def wanted(query: dict) -> int:
    """Rows to read from the start: up to the end of the page, and one more."""
    return (query["page"] - 1) * query["per_page"] + query["per_page"] + 1


def due_reads(query: dict, now: datetime) -> list[tuple[dict, list[tuple[str, int]]]]:
    """(filter, sort) of the two deadline-ordered reads behind the "due" sort, each limited
    to ``wanted(query)``; ties by number, newest first, as sort_spec."""
    base = mongo_filter(query, now)
    direction = -1 if query["sort"].startswith("-") else 1
    return [({"$and": [base, racing]}, [(field, direction), ("number", -1)])
            for racing, field in ((RACING_FIRST, "sla.first_response_due"),
                                  (RACING_RESOLUTION, "sla.resolution_due"))]


def idle_filter(query: dict, now: datetime) -> dict:
    """The tickets without a running clock: after every racing one, by number."""
    return {"$and": [mongo_filter(query, now), {"$nor": [RACING_FIRST, RACING_RESOLUTION]}]}


def next_due(ticket: dict):
    sla = ticket.get("sla") or {}
    if ticket.get("first_response_at") is None and sla.get("first_response_due") is not None:
        return sla["first_response_due"]
    return sla.get("resolution_due")


def merge_racing(first: list[dict], resolution: list[dict], descending: bool,
                 limit: int) -> list[dict]:
    """The two deadline-ordered reads as one list in next-due order (ties: newest first)."""
    both = first + resolution
    if descending:
        both.sort(key=lambda t: (next_due(t), t["number"]), reverse=True)
    else:
        both.sort(key=lambda t: (next_due(t), -t["number"]))
    return both[:limit]


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
