"""Getting search's Mongo copy into Elasticsearch correctly against the real servers: writes
that land out of order, first saves that race, and a document Elasticsearch refuses."""
import time
from datetime import datetime, timedelta, timezone

import pytest
from elasticsearch import Elasticsearch
from nameko.standalone.events import event_dispatcher

from services.common import events as ev
from services.search import domain
from services.search.index import SearchIndex
from services.search.reindex import rebuild
from services.search.repository import SearchRepository
from services.search.service import SearchService
from tests.support import eventually, queues_drained, running

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def ticket(doc_id: str, status: str = "new", updated_at: datetime = NOW, **fields) -> dict:
    return {"_id": doc_id, "kind": "ticket", "number": 7, "title": f"Ticket {doc_id}",
            "body": "Body", "conversation": "", "status": status, "department": "technical",
            "category": None, "priority": "normal", "tags": [], "language": "en",
            "requester_id": "cust-1", "assignee_id": None, "created_at": NOW,
            "updated_at": updated_at, "solved_at": None, "published": False, **fields}


@pytest.fixture(scope="module")
def es(config):
    return Elasticsearch(config["ES_URL"])


@pytest.fixture()
def index(es, config):
    index = SearchIndex(es, config["ES_INDEX_PREFIX"])
    index.ensure()
    return index


@pytest.fixture()
def repo(db):
    return SearchRepository(db("search"))


def in_es(es, index, doc_id):
    found = es.get(index=index.alias("tickets"), id=doc_id, ignore=404)
    return found if found.get("found") else None


def pending(repo, doc_id):
    (doc,) = [d for d in repo.unindexed("tickets", 1000) if d["_id"] == doc_id]
    return doc


def as_sent(doc):
    return doc["_id"], domain.revision(doc), domain.stored_ticket_document(doc)


# ---------------------------------------------------------------- out-of-order writes

def test_an_older_revision_landing_last_never_replaces_a_newer_one(es, index, repo):
    """Two sweeps (or replicas) read revisions 1 and 2; the bulk carrying 1 lands last."""
    assert repo.save_ticket(ticket("ooo-1", "new"), NOW)
    first = pending(repo, "ooo-1")
    assert repo.save_ticket(ticket("ooo-1", "solved", NOW + timedelta(minutes=1)), NOW)
    second = pending(repo, "ooo-1")
    assert (first["rev"], second["rev"]) == (1, 2)

    newer = index.bulk("tickets", [as_sent(second)])
    repo.mark_indexed("tickets", newer.indexed)
    older = index.bulk("tickets", [as_sent(first)])       # late: a version conflict, done
    repo.mark_indexed("tickets", older.indexed)

    assert (newer.indexed, older.indexed, older.rejected) == ([("ooo-1", 2)], [("ooo-1", 1)], [])
    stored = in_es(es, index, "ooo-1")
    assert stored["_version"] == 2 and stored["_source"]["status"] == "solved"
    assert "ooo-1" not in [d["_id"] for d in repo.unindexed("tickets", 1000)]


def test_the_same_revision_may_be_sent_twice(es, index, repo):
    """A sweep that died between the bulk and marking it sends that revision again."""
    assert repo.save_ticket(ticket("twice-1"), NOW)
    sent = as_sent(pending(repo, "twice-1"))
    assert index.bulk("tickets", [sent]).indexed == [("twice-1", 1)]
    assert index.bulk("tickets", [sent]).indexed == [("twice-1", 1)]
    assert in_es(es, index, "twice-1")["_version"] == 1


def test_a_rebuild_keeps_the_revisions_as_versions(es, index, repo):
    assert repo.save_ticket(ticket("rebuilt-1"), NOW)
    assert repo.save_ticket(ticket("rebuilt-1", "open", NOW + timedelta(minutes=1)), NOW)
    report = rebuild(repo, index, "tickets", show_progress=False)
    assert report["rejected"] == []
    assert in_es(es, index, "rebuilt-1")["_version"] == 2
    # A sweep still holding revision 1 cannot undo the rebuild's revision 2.
    index.bulk("tickets", [("rebuilt-1", 1, domain.stored_ticket_document(ticket("rebuilt-1")))])
    assert in_es(es, index, "rebuilt-1")["_source"]["status"] == "open"


