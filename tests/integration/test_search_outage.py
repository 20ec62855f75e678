"""Elasticsearch away: intake keeps filing and solving, search answers "degraded" instead of
failing (at once, not after a timeout per request), and once Elasticsearch is reachable again
the index catches up with nothing missed.

Two outages: a search service that starts while Elasticsearch is down (configured with a closed
port), and the real node lost while everything runs, through a TCP proxy (tests/tcp_proxy.py)
that first goes silent (a hung node: connections accepted, never answered), then refuses
connections (a node that is down), then forwards again."""
import urllib.parse
from contextlib import contextmanager
from datetime import datetime, timezone

import eventlet
import eventlet.wsgi
import pytest
import requests
from elasticsearch import Elasticsearch
from nameko.standalone.rpc import ClusterRpcProxy

from services.common.clock import SystemClock
from services.common.storage import service_database
from services.intake.service import IntakeService
from services.portal.repository import UserRepository
from services.portal.rpc import RpcPool
from services.portal.service import create_app
from services.search.repository import SearchRepository
from services.search.service import SearchService
from tests.support import delete_vhost, eventually, isolated_config, running
from tests.tcp_proxy import TcpProxy

CUSTOMER = {"id": "cust-outage", "role": "customer", "name": "C"}
AGENT = {"id": "agent-1", "role": "agent", "name": "Agent"}
CLOSED_PORT = "http://127.0.0.1:1"
# Answers while Elasticsearch is away must come well within this (a hung worker never would).
DEGRADED_RPC_TIMEOUT = 10


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
        assert article[0]["id"] == "outage-article"
        assert [h["id"] for h in article if h["kind"] == "article"] == ["outage-article"]
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
    assert pending["status"] == "open" and pending["rev"] == sent["rev"] + 1
    older = dict(doc, status="pending", updated_at=now.replace(year=2000))
    assert repo.save_ticket(older, now) is False                  # an older view never wins


# ---------------------------------------------------------------- the node lost while running

@pytest.fixture()
def own_config():
    """A vhost, databases and indices of its own: no queued event of another test leaks in."""
    cfg = isolated_config()
    yield cfg
    delete_vhost(cfg["_vhost"])


@contextmanager
def portal_serving(config: dict):
    """The real portal app (eventlet WSGI, RPC pool) in this process, on a free port."""
    pool = RpcPool({"AMQP_URI": config["AMQP_URI"], "serializer": "json"}, size=4, timeout=10)
    users = UserRepository(service_database(config["MONGO_URI"], config["MONGO_DB"], "portal"))
    app = create_app(pool, users, SystemClock())
    sock = eventlet.listen(("127.0.0.1", 0))
    server = eventlet.spawn(eventlet.wsgi.server, sock, app, log_output=False)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.kill()
        sock.close()
        pool.close()


def _file(rpc, subject, description):
    created = rpc.intake.create_ticket({"ticket": {
        "subject": subject, "description": description, "department": "technical"},
        "requester": CUSTOMER, "channel": "api"})
    assert created["ok"], created  # intake does not care that Elasticsearch is away
    return created["ticket"]


def _solve(rpc, ticket, answer, note):
    number = ticket["number"]
    assert rpc.intake.add_message(number, {"body": answer}, AGENT)["ok"]
    assert rpc.intake.add_message(number, {"body": note, "public": False}, AGENT)["ok"]
    assert rpc.intake.change_status(number, {"status": "solved"}, AGENT)["ok"]


def _degraded(rpc, portal):
    """Every read answers, empty and flagged, within the RPC timeout (HTTP too)."""
    assert rpc.search.suggest({"q": "quillfeather printer"}, AGENT) == {
        "ok": True, "results": [], "degraded": True}
    assert rpc.search.search({"q": "quillfeather"}, AGENT)["degraded"] is True
    assert rpc.search.similar_tickets({"text": "quillfeather printer"})["degraded"] is True
    reply = requests.get(f"{portal}/api/suggest", params={"q": "quillfeather printer"},
                         timeout=DEGRADED_RPC_TIMEOUT)
    assert reply.status_code == 200 and reply.json() == {"results": [], "degraded": True}


