"""One nameko DependencyProvider that observes every entrypoint of a service: it binds the
correlation id (from nameko's context_data, so it travels on in RPC and event headers) and
ticket number for the worker's log lines, counts and times the entrypoint, measures event lag,
and serves ``/metrics``, ``/livez`` and ``/readyz`` on ``METRICS_PORT`` (deploy/nameko.yaml:
``HELPDESK_METRICS_PORT``; none in in-process test containers).

Declared once on ``OutboxRelay`` (every service); a service that needs more (Elasticsearch in
readiness, business gauges) declares its own ``observe = Observability(...)``.
"""
from __future__ import annotations

import inspect
import json
import logging
import time
from datetime import datetime, timezone
from typing import Callable

import eventlet
import eventlet.wsgi
from nameko.events import EventDispatcher, EventHandler
from nameko.extensions import DependencyProvider
from nameko.rpc import Rpc
from nameko.timer import Timer
from prometheus_client import REGISTRY, make_wsgi_app
from pymongo.database import Database

from . import correlation, gc_tuning, health, logs
from .batches import EventBatchHandler
from .events import unbundled
from .metrics import (ENTRYPOINT_CALLS, ENTRYPOINT_SECONDS, EVENT_LAG_SECONDS, BusinessGauges,
                      ScrapeCollector)

log = logging.getLogger(__name__)

Readiness = Callable[[], "tuple[bool, dict[str, str]]"]


def entrypoint_kind(entrypoint) -> str:
    if isinstance(entrypoint, EventHandler):
        return "event"
    if isinstance(entrypoint, Timer):
        return "timer"
    return "rpc" if isinstance(entrypoint, Rpc) else type(entrypoint).__name__.lower()


def event_lag(payload, now: datetime) -> float | None:
    """Seconds from an event envelope's ``occurred_at`` to ``now`` (None if it has none)."""
    try:
        occurred = datetime.fromisoformat(payload["occurred_at"])
    except (TypeError, KeyError, ValueError):
        return None
    return max((now - occurred).total_seconds(), 0.0) if occurred.tzinfo else None


def ops_app(ready: Readiness):
    """WSGI app: ``/metrics`` (Prometheus text format), ``/livez``, ``/readyz`` (JSON)."""
    metrics = make_wsgi_app(REGISTRY)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)
        if path == "/livez":
            status, body = "200 OK", {"status": "ok"}
        elif path == "/readyz":
            ok, checks = ready()
            status = "200 OK" if ok else "503 Service Unavailable"
            body = {"status": "ready" if ok else "not ready", "checks": checks}
        else:
            status, body = "404 Not Found", {"errors": {"path": ["Not found."]}}
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(data)))])
        return [data]

    return app


def queues_of(container) -> list[str]:
    """Names of the AMQP queues the container's entrypoints consume."""
    names = set()
    for entrypoint in container.entrypoints:
        if isinstance(entrypoint, EventHandler):
            names.add(entrypoint.queue.name)
        elif isinstance(entrypoint, Rpc):
            names.add(entrypoint.rpc_consumer.queue.name)
    return sorted(names)


def _event_payloads(worker_ctx) -> list:
    """The envelopes an event worker was given: one, a bundle's, or a batch's."""
    if isinstance(worker_ctx.entrypoint, EventBatchHandler):
        return list(worker_ctx.args[0])
    return [payload for payload, _ in unbundled(worker_ctx.args[0], None)]


class CorrelatedEventDispatcher(EventDispatcher):
    """nameko's dispatcher fixes its headers when the worker starts; this one reads the
    correlation id at publish time, so an id bound later (a new chain, or an outbox event
    relayed by the sweep with the id it was written with) still goes out with the event."""

    def get_dependency(self, worker_ctx):
        def dispatch(event_type, event_data):
            headers = self.get_message_headers(worker_ctx)
            if correlation.current():
                headers[self._get_header_name(correlation.CONTEXT_KEY)] = correlation.current()
            self.publisher.publish(event_data, exchange=self.exchange, routing_key=event_type,
                                   extra_headers=headers)
        return dispatch