# ---------------------------------------------------------------- first saves racing

class _Racing:
    """A collection whose first ``find_one`` lets a competing save insert first, then says the
    document is not there: the caller's insert then meets a duplicate key."""

    def __init__(self, collection, competing: dict):
        self._collection, self._competing = collection, competing

    def find_one(self, *args, **kwargs):
        if self._competing is not None:
            self._collection.insert_one(self._competing)
            self._competing = None
            return None
        return self._collection.find_one(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._collection, name)


class _DatabaseWith:
    def __init__(self, db, **collections):
        self._db, self._collections = db, collections

    def __getitem__(self, name):
        return self._collections.get(name) or self._db[name]

    def __getattr__(self, name):
        return self._collections.get(name) or getattr(self._db, name)


@pytest.mark.parametrize("winner", ["older", "newer"])
def test_two_first_saves_at_once_keep_the_newest_view(db, winner):
    """Both saves see no copy; one inserts, the other gets a duplicate key and must compare
    ``updated_at`` with what was inserted instead of giving up."""
    base = db("search")
    doc_id = f"first-race-{winner}"
    older = ticket(doc_id, "new", NOW)
    newer = ticket(doc_id, "solved", NOW + timedelta(minutes=5))
    inserted_first, saved_second = (older, newer) if winner == "older" else (newer, older)
    competing = dict(inserted_first, indexed=False, rev=1, saved_at=NOW)
    racing = SearchRepository(_DatabaseWith(base, tickets=_Racing(base.tickets, competing)))

    assert racing.save_ticket(saved_second, NOW) is (winner == "older")

    stored = base.tickets.find_one({"_id": doc_id})
    assert stored["status"] == "solved"
    assert stored["rev"] == (2 if winner == "older" else 1) and stored["indexed"] is False


def test_creations_saved_unread_still_respect_copies_already_there(db, repo):
    """Creations are inserted without reading first; a copy that exists (a redelivered
    creation, or a later event saved first) is compared by ``updated_at`` as any save is."""
    stale_there = ticket("seen-older", "new", NOW)
    newer_there = ticket("seen-newer", "solved", NOW + timedelta(minutes=5))
    repo.save_tickets([stale_there, newer_there], NOW)
    repo.save_tickets([ticket("seen-older", "open", NOW + timedelta(minutes=1)),
                       ticket("seen-newer", "new", NOW), ticket("seen-none", "new", NOW)],
                      NOW, first_sight=True)
    stored = {d["_id"]: d for d in db("search").tickets.find(
        {"_id": {"$in": ["seen-older", "seen-newer", "seen-none"]}})}
    assert {k: (d["status"], d["rev"]) for k, d in stored.items()} == {
        "seen-older": ("open", 2), "seen-newer": ("solved", 1), "seen-none": ("new", 1)}


# ---------------------------------------------------------------- assignments arriving together

def _assigned(ticket_id: str, agent_id: str, at: datetime) -> dict:
    return ev.new_event(ev.TICKET_ASSIGNED, {
        "ticket_id": ticket_id, "number": 7, "agent_id": agent_id, "agent_name": agent_id,
        "department": "technical", "assigned_at": at}, at)


