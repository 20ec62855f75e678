"""Alike tickets read from the per-band lists against the real wire server: the same tickets, in
the same order, under the same cap, as one query over the whole window of the tickets themselves
(what earlier versions asked the server, at a cost growing with every ticket)."""
import uuid
from datetime import datetime, timedelta, timezone

from pymongo import DESCENDING

from services.routing import repository as routing_repository
from services.routing.repository import AlikeQuery, RoutingRepository
from tests.support import mongo_commands_sent

NOW = datetime(2026, 12, 4, 20, 0, tzinfo=timezone.utc)


def alike(department: str, minutes_ago: float, bands: list[str]) -> dict:
    return {"_id": uuid.uuid4().hex, "number": 0, "department": department, "priority": "normal",
            "created_at": NOW - timedelta(minutes=minutes_ago), "fingerprint": [1, 2],
            "bands": bands}


def recent(store, department: str, since, bands: list[str], accept=lambda t: True):
    """One query alone."""
    [found] = store.recent_tickets([AlikeQuery(department, since, bands, accept)])
    return found


def test_band_lists_give_what_one_query_over_the_window_gives(config, db, monkeypatch):
    store = RoutingRepository(db("routing"))
    department = f"recent-{uuid.uuid4().hex[:8]}"
    ages = [0.2, 0.5, 0.9, 2, 3, 4.5, 6, 12, 25, 29, 31, 45]  # 31 and 45: outside the window
    docs = [alike(department, age, ["a", "b"] if i % 2 else ["b", "c"])
            for i, age in enumerate(ages)]
    docs.append(alike(department, 1, ["z"]))  # shares no band
    store.db.tickets.insert_many(docs)
    for doc in docs:
        store.note_alike([doc])
    store.note_alike([docs[0]])  # a redelivery lists it twice: still read once
    since = NOW - timedelta(minutes=30)
    # A list expires a week after its newest ticket's hour (its expiry index moves hourly).
    assert store.db.alike.find_one({"_id": f"{department}|a"})["touched_at"] == NOW - \
        timedelta(hours=1)  # its newest (0.5 minutes ago) was filed in the hour before NOW

    def whole_window(limit):
        return [d["_id"] for d in store.db.tickets.find(
            {"department": department, "created_at": {"$gte": since},
             "bands": {"$in": ["a", "c"]}}).sort("created_at", DESCENDING).limit(limit)]

    got = [d["_id"] for d in recent(store, department, since, ["a", "c"])]
    assert got == whole_window(100) and len(got) == 10
    # the cap holds, when reading and when the band lists are trimmed to it
    monkeypatch.setattr(routing_repository, "INCIDENT_CANDIDATES", 4)
    capped = [d["_id"] for d in recent(store, department, since, ["a", "c"])]
    assert capped == whole_window(4)
    for doc in docs:
        store.note_alike([doc])  # every list now keeps only its four newest
    assert all(len(listed["entries"]) == 4 for listed in store.db.alike.find(
        {"_id": {"$in": [f"{department}|{band}" for band in "abc"]}}))
    assert [d["_id"] for d in recent(store, department, since, ["a", "c"])] == capped
    # a ticket moved to another department is no longer its old department's
    store.db.tickets.update_one({"_id": capped[0]}, {"$set": {"department": "elsewhere"}})
    assert capped[0] not in [d["_id"] for d in recent(store, department, since, ["a", "c"])]


def test_a_list_an_earlier_version_kept_is_read_and_converted_once(config, db):
    """Lists kept as {id, at} documents before the compact entries still count, and are
    rewritten in the compact form the first time they are read."""
    store = RoutingRepository(db("routing"))
    department = f"old-{uuid.uuid4().hex[:8]}"
    old, new = alike(department, 3, ["a"]), alike(department, 1, ["a"])
    store.db.tickets.insert_many([old, new])
    store.db.alike.insert_one({"_id": f"{department}|a", "touched_at": NOW,
                               "recent": [{"id": old["_id"], "at": old["created_at"]}]})
    store.note_alike([new])
    since = NOW - timedelta(minutes=30)
    assert [d["_id"] for d in recent(store, department, since, ["a"])] == [
        new["_id"], old["_id"]]
    listed = store.db.alike.find_one({"_id": f"{department}|a"})
    assert "recent" not in listed and len(listed["entries"]) == 2
    assert [d["_id"] for d in recent(store, department, since, ["a"])] == [
        new["_id"], old["_id"]]


