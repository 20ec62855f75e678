"""Alike tickets read from the per-band lists against the real wire server: the same tickets, in
the same order, under the same cap, as one query over the whole window of the tickets themselves
(what earlier versions asked the server, at a cost growing with every ticket)."""
import uuid
from datetime import datetime, timedelta, timezone

from pymongo import DESCENDING

from services.routing import repository as routing_repository
from services.routing.repository import RoutingRepository

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=timezone.utc)


def alike(department: str, minutes_ago: float, bands: list[str]) -> dict:
    return {"_id": uuid.uuid4().hex, "number": 0, "department": department, "priority": "normal",
            "created_at": NOW - timedelta(minutes=minutes_ago), "fingerprint": [1, 2],
            "bands": bands}


def test_band_lists_give_what_one_query_over_the_window_gives(config, db, monkeypatch):
    store = RoutingRepository(db("routing"))
    department = f"recent-{uuid.uuid4().hex[:8]}"
    ages = [0.2, 0.5, 0.9, 2, 3, 4.5, 6, 12, 25, 29, 31, 45]  # 31 and 45: outside the window
    docs = [alike(department, age, ["a", "b"] if i % 2 else ["b", "c"])
            for i, age in enumerate(ages)]
    docs.append(alike(department, 1, ["z"]))  # shares no band
    store.db.tickets.insert_many(docs)
    for doc in docs:
        store.note_alike(doc)
    store.note_alike(docs[0])  # a redelivery lists it twice: still read once
    since = NOW - timedelta(minutes=30)

    def whole_window(limit):
        return [d["_id"] for d in store.db.tickets.find(
            {"department": department, "created_at": {"$gte": since},
             "bands": {"$in": ["a", "c"]}}).sort("created_at", DESCENDING).limit(limit)]

    got = [d["_id"] for d in store.recent_tickets(department, since, ["a", "c"])]
    assert got == whole_window(100) and len(got) == 10
    # the cap holds, when reading and when the band lists are trimmed to it
    monkeypatch.setattr(routing_repository, "INCIDENT_CANDIDATES", 4)
    capped = [d["_id"] for d in store.recent_tickets(department, since, ["a", "c"])]
    assert capped == whole_window(4)
    for doc in docs:
        store.note_alike(doc)  # every list now keeps only its four newest
    assert all(len(listed["recent"]) == 4 for listed in store.db.alike.find(
        {"_id": {"$in": [f"{department}|{band}" for band in "abc"]}}))
    assert [d["_id"] for d in store.recent_tickets(department, since, ["a", "c"])] == capped
    # a ticket moved to another department is no longer its old department's
    store.db.tickets.update_one({"_id": capped[0]}, {"$set": {"department": "elsewhere"}})
    assert capped[0] not in [d["_id"] for d in store.recent_tickets(department, since,
                                                                  ["a", "c"])]