def test_assignments_arriving_together_leave_each_ticket_its_latest(config, es, index, repo, db):
    """Several ticket_assigned events in one message (a bundle: one batch for certain): a
    ticket assigned twice, the later assignment first; one assigned once; one whose copy is
    not saved yet (its save applies the assignment).  ``assignments`` and the copies end with
    each ticket's latest, the copies are indexed with it, and the same events again change
    nothing."""
    earlier, later = NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)
    for ticket_id in ("together-twice", "together-once"):
        assert repo.save_ticket(ticket(ticket_id), NOW)  # rev 1, state older than both
    events = [_assigned("together-twice", "agent-later", later),
              _assigned("together-once", "agent-once", earlier),
              _assigned("together-uncopied", "agent-first", earlier),
              _assigned("together-twice", "agent-earlier", earlier)]
    latest = {"together-twice": ("agent-later", later), "together-once": ("agent-once", earlier),
              "together-uncopied": ("agent-first", earlier)}
    search = db("search")
    dispatch = event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})

    def kept():
        return {a["_id"]: (a["agent_id"], a["assigned_at"])
                for a in search.assignments.find({"_id": {"$in": list(latest)}})}

    def copies():
        return {c["_id"]: c for c in search.tickets.find({"_id": {"$in": list(latest)}})}

    def indexed_with_latest():
        stored = copies()
        assert {i: c["assignee_id"] for i, c in stored.items()} == {
            i: agent for i, (agent, _) in latest.items()}
        assert all(c["indexed"] is True for c in stored.values()), stored
        found = {i: in_es(es, index, i) for i in latest}
        assert {i: (f["_source"]["assignee_id"], f["_version"]) for i, f in found.items()} == {
            i: (c["assignee_id"], c["rev"]) for i, c in stored.items()}
        return stored

    with running(config, SearchService):
        dispatch("routing", ev.TICKET_ASSIGNED, ev.bundle(events, [None] * len(events)))
        eventually(lambda: kept() == latest)
        assert repo.save_ticket(ticket("together-uncopied"), NOW)
        before = eventually(indexed_with_latest)
        assert {i: c["rev"] for i, c in before.items()} == {
            "together-twice": 2, "together-once": 2, "together-uncopied": 2}

        dispatch("routing", ev.TICKET_ASSIGNED, ev.bundle(events, [None] * len(events)))
        eventually(lambda: queues_drained(config["_vhost"], "search"))
        assert kept() == latest
        assert {i: c["rev"] for i, c in indexed_with_latest().items()} == {
            i: c["rev"] for i, c in before.items()}


# ---------------------------------------------------------------- a document Elasticsearch refuses

def test_a_refused_document_is_set_aside_and_the_rest_still_indexed(config, rpc, es, repo):
    """``number`` is an integer field: "twelve" is refused by Elasticsearch's mapping (a real
    mapper_parsing_exception), for that document only."""
    index = SearchIndex(es, config["ES_INDEX_PREFIX"])
    assert repo.save_ticket(ticket("bad-1", number="twelve"), NOW)
    for i in range(3):
        assert repo.save_ticket(ticket(f"good-{i}"), NOW)
    with running(config, SearchService):
        eventually(lambda: all(in_es(es, index, f"good-{i}") for i in range(3)))

        def rejected():
            status = rpc.search.index_status()["kinds"]["tickets"]
            return status["rejected"] == 1 and status
        status = eventually(rejected)
        assert status["pending"] == 0
        (reason,) = status["recent_rejections"]
        assert reason["id"] == "bad-1" and "mapper_parsing_exception" in reason["error"]
        assert in_es(es, index, "bad-1") is None

        # Sweeps go on with later saves, and the next save of the refused one is tried again.
        assert repo.save_ticket(ticket("good-late"), NOW)
        eventually(lambda: in_es(es, index, "good-late"))
        assert repo.save_ticket(ticket("bad-1", number=12), NOW)
        eventually(lambda: in_es(es, index, "bad-1"))
        assert rpc.search.index_status()["kinds"]["tickets"]["rejected"] == 0


def test_a_rebuild_reports_a_refused_document_instead_of_failing(es, index, repo):
    assert repo.save_ticket(ticket("bad-rebuild", number="thirteen"), NOW)
    assert repo.save_ticket(ticket("good-rebuild"), NOW)
    report = rebuild(repo, index, "tickets", show_progress=False)
    assert report["rejected"] == ["bad-rebuild"]
    assert in_es(es, index, "good-rebuild") is not None   # everything else made it
    assert repo.index_status("tickets")["rejected"] == 1


# ---------------------------------------------------------------- when a write is searchable

