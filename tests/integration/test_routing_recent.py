"""Alike tickets kept in each routing process's memory and shared through the departments' feeds,
against the real wire server: the same tickets, in the same order, under the same cap, as one
query over the whole window of the tickets themselves (what earlier versions asked the server,
at a cost growing with every ticket), whichever process noted them."""
import contextlib
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


def ids(found: list[dict]) -> list[str]:
    return [d["_id"] for d in found]


def routed(store, docs: list[dict]) -> None:
    """As routing does: each ticket's copy written, then the tickets noted."""
    store.db.tickets.insert_many(docs)
    store.note_alike(docs)


@contextlib.contextmanager
def another_process(monkeypatch):
    """What runs inside sees another routing process's memory: nothing of this one's."""
    mine = routing_repository._KNOWN, routing_repository._FILED
    monkeypatch.setattr(routing_repository, "_KNOWN", {})
    monkeypatch.setattr(routing_repository, "_FILED",
                        routing_repository.KeptPerDatabase(routing_repository.FILED_KEPT))
    yield
    monkeypatch.setattr(routing_repository, "_KNOWN", mine[0])
    monkeypatch.setattr(routing_repository, "_FILED", mine[1])


def test_alike_tickets_are_what_one_query_over_the_window_gives(config, db, monkeypatch):
    store = RoutingRepository(db("routing"))
    department = f"recent-{uuid.uuid4().hex[:8]}"
    ages = [0.2, 0.5, 0.9, 2, 3, 4.5, 6, 12, 25, 29, 31, 45]  # 31 and 45: outside the window
    docs = [alike(department, age, ["a", "b"] if i % 2 else ["b", "c"])
            for i, age in enumerate(ages)]
    docs.append(alike(department, 1, ["z"]))  # shares no band
    since = NOW - timedelta(minutes=30)
    assert recent(store, department, since, ["a"]) == []  # this process now knows it
    for doc in docs:
        routed(store, [doc])
    store.note_alike([docs[0]])  # a redelivery is added twice: still read once
    feed = store.db.alike_feed.find_one({"_id": department})
    assert feed["seq"] == len(docs) + 1 and len(feed["entries"]) == len(docs) + 1
    # A feed expires a week after its newest ticket's hour (its expiry index moves hourly).
    assert feed["touched_at"] == NOW - timedelta(hours=1)  # 0.2 minutes ago: the hour before

    def whole_window(limit):
        return [d["_id"] for d in store.db.tickets.find(
            {"department": department, "created_at": {"$gte": since},
             "bands": {"$in": ["a", "c"]}}).sort("created_at", DESCENDING).limit(limit)]

    got = ids(recent(store, department, since, ["a", "c"]))
    assert got == whole_window(100) and len(got) == 10
    with another_process(monkeypatch):  # one starting now reads the window from the copies
        assert ids(recent(store, department, since, ["a", "c"])) == got
    # the cap holds, when reading and in a process keeping each band's newest only
    monkeypatch.setattr(routing_repository, "INCIDENT_CANDIDATES", 4)
    capped = ids(recent(store, department, since, ["a", "c"]))
    assert capped == whole_window(4)
    with another_process(monkeypatch):
        assert ids(recent(store, department, since, ["a", "c"])) == capped
        assert all(len(listed) <= 4 for listed in
                   routing_repository._KNOWN[(store.db.name, department)].bands.values())
    # a ticket moved to another department is no longer its old department's
    store.db.tickets.update_one({"_id": capped[0]}, {"$set": {"department": "elsewhere"}})
    assert capped[0] not in ids(recent(store, department, since, ["a", "c"]))