class Observability(DependencyProvider):
    def __init__(self, *, elasticsearch: bool = False, business: BusinessGauges | None = None):
        self.elasticsearch, self.business = elasticsearch, business
        self.started: dict[int, float] = {}
        self.signatures: dict[str, inspect.Signature] = {}
        self.server = None
        self.collector: ScrapeCollector | None = None

    # ------------------------------------------------------------------ process

    def setup(self):
        logs.set_process_service(self.container.service_name)

    def _db(self) -> Database | None:
        for dependency in self.container.dependencies:
            db = getattr(dependency, "db", None)
            if isinstance(db, Database):
                return db
        return None

    def readiness(self) -> tuple[bool, dict[str, str]]:
        config = self.container.config
        checks = {"broker": health.broker(config["AMQP_URI"])}
        db = self._db()
        if db is not None:
            checks["mongo"] = health.mongo(db)
            checks["outbox"] = health.outbox_drained(db, health.max_backlog())
        if self.elasticsearch:
            checks["elasticsearch"] = health.elasticsearch(config["ES_URL"])
        return health.report(checks)

    def start(self):
        config = self.container.config
        port = config.get("METRICS_PORT")  # deploy/nameko.yaml: HELPDESK_METRICS_PORT
        if not port:
            # In-process test containers: no endpoint, no scrape-time collector, and the test
            # process's garbage collector is left as it is.
            return
        gc_tuning.tune_for_serving()  # a service process of its own, set up by now
        db = self._db()
        if db is not None:
            self.collector = ScrapeCollector(self.container.service_name, db, config["AMQP_URI"],
                                             queues_of(self.container), self.business)
            REGISTRY.register(self.collector)
        sock = eventlet.listen((config.get("METRICS_HOST") or "127.0.0.1", int(port)))
        self.server = eventlet.spawn(eventlet.wsgi.server, sock, ops_app(self.readiness),
                                     log_output=False)
        log.info("metrics and health on port %s", port)

    def stop(self):
        if self.server is not None:
            self.server.kill()
            self.server = None
        if self.collector is not None:
            REGISTRY.unregister(self.collector)
            self.collector = None

    kill = stop

    # ------------------------------------------------------------------ workers

    def worker_setup(self, worker_ctx):
        entrypoint = worker_ctx.entrypoint
        kind = entrypoint_kind(entrypoint)
        cid = worker_ctx.data.get(correlation.CONTEXT_KEY)
        if cid is None and kind != "timer":
            # Work that arrived without an id starts a chain of its own; RPC calls and events
            # this worker sends carry it on (nameko copies context_data into their headers).
            cid = worker_ctx.data[correlation.CONTEXT_KEY] = correlation.new_id()
        try:
            arguments = self._signature(entrypoint.method_name).bind_partial(
                *worker_ctx.args, **worker_ctx.kwargs).arguments
        except (TypeError, AttributeError):
            arguments = dict(worker_ctx.kwargs)
        correlation.bind(cid, ticket=correlation.ticket_in(arguments),
                         service=self.container.service_name)
        if kind == "event" and worker_ctx.args:
            now = datetime.now(timezone.utc)
            for payload in _event_payloads(worker_ctx):
                lag = event_lag(payload, now)
                if lag is not None:
                    EVENT_LAG_SECONDS.labels(self.container.service_name,
                                             entrypoint.event_type).observe(lag)
        self.started[id(worker_ctx)] = time.perf_counter()

    def _signature(self, method_name: str) -> inspect.Signature:
        """The entrypoint's parameters without ``self``, read once per method."""
        if method_name not in self.signatures:
            unbound = inspect.signature(getattr(self.container.service_cls, method_name))
            self.signatures[method_name] = unbound.replace(
                parameters=list(unbound.parameters.values())[1:])
        return self.signatures[method_name]

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        began = self.started.pop(id(worker_ctx), None)
        entrypoint = worker_ctx.entrypoint
        kind = entrypoint_kind(entrypoint)
        name = entrypoint.method_name
        service = self.container.service_name
        outcome = "error" if exc_info is not None else "ok"
        ENTRYPOINT_CALLS.labels(service, name, kind, outcome).inc()
        elapsed = time.perf_counter() - began if began is not None else 0.0
        ENTRYPOINT_SECONDS.labels(service, name, kind).observe(elapsed)
        if isinstance(result, dict):
            correlation.note_ticket(result.get("number"))
            ticket = result.get("ticket")
            if isinstance(ticket, dict):
                correlation.note_ticket(ticket.get("number"))
        level = logging.DEBUG if kind == "timer" else logging.INFO
        if not isinstance(entrypoint, EventBatchHandler):
            log.log(level, "%s %s %s in %.1f ms", kind, name, outcome, elapsed * 1000)
            return
        # A line per event, under its own correlation id: a ticket's trace stays whole.
        payloads, correlation_ids = worker_ctx.args
        for payload, cid in zip(payloads, correlation_ids):
            correlation.bind(cid, ticket=correlation.ticket_in({"event": payload}))
            log.log(level, "%s %s %s in %.1f ms (one of %d)", kind, name, outcome,
                    elapsed * 1000, len(payloads))

    def worker_teardown(self, worker_ctx):
        self.started.pop(id(worker_ctx), None)
