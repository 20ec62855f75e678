"""Liveness and readiness.  Live: the process answers (its event loop is not stuck).  Ready:
its broker, Mongo (and Elasticsearch, for search) answer, and it is not catching up on a
large outbox backlog.  Each check raises on failure; ``report`` runs them all."""
from __future__ import annotations

import os
from typing import Callable

import requests
from kombu import Connection

Check = Callable[[], None]

# Readiness is false while this many events (or more) wait in a service's outbox.
DEFAULT_MAX_BACKLOG = 1000


def max_backlog() -> int:
    return int(os.environ.get("HELPDESK_READY_MAX_BACKLOG") or DEFAULT_MAX_BACKLOG)


def broker(amqp_uri: str, timeout: float = 2.0) -> Check:
    def check() -> None:
        with Connection(amqp_uri, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1)
    return check


def mongo(db) -> Check:
    def check() -> None:
        db.command("ping")
    return check


def elasticsearch(url: str, timeout: float = 2.0) -> Check:
    def check() -> None:
        requests.get(f"{url.rstrip('/')}/_cluster/health", timeout=timeout).raise_for_status()
    return check


def outbox_drained(db, limit: int) -> Check:
    def check() -> None:
        waiting = db.outbox.count_documents({}, limit=limit)
        if waiting >= limit:
            raise RuntimeError(f"catching up: {waiting}+ events in the outbox")
    return check


def report(checks: dict[str, Check]) -> tuple[bool, dict[str, str]]:
    """``(all passed, {check: "ok" or the error})``."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            results[name] = f"{type(exc).__name__}: {exc}"[:200]
    return all(v == "ok" for v in results.values()), results