def test_another_process_s_tickets_come_through_the_feed_in_one_read(config, db, monkeypatch):
    """A batch costs its department's feed one update, and a process catching up one read
    of it; only the tickets it has never seen are read by id."""
    store = RoutingRepository(db("routing"))
    department = f"feed-{uuid.uuid4().hex[:8]}"
    since = NOW - timedelta(minutes=30)
    mine, theirs = alike(department, 3, ["a"]), alike(department, 2, ["a", "b"])
    later = alike(department, 1, ["b"])

    def sent(command, collection):
        return mongo_commands_sent(store.db.name, command, collection)

    assert recent(store, department, since, ["a"]) == []
    routed(store, [mine])
    with another_process(monkeypatch):
        routed(store, [theirs])
    feed_reads, ticket_reads = sent("find", "alike_feed"), sent("find", "tickets")
    assert ids(recent(store, department, since, ["a"])) == [theirs["_id"], mine["_id"]]
    # the feed once; the ticket never seen, then the changing fields of both
    assert (sent("find", "alike_feed"), sent("find", "tickets")) == (
        feed_reads + 1, ticket_reads + 2)
    feed_writes = sent("update", "alike_feed")
    routed(store, [later])
    assert sent("update", "alike_feed") == feed_writes + 1
    assert ids(recent(store, department, since, ["b"])) == [later["_id"], theirs["_id"]]
    assert sent("find", "tickets") == ticket_reads + 3  # both known: changing fields only


def test_a_process_far_behind_or_a_feed_made_anew_reads_the_window_again(config, db,
                                                                          monkeypatch):
    store = RoutingRepository(db("routing"))
    department = f"behind-{uuid.uuid4().hex[:8]}"
    since = NOW - timedelta(minutes=30)
    monkeypatch.setattr(routing_repository, "FEED_KEPT", 3)
    monkeypatch.setattr(routing_repository, "FEED_READ", 2)
    docs = [alike(department, 10 - i, ["a"]) for i in range(7)]
    newest_first = [d["_id"] for d in reversed(docs)]
    assert recent(store, department, since, ["a"]) == []
    with another_process(monkeypatch):
        for doc in docs[:3]:
            routed(store, [doc])
    # three behind: more than the first read asks for, as many as the feed keeps
    assert ids(recent(store, department, since, ["a"])) == newest_first[4:]
    with another_process(monkeypatch):
        for doc in docs[3:5]:
            routed(store, [doc])
        store.db.tickets.insert_one(docs[5])
        store.note_alike([docs[5], docs[1]])  # a redelivery among them: four more
    assert ids(recent(store, department, since, ["a"])) == newest_first[1:]
    store.db.alike_feed.delete_one({"_id": department})  # expired, then made anew
    with another_process(monkeypatch):
        routed(store, [docs[6]])
    assert ids(recent(store, department, since, ["a"])) == newest_first


def test_a_batch_with_nothing_to_note_writes_nothing(config, db):
    """A batch of departments that look for no incidents: no feed is touched (nor fails)."""
    store = RoutingRepository(db("routing"))
    writes = mongo_commands_sent(store.db.name, "update", "alike_feed")
    store.note_alike([])
    assert mongo_commands_sent(store.db.name, "update", "alike_feed") == writes


def test_the_lists_of_earlier_versions_are_dropped(config, db):
    store = RoutingRepository(db("routing"))
    store.db.alike.insert_one({"_id": "old|a", "entries": []})
    store.ensure_indexes()
    assert "alike" not in store.db.list_collection_names()


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
    store.note_alike(docs)  # one write: each department's feed extended once
    assert store.db.alike_feed.find_one({"_id": one})["seq"] == 3
    since = NOW - timedelta(minutes=30)
    queries = [AlikeQuery(one, since, ["a"]), AlikeQuery(two, since, ["a", "c"]),
               AlikeQuery(one, since, ["b"], lambda t: t["_id"] != docs[0]["_id"]),
               AlikeQuery(two, since, [])]
    together = [[d["_id"] for d in found] for found in store.recent_tickets(queries)]
    alone = [[d["_id"] for d in store.recent_tickets([query])[0]] for query in queries]
    assert together == alone == [[docs[0]["_id"], docs[2]["_id"]],
                                 [docs[3]["_id"], docs[4]["_id"]], [docs[1]["_id"]], []]