def test_what_can_change_is_read_afresh_and_only_alike_candidates_are_read(config, db):
    """Filed fields (number, time, fingerprint) are kept per process; department, priority and
    incident are read every time, for the candidates the filter keeps."""
    store = RoutingRepository(db("routing"))
    department = f"fresh-{uuid.uuid4().hex[:8]}"
    near, far = alike(department, 2, ["a"]), dict(alike(department, 1, ["a"]), fingerprint=[9])
    store.db.tickets.insert_many([near, far])
    store.note_alike([near])
    store.note_alike([far])
    since = NOW - timedelta(minutes=30)
    shares_one = lambda t: 1 in t["fingerprint"]  # noqa: E731
    first = recent(store, department, since, ["a"], shares_one)
    assert [(d["_id"], d.get("incident_id")) for d in first] == [(near["_id"], None)]
    store.db.tickets.update_one({"_id": near["_id"]}, {"$set": {"incident_id": "inc-7",
                                                                "priority": "high"}})
    again = recent(store, department, since, ["a"], shares_one)
    assert [(d["_id"], d["incident_id"], d["priority"]) for d in again] == [
        (near["_id"], "inc-7", "high")]


def test_queries_answered_together_give_what_each_gives_alone(config, db):
    """Tickets routed together list themselves in one write and read their alike in one
    pass: the same answers, per query, as one at a time."""
    store = RoutingRepository(db("routing"))
    one, two = (f"together-{name}-{uuid.uuid4().hex[:8]}" for name in ("one", "two"))
    docs = [alike(one, 1, ["a", "b"]), alike(one, 2, ["b"]), alike(one, 3, ["a"]),
            alike(two, 1, ["a"]), alike(two, 2, ["c"]), alike(two, 40, ["a"])]
    store.db.tickets.insert_many(docs)
    store.note_alike(docs)  # shared lists: created by one ticket, extended by the others
    assert len(store.db.alike.find_one({"_id": f"{one}|a"})["entries"]) == 2
    since = NOW - timedelta(minutes=30)
    queries = [AlikeQuery(one, since, ["a"]), AlikeQuery(two, since, ["a", "c"]),
               AlikeQuery(one, since, ["b"], lambda t: t["_id"] != docs[0]["_id"]),
               AlikeQuery(two, since, [])]
    together = [[d["_id"] for d in found] for found in store.recent_tickets(queries)]
    alone = [[d["_id"] for d in store.recent_tickets([query])[0]] for query in queries]
    assert together == alone == [[docs[0]["_id"], docs[2]["_id"]],
                                 [docs[3]["_id"], docs[4]["_id"]], [docs[1]["_id"]], []]


def test_a_list_seen_to_exist_is_extended_without_the_insert_and_made_again_if_gone(
        config, db):
    """In a flood every list exists: once this process has seen a list, an alike ticket's
    entry goes straight into it (no insert refused first), and a list that expired meanwhile
    is made again by that upsert."""
    store = RoutingRepository(db("routing"))
    department = f"seen-{uuid.uuid4().hex[:8]}"
    first, second, third = (alike(department, minutes, ["a", "b"]) for minutes in (3, 2, 1))
    store.db.tickets.insert_many([first, second, third])

    def alike_inserts():
        return mongo_commands_sent(store.db.name, "insert", "alike")

    before = alike_inserts()
    store.note_alike([first])
    assert alike_inserts() == before + 1
    store.note_alike([second])
    assert alike_inserts() == before + 1
    store.db.alike.delete_one({"_id": f"{department}|a"})  # expired
    store.note_alike([third])
    since = NOW - timedelta(minutes=30)
    assert [d["_id"] for d in recent(store, department, since, ["a"])] == [third["_id"]]
    assert [d["_id"] for d in recent(store, department, since, ["b"])] == [
        third["_id"], second["_id"], first["_id"]]
