"""Metrics and readiness against the real servers: queue depth by passive declare, the
business gauges' counts in Mongo, and readiness that turns false while a service catches up."""
import socket
import uuid
from datetime import datetime, timedelta, timezone

import requests
from kombu import Connection, Exchange, Producer, Queue
from prometheus_client.parser import text_string_to_metric_families

from prometheus_client import REGISTRY

from services.common.metrics import ScrapeCollector
from services.intake.dependencies import open_ticket_gauges
from services.routing.service import RoutingService
from services.sla.dependencies import at_risk_gauges
from tests.support import eventually, running


def _values(families) -> dict[tuple, float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in families for s in family.samples}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_queue_depth_counts_ready_messages_and_skips_missing_queues(config, db):
    name = f"depth-{uuid.uuid4().hex[:8]}"
    with Connection(config["AMQP_URI"]) as conn:
        queue = Queue(name, Exchange(name, type="direct"), routing_key=name, durable=False,
                      auto_delete=False)
        producer = Producer(conn.channel())
        for i in range(3):
            producer.publish({"n": i}, exchange=queue.exchange, routing_key=name,
                             declare=[queue], serializer="json")
        try:
            collector = ScrapeCollector("routing", db("routing"), config["AMQP_URI"],
                                        [name, "no-such-queue"])
            values = _values(collector.collect())
        finally:
            queue(conn.channel()).delete()
    labels = (("queue", name), ("service", "routing"))
    assert values[("helpdesk_queue_depth", labels)] == 3
    assert values[("helpdesk_queue_consumers", labels)] == 0
    assert not any(dict(key[1]).get("queue") == "no-such-queue" for key in values)
    assert values[("helpdesk_outbox_backlog", (("service", "routing"),))] == 0


def test_open_tickets_are_counted_by_status(db):
    tickets = db("intake").tickets
    tickets.insert_many([{"number": n, "status": s} for n, s in enumerate(
        ["new", "new", "pending", "solved", "closed", "on_hold"], start=90000)])
    tickets.insert_one({"number": 90010, "status": "new", "settle": {"until": datetime.now(
        timezone.utc) - timedelta(minutes=1)}})  # filed, its events not out well past its claim
    values = _values(open_ticket_gauges(db("intake")))
    assert {dict(k[1])["status"]: v for k, v in values.items()
            if k[0] == "helpdesk_open_tickets"} == {"new": 3, "open": 0, "pending": 1,
                                                    "on_hold": 1}
    assert values[("helpdesk_unsettled_new_tickets", ())] == 1


def test_every_command_sent_to_mongo_is_counted_by_database_command_and_collection(config, db):
    database = db("routing")

    def sent(command: str, metric: str = "helpdesk_mongo_commands_total") -> float:
        return REGISTRY.get_sample_value(metric, {
            "database": database.name, "command": command, "collection": "rules"}) or 0.0

    finds, inserts = sent("find"), sent("insert")
    waited = sent("find", "helpdesk_mongo_command_seconds_total")
    database.rules.insert_one({"_id": uuid.uuid4().hex})
    database.rules.find_one({})
    database.rules.find_one({})
    assert (sent("find") - finds, sent("insert") - inserts) == (2, 1)
    assert sent("find", "helpdesk_mongo_command_seconds_total") > waited


def test_sla_targets_at_risk_are_warned_running_and_not_breached(db):
    soon = datetime.now(timezone.utc) + timedelta(minutes=5)

    def target(warned, breached=False, met=None):
        return {"warned": warned, "breached": breached, "met_at": met}

    db("sla").clocks.insert_many([
        {"_id": "a", "next_check": soon, "targets": {"first_response": target(True),
                                                     "resolution": target(False)}},
        {"_id": "b", "next_check": soon, "targets": {"first_response": target(True, True),
                                                     "resolution": target(True)}},
        {"_id": "c", "next_check": None, "targets": {"first_response": target(True, met=soon)}},
    ])
    values = _values(at_risk_gauges(db("sla")))
    assert {dict(k[1])["target"]: v for k, v in values.items()} == {
        "first_response": 1, "next_response": 0, "resolution": 1}


def test_readiness_is_false_while_the_outbox_catches_up(config, db, monkeypatch):
    monkeypatch.setenv("HELPDESK_READY_MAX_BACKLOG", "3")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with running(dict(config, METRICS_PORT=port), RoutingService):
        ready = eventually(lambda: requests.get(f"{base}/readyz", timeout=5))
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["checks"]) == {"broker", "mongo", "outbox"}
        # Events a writer still holds (claimed for a while): waiting to be published.
        later = datetime.now(timezone.utc) + timedelta(minutes=10)
        outbox = db("routing").outbox
        outbox.insert_many([{"_id": f"held-{i}", "event_type": "ticket_assigned",
                             "payload": {}, "claimed_until": later} for i in range(3)])
        try:
            catching_up = requests.get(f"{base}/readyz", timeout=5)
            assert catching_up.status_code == 503
            assert "catching up" in catching_up.json()["checks"]["outbox"]
            metrics = _values(text_string_to_metric_families(
                requests.get(f"{base}/metrics", timeout=5).text))
            assert metrics[("helpdesk_outbox_backlog", (("service", "routing"),))] == 3
            assert metrics[("helpdesk_queue_consumers",
                            (("queue", "rpc-routing"), ("service", "routing")))] == 1
        finally:
            outbox.delete_many({"_id": {"$regex": "^held-"}})
        assert requests.get(f"{base}/readyz", timeout=5).status_code == 200
        assert requests.get(f"{base}/livez", timeout=5).json() == {"status": "ok"}
