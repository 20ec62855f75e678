"""Prometheus metrics of every help desk process (prometheus_client, default registry).

Counted as work happens: entrypoint calls and latency (RPC, event handlers, timers; see
``observability.Observability``), RPC calls the portal makes, event lag (handled - occurred),
and portal HTTP requests by route.  Read at scrape time (``ScrapeCollector``): outbox backlog,
AMQP queue depth of the queues this process consumes, and each service's business gauges.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from kombu import Connection
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)

ENTRYPOINT_CALLS = Counter(
    "helpdesk_entrypoint_calls", "Entrypoint runs (RPC, event handler, timer) by outcome",
    ["service", "entrypoint", "kind", "outcome"])
ENTRYPOINT_SECONDS = Histogram(
    "helpdesk_entrypoint_seconds", "Time an entrypoint took, set-up to result",
    ["service", "entrypoint", "kind"], buckets=LATENCY_BUCKETS)
EVENT_LAG_SECONDS = Histogram(
    "helpdesk_event_lag_seconds", "From an event's occurred_at to a handler starting on it",
    ["service", "event_type"], buckets=LAG_BUCKETS)
RPC_CLIENT_CALLS = Counter(
    "helpdesk_rpc_client_calls", "RPC calls made by the portal, by outcome",
    ["target", "method", "outcome"])
RPC_CLIENT_SECONDS = Histogram(
    "helpdesk_rpc_client_seconds", "Round trip of an RPC call made by the portal",
    ["target", "method"], buckets=LATENCY_BUCKETS)
HTTP_REQUESTS = Counter(
    "helpdesk_http_requests", "Portal HTTP requests by route pattern, method and status",
    ["route", "method", "status"])
MONGO_COMMANDS = Counter(
    "helpdesk_mongo_commands", "Commands this process sent to MongoDB by database, command and "
    "collection (a transaction's commit and abort are commands too)",
    ["database", "command", "collection"])
MONGO_COMMAND_SECONDS = Counter(
    "helpdesk_mongo_command_seconds", "Time from sending a MongoDB command to its reply, summed, "
    "by database, command and collection (divide by helpdesk_mongo_commands for the mean)",
    ["database", "command", "collection"])
HTTP_SECONDS = Histogram(
    "helpdesk_http_request_seconds", "Portal HTTP request time by route pattern",
    ["route", "method"], buckets=LATENCY_BUCKETS)

# A service's business gauges: a function of its Mongo database returning metric families.
BusinessGauges = Callable[[object], Iterable[Metric]]


def queue_depths(amqp_uri: str, queues: Iterable[str],
                 timeout: float = 2.0) -> dict[str, tuple[int, int]]:
    """``{queue: (ready messages, consumers)}`` by passive declare (creates nothing; a queue
    that does not exist yet is left out)."""
    found: dict[str, tuple[int, int]] = {}
    with Connection(amqp_uri, connect_timeout=timeout) as conn:
        for name in queues:
            channel = conn.channel()
            try:
                ok = channel.queue_declare(queue=name, passive=True)
                found[name] = (ok.message_count, ok.consumer_count)
            except conn.channel_errors:
                pass  # NOT_FOUND closes the channel; the next queue gets a new one
            finally:
                try:
                    channel.close()
                except conn.connection_errors + conn.channel_errors:
                    pass
    return found


class ScrapeCollector:
    """Gauges read when Prometheus scrapes: outbox backlog, queue depth, business gauges.
    A source that fails (Mongo or the broker down) is left out of that scrape and logged;
    readiness reports the outage."""

    def __init__(self, service: str, db, amqp_uri: str, queues: list[str],
                 business: BusinessGauges | None = None):
        self.service, self.db, self.amqp_uri = service, db, amqp_uri
        self.queues, self.business = queues, business

    def collect(self) -> Iterable[Metric]:
        try:
            backlog = GaugeMetricFamily("helpdesk_outbox_backlog",
                                        "Events written but not yet published", labels=["service"])
            backlog.add_metric([self.service], self.db.outbox.count_documents({}))
            yield backlog
        except Exception as exc:  # noqa: BLE001 - a scrape must not fail on one source
            log.warning("outbox backlog unavailable: %s", exc)
        try:
            depths = queue_depths(self.amqp_uri, self.queues)
            depth = GaugeMetricFamily("helpdesk_queue_depth",
                                      "Messages ready in a queue this service consumes",
                                      labels=["service", "queue"])
            consumers = GaugeMetricFamily("helpdesk_queue_consumers",
                                          "Consumers attached to a queue this service consumes",
                                          labels=["service", "queue"])
            for queue, (ready, attached) in sorted(depths.items()):
                depth.add_metric([self.service, queue], ready)
                consumers.add_metric([self.service, queue], attached)
            yield depth
            yield consumers
        except Exception as exc:  # noqa: BLE001
            log.warning("queue depth unavailable: %s", exc)
        if self.business is not None:
            try:
                yield from list(self.business(self.db))
            except Exception as exc:  # noqa: BLE001
                log.warning("business gauges unavailable: %s", exc)
