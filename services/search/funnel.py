"""The deflection funnel, with no I/O: what one visit to the ticket form did with suggestions.

How a visit is recognised: the portal's suggest.js makes a random id (``session``: 22+ random
URL-safe characters, kept in the tab's sessionStorage, so Back and reloads keep it and another
tab gets its own) and sends it with every /api/suggest call, every "opened", "this solved it"
and "didn't help", and in the ticket form (a hidden field).  Search keeps one record per id:
the latest question (redacted), whether it got a confident suggestion, what was shown, opened,
marked solved / not helpful, and whether a ticket was filed with that id within
``FILED_WINDOW`` of the last question ("filed anyway").  Every write is a ``$set`` /
``$addToSet`` on that one record, so a repeated request changes nothing (idempotent).

Per period (by when the visit began) and language, the steps are counted in visits:
typed -> shown -> opened -> solved / not helped -> filed anyway."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

STEPS = ("typed", "shown", "opened", "solved", "not_helped", "filed")
SESSION = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
FILED_WINDOW = timedelta(minutes=30)
FAILING_SHOWN = 10


def result_key(kind: str, result_id: str) -> str:
    return f"{kind}:{result_id}"


def question_update(session: str, language: str | None, question: str, shown: list[str],
                    vector: bytes | None, now: datetime) -> tuple[dict, dict]:
    """The (filter, update) of one suggest call: the visit's latest question and whether it
    got a confident suggestion (``shown``: result keys, empty when the search abstained).
    The vector of an unanswered question is kept for grouping gaps."""
    return {"_id": session}, {
        "$set": {"question": question, "last_at": now, "abstained": not shown,
                 "vector": None if shown else vector},
        "$setOnInsert": {"started_at": now, "language": language or "?"},
        "$addToSet": {"shown": {"$each": shown}},
    }


STEP_FIELDS = {"opened": "opened", "solved": "solved", "not_helped": "not_helped"}


def step_update(session: str, step: str, key: str) -> tuple[dict, dict]:
    """An answer opened, or marked solved / not helpful, in a visit that asked something."""
    return {"_id": session}, {"$addToSet": {STEP_FIELDS[step]: key}}


def filed_update(session: str, number: int, now: datetime,
                 window: timedelta = FILED_WINDOW) -> tuple[dict, dict]:
    """A ticket filed from the form of a visit whose last question was at most ``window``
    ago; the first ticket counts (a repeat of the same request changes nothing)."""
    return ({"_id": session, "last_at": {"$gte": now - window},
             "filed_at": {"$exists": False}},
            {"$set": {"filed_at": now, "ticket_number": number}})


FILED = {"$ifNull": ["$filed_at", False]}  # a date is true


def funnel_pipeline(since: datetime, until: datetime, language: str | None) -> list[dict]:
    match = {"started_at": {"$gte": since, "$lt": until}}
    if language:
        match["language"] = language

    def count(condition) -> dict:
        return {"$sum": {"$cond": [condition, 1, 0]}}

    def some(name: str) -> dict:
        return {"$gt": [{"$size": {"$ifNull": [f"${name}", []]}}, 0]}
    return [{"$match": match},
            {"$group": {"_id": "$language", "typed": {"$sum": 1},
                        "shown": count(some("shown")), "opened": count(some("opened")),
                        "solved": count(some("solved")), "not_helped": count(some("not_helped")),
                        "filed": count(FILED)}},
            {"$sort": {"_id": 1}}]


def article_pipeline(since: datetime, until: datetime, language: str | None) -> list[dict]:
    """Per suggested answer: visits it was shown in, opened, solved, didn't help, and visits
    that showed it and still filed a ticket."""
    match = {"started_at": {"$gte": since, "$lt": until}, "shown.0": {"$exists": True}}
    if language:
        match["language"] = language

    def had(name: str) -> dict:
        return {"$sum": {"$cond": [{"$in": ["$shown", {"$ifNull": [f"${name}", []]}]}, 1, 0]}}
    return [{"$match": match},
            {"$project": {"shown": 1, "opened": 1, "solved": 1, "not_helped": 1,
                          "filed_at": 1}},
            {"$unwind": "$shown"},
            {"$group": {"_id": "$shown", "shown": {"$sum": 1}, "opened": had("opened"),
                        "solved": had("solved"), "not_helped": had("not_helped"),
                        "filed": {"$sum": {"$cond": [FILED, 1, 0]}}}},
            {"$sort": {"shown": -1, "_id": 1}}]


def failing(visits: list[dict], limit: int = FAILING_SHOWN) -> list[dict]:
    """Questions that failed: nothing confident was shown, or an answer "didn't help", or a
    ticket was filed anyway; the same words (case and spacing aside) counted together."""
    counts: dict[str, dict] = {}
    for v in visits:
        if not (v.get("abstained") or v.get("not_helped") or v.get("filed_at")):
            continue
        text = " ".join((v.get("question") or "").split())
        row = counts.setdefault(text.lower(), {"question": text, "language": v.get("language"),
                                               "visits": 0, "abstained": 0, "not_helped": 0,
                                               "filed": 0})
        row["visits"] += 1
        row["abstained"] += bool(v.get("abstained"))
        row["not_helped"] += bool(v.get("not_helped"))
        row["filed"] += bool(v.get("filed_at"))
    return sorted(counts.values(), key=lambda r: (-r["visits"], r["question"]))[:limit]


def summary(by_language: list[dict]) -> dict:
    """All languages together, plus each one; rates are of the visits that typed."""
    rows = {r["_id"]: {s: r[s] for s in STEPS} for r in by_language}
    total = {s: sum(r[s] for r in rows.values()) for s in STEPS}
    return {"total": total, "languages": rows,
            "deflected": total["typed"] - total["filed"],
            "deflection_rate": round(1 - total["filed"] / total["typed"], 4)
            if total["typed"] else None}
