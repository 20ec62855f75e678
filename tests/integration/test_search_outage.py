"""Elasticsearch away: intake keeps filing and solving, search answers "degraded" instead of
failing, and once Elasticsearch is reachable again the index catches up with nothing missed.

The outage is a search service configured with an Elasticsearch URL on a closed port, sharing
the real broker and Mongo; afterwards a search service with the real URL takes over."""
from datetime import datetime, timezone

from elasticsearch import Elasticsearch

from services.intake.service import IntakeService
from services.search.repository import SearchRepository
from services.search.service import SearchService
from tests.support import eventually, running

CUSTOMER = {"id": "cust-outage", "role": "customer", "name": "C"}
AGENT = {"id": "agent-1", "role": "agent", "name": "Agent"}
CLOSED_PORT = "http://127.0.0.1:1"


def test_outage_then_catch_up_loses_nothing(config, rpc, db):
    es = Elasticsearch(config["ES_URL"])
    tickets = db("search").tickets
    with running(dict(config, ES_URL=CLOSED_PORT), IntakeService, SearchService):
        assert rpc.search.upsert_article({
            "id": "outage-article", "title": "Restarting the sync agent", "language": "en",
            "body": "Restart the sync agent from the tray icon."})["ok"]
        filed = []
        for i in range(6):
            created = rpc.intake.create_ticket({"ticket": {
                "subject": f"Sync agent stuck {i}", "description": "The sync agent hangs",
                "department": "technical"}, "requester": CUSTOMER, "channel": "api"})
            assert created["ok"]  # intake does not care that Elasticsearch is away
            filed.append(created["ticket"])
        for ticket in filed[:3]:
            n = ticket["number"]
            assert rpc.intake.add_message(n, {"body": "Restart the sync agent."}, AGENT)["ok"]
            assert rpc.intake.add_message(n, {"body": "secretnote", "public": False}, AGENT)["ok"]
            assert rpc.intake.change_status(n, {"status": "solved"}, AGENT)["ok"]

        answer = rpc.search.suggest({"q": "sync agent"}, AGENT)
        assert answer == {"ok": True, "results": [], "degraded": True}
        assert rpc.search.search({"q": "sync"}, AGENT)["degraded"] is True
        # Search has kept its own copy of every change, waiting for Elasticsearch.
        eventually(lambda: tickets.count_documents({"indexed": False}) == 6
                   and tickets.count_documents({"status": "solved"}) == 3)

    assert not es.indices.exists_alias(name=f"{config['ES_INDEX_PREFIX']}-tickets")

    with running(config, SearchService):
        alias = f"{config['ES_INDEX_PREFIX']}-tickets"

        def caught_up():
            if not es.indices.exists_alias(name=alias):
                return {}
            es.indices.refresh(index=alias)
            found = es.search(index=alias, body={"size": 20, "query": {"match_all": {}}})
            return {h["_id"]: h["_source"]["status"] for h in found["hits"]["hits"]}

        statuses = eventually(lambda: len(s := caught_up()) == 6 and s)
        assert statuses == {t["id"]: ("solved" if i < 3 else "new") for i, t in enumerate(filed)}
        # (events still queued when the first service stopped may refresh a copy once more)
        eventually(lambda: tickets.count_documents({"indexed": False}) == 0)
        hits = rpc.search.suggest({"q": "sync agent stuck"}, AGENT)["results"]
        assert {h["id"] for h in hits if h["kind"] == "ticket"} == {t["id"] for t in filed[:3]}
        article = rpc.search.suggest({"q": "restarting sync agent tray icon"}, None)["results"]
        assert [h["id"] for h in article] == ["outage-article"]
        assert rpc.search.search({"q": "secretnote"}, AGENT)["results"] == []


def test_a_save_racing_the_sweep_is_not_marked_indexed(db):
    """The sweep marks only the revision it sent; a newer save stays pending."""
    repo = SearchRepository(db("search"))
    now = datetime.now(timezone.utc)
    doc = {"_id": "race-1", "kind": "ticket", "status": "new", "updated_at": now}
    assert repo.save_ticket(doc, now)
    (sent,) = [d for d in repo.unindexed("tickets", 100) if d["_id"] == "race-1"]
    assert repo.save_ticket(dict(doc, status="open"), now)       # arrives mid-sweep
    repo.mark_indexed("tickets", [(sent["_id"], sent["rev"])])
    (pending,) = [d for d in repo.unindexed("tickets", 100) if d["_id"] == "race-1"]
    assert pending["status"] == "open"
    older = dict(doc, status="pending", updated_at=now.replace(year=2000))
    assert repo.save_ticket(older, now) is False                  # an older view never wins