def test_an_article_is_searchable_when_its_write_returns_a_ticket_at_the_next_refresh(es, config):
    """An editor's save answers once the article is searchable; a ticket copy, written from an
    event nobody waits on, does not wait for Elasticsearch's next refresh (here: a minute)."""
    index = SearchIndex(es, f"{config['ES_INDEX_PREFIX']}-refresh-test")
    index.ensure()
    try:
        es.indices.put_settings(index=index.alias("tickets"),
                                body={"index": {"refresh_interval": "60s"}})
        es.indices.refresh(index=index.alias("tickets"))

        def searchable(kind, doc_id):
            return es.search(index=index.alias(kind), body={
                "query": {"ids": {"values": [doc_id]}}})["hits"]["hits"]

        assert index.bulk("tickets", [("waits-not", 1, domain.stored_ticket_document(
            ticket("waits-not")))]).indexed == [("waits-not", 1)]
        assert in_es(es, index, "waits-not")["_source"]["title"] == "Ticket waits-not"
        assert searchable("tickets", "waits-not") == []

        article = {"kind": "article", "title": "Searchable at once", "body": "Body",
                   "language": "en", "published": True}
        assert index.bulk("articles", [("at-once", 1, article)]).indexed == [("at-once", 1)]
        assert [hit["_id"] for hit in searchable("articles", "at-once")] == ["at-once"]
    finally:
        es.indices.delete(index=f"{config['ES_INDEX_PREFIX']}-refresh-test-*")


def test_ticket_copies_nobody_searches_are_not_refreshed_and_the_next_search_sees_them(es, config):
    """Ticket copies keep Elasticsearch's search-idle refreshes (no refresh_interval of their
    own): a shard no search has hit lately is not refreshed while copies are written, and the
    search that comes next waits for one refresh and finds them.  Articles refresh every
    second, so an editor's write waiting for one is not held up."""
    prefix = f"{config['ES_INDEX_PREFIX']}-idle-test"
    index = SearchIndex(es, prefix)
    index.ensure()
    alias = index.alias("tickets")
    try:
        (tickets_index,) = es.indices.get_alias(name=alias)
        (articles_index,) = es.indices.get_alias(name=index.alias("articles"))
        assert "refresh_interval" not in es.indices.get_settings(
            index=tickets_index)[tickets_index]["settings"]["index"]
        assert es.indices.get_settings(index=articles_index)[articles_index]["settings"][
            "index"]["refresh_interval"] == "1s"
        # Idle after one second without searches here, instead of thirty.
        es.indices.put_settings(index=alias, body={"index": {"search.idle.after": "1s"}})
        time.sleep(2)

        def refreshes():
            return es.indices.stats(index=alias, metric="refresh")["_all"]["primaries"][
                "refresh"]["total"]

        before = refreshes()
        for n in range(3):
            doc_id = f"idle-{n}"
            assert index.bulk("tickets", [(doc_id, 1, domain.stored_ticket_document(
                ticket(doc_id)))]).indexed == [(doc_id, 1)]
            time.sleep(1.2)  # more than the one-second interval of an index that is searched
        assert refreshes() == before
        found = es.search(index=alias, body={"query": {"ids": {"values": [
            "idle-0", "idle-1", "idle-2"]}}})["hits"]["hits"]
        assert sorted(hit["_id"] for hit in found) == ["idle-0", "idle-1", "idle-2"]
        assert refreshes() == before + 1
    finally:
        es.indices.delete(index=f"{prefix}-*")


def test_an_index_made_by_an_older_release_gets_the_serving_settings(es, config):
    """ensure() on an existing index: a tickets index made with an explicit one-second
    refresh (as before search-idle refreshes) loses it; articles keep theirs."""
    prefix = f"{config['ES_INDEX_PREFIX']}-older-test"
    index = SearchIndex(es, prefix)
    index.ensure()
    try:
        es.indices.put_settings(index=index.alias("tickets"),
                                body={"index": {"refresh_interval": "1s"}})
        SearchIndex(es, prefix).ensure()
        settings = {kind: next(iter(es.indices.get_settings(index=index.alias(kind)).values()))[
            "settings"]["index"] for kind in ("tickets", "articles")}
        assert "refresh_interval" not in settings["tickets"]
        assert settings["articles"]["refresh_interval"] == "1s"
    finally:
        es.indices.delete(index=f"{prefix}-*")