def test_node_lost_while_running_then_back_loses_nothing(own_config):
    es_url = urllib.parse.urlsplit(own_config["ES_URL"])
    es = Elasticsearch(own_config["ES_URL"])
    tickets = service_database(own_config["MONGO_URI"], own_config["MONGO_DB"], "search").tickets
    with TcpProxy(es_url.hostname, es_url.port) as proxy, \
            running(dict(own_config, ES_URL=proxy.url), IntakeService, SearchService), \
            ClusterRpcProxy({"AMQP_URI": own_config["AMQP_URI"], "serializer": "json"},
                            timeout=DEGRADED_RPC_TIMEOUT) as rpc, \
            portal_serving(own_config) as portal:
        # Healthy: some tickets and an article indexed through the proxy.
        assert rpc.search.create_article({
            "id": "quill-jam", "title": "Quillfeather printer jams", "language": "en",
            "body": "Open the quillfeather tray and remove the stuck sheet."})["ok"]
        before = _file(rpc, "Quillfeather printer jams", "The quillfeather printer jams")
        _solve(rpc, before, "Remove the stuck sheet from the quillfeather tray.", "notebefore")
        eventually(lambda: before["id"] in [
            h["id"] for h in rpc.search.suggest({"q": "quillfeather printer jams"},
                                                AGENT)["results"]])
        assert proxy.accepted > 0  # search really talks to Elasticsearch through the proxy

        # Hung node: connections accepted, nothing answered.  Writes and events go on, and
        # every worker comes back within its client timeout (a hung one would exhaust the
        # pool of 10 and these RPCs would time out).
        proxy.blackhole()
        solved = []
        for i in range(3):
            ticket = _file(rpc, f"Quillfeather scanner hangs {i}", "The quillfeather scanner hangs")
            _solve(rpc, ticket, f"Reinstall the quillfeather scanner driver {i}.", "secrethung")
            solved.append(ticket)
        assert rpc.search.update_article("quill-jam", {
            "title": "Quillfeather printer jams: the tray latch"})["ok"]
        for _ in range(12):
            _degraded(rpc, portal)

        # Node down: new connections refused, open ones closed.
        proxy.refuse()
        for i in range(3):
            ticket = _file(rpc, f"Quillfeather modem drops {i}", "The quillfeather modem drops")
            _solve(rpc, ticket, f"Replace the quillfeather modem cable {i}.", "secretdown")
            solved.append(ticket)
        unsolved = _file(rpc, "Quillfeather modem blinks", "The quillfeather modem blinks")
        assert rpc.search.create_article({
            "id": "quill-modem", "title": "Quillfeather modem keeps dropping", "language": "en",
            "body": "Replace the quillfeather modem cable.", "published": False})["ok"]
        assert rpc.search.publish_article("quill-modem")["ok"]
        edited = rpc.search.update_article("quill-jam", {"body": "Lift the zephyrlatch, then "
                                                                "remove the stuck sheet."})
        assert edited["ok"] and edited["article"]["title"].endswith("the tray latch")
        _degraded(rpc, portal)
        assert rpc.search.index_status()["reachable"] is False
        # Search kept its own copy of every change, waiting for Elasticsearch.
        eventually(lambda: tickets.count_documents({"status": "solved", "indexed": False}) == 6)

        # Back: the sweep catches up on its own.
        proxy.forward()

        def caught_up():
            status = rpc.search.index_status()
            return status["reachable"] and all(
                k["pending"] == 0 and k["rejected"] == 0 for k in status["kinds"].values())
        eventually(caught_up, timeout=30)

        def suggested(q, actor=AGENT):
            found = rpc.search.suggest({"q": q}, actor)
            assert found["degraded"] is False, found
            return [h["id"] for h in found["results"]]
        # Every ticket solved during the outage is an answer now: ticket copies are
        # searchable at Elasticsearch's next refresh after their write (within a second).
        eventually(lambda: all(t["id"] in suggested(t["subject"]) for t in solved))
        assert suggested("quillfeather tray latch", None)[0] == "quill-jam"   # the edit
        assert suggested("zephyrlatch", None)[0] == "quill-jam"
        assert suggested("quillfeather modem dropping", None)[0] == "quill-modem"
        found = rpc.search.search({"q": "quillfeather modem blinks"}, AGENT)
        assert unsolved["id"] in [h["id"] for h in found["results"]]
        for note in ("notebefore", "secrethung", "secretdown"):
            assert rpc.search.search({"q": note}, AGENT)["results"] == []
        reply = requests.get(f"{portal}/api/suggest", params={"q": "quillfeather tray latch"},
                             timeout=DEGRADED_RPC_TIMEOUT)
        assert reply.json()["degraded"] is False
        assert reply.json()["results"][0]["id"] == "quill-jam"
        # Mongo and Elasticsearch agree on every ticket's state.
        es.indices.refresh(index=f"{own_config['ES_INDEX_PREFIX']}-tickets")
        indexed = {h["_id"]: (h["_source"]["status"], h["_version"]) for h in es.search(
            index=f"{own_config['ES_INDEX_PREFIX']}-tickets", version=True,
            body={"size": 50, "query": {"match_all": {}}})["hits"]["hits"]}
        stored = {d["_id"]: (d["status"], d["rev"]) for d in tickets.find()}
        assert indexed == stored
