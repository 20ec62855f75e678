"""MongoDB access shared by every service: one client per process, one database per service
(so ownership is visible in the data), and transactions with pymongo's retry logic."""
from __future__ import annotations

import threading
from typing import Any, Callable

from pymongo import MongoClient, monitoring
from pymongo.client_session import ClientSession
from pymongo.errors import BulkWriteError, DuplicateKeyError

from .cache import SETTINGS_TTL, RecentReads
from .metrics import MONGO_COMMAND_SECONDS, MONGO_COMMANDS

# Settings only an admin changes, as read lately in this process (services/common/cache.py);
# keyed by database, so a write forgets only its own service's.
_RECENT_SETTINGS = RecentReads(SETTINGS_TTL)

_clients: dict[str, MongoClient] = {}
_lock = threading.Lock()


class CommandCounter(monitoring.CommandListener):
    """Counts every command a process sends and the time it took (``helpdesk_mongo_commands``,
    ``helpdesk_mongo_command_seconds``): what each service asks of the database per ticket is
    the first thing to know when the database is the bottleneck."""

    def __init__(self) -> None:
        self._labels: dict[int, tuple[str, str, str]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        target = event.command.get(name)
        labels = (event.database_name, name, target if isinstance(target, str) else "")
        MONGO_COMMANDS.labels(*labels).inc()
        self._labels[event.request_id] = labels

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._took(event)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._took(event)

    def _took(self, event) -> None:
        labels = self._labels.pop(event.request_id, None)
        if labels is not None:
            MONGO_COMMAND_SECONDS.labels(*labels).inc(event.duration_micros / 1e6)


# The server's code for a write refused by a unique index (in a bulk write's writeErrors).
DUPLICATE_KEY = 11000


def duplicates_only(exc: BulkWriteError) -> list[dict]:
    """The write errors of an unordered bulk write when a unique index refused each of them
    (the rest of the writes applied); ``exc`` is raised again when any failed otherwise."""
    errors = exc.details["writeErrors"]
    if any(e["code"] != DUPLICATE_KEY for e in errors):
        raise exc
    return errors


def insert_new(collection, docs: list[dict], session=None) -> list[int]:
    """Insert ``docs`` unordered; the positions of those a unique index refused (they exist
    already).  Any other write error is raised."""
    try:
        collection.insert_many(docs, ordered=False, session=session)
    except BulkWriteError as exc:
        return [e["index"] for e in duplicates_only(exc)]
    return []


def mongo_client(uri: str) -> MongoClient:
    with _lock:
        client = _clients.get(uri)
        if client is None:
            client = _clients[uri] = MongoClient(uri, tz_aware=True, connect=False,
                                                 serverSelectionTimeoutMS=5000,
                                                 event_listeners=[CommandCounter()])
        return client


def service_database(uri: str, prefix: str, service: str):
    return mongo_client(uri)[f"{prefix}_{service}"]


def in_transaction(db, work: Callable[[ClientSession], Any]) -> Any:
    """Run ``work(session)`` atomically; pymongo retries transient transaction errors."""
    with db.client.start_session() as session:
        return session.with_transaction(work)


def _marker_id(consumer: str, event_id: str) -> str:
    """The dedupe marker of an event handled by a consumer (``processed_events``)."""
    return f"{consumer}:{event_id}"


def handle_once(db, consumer: str, event_id: str, work: Callable[[ClientSession], Any]) -> bool:
    """Apply an event's effects exactly once per consumer, even with at-least-once delivery.

    The dedupe marker and the effects commit in one transaction, so a crash between them
    leaves neither.  Returns False when the event was already handled.
    """
    marker = {"_id": _marker_id(consumer, event_id)}

    def txn(session: ClientSession) -> None:
        db.processed_events.insert_one(marker, session=session)
        work(session)

    try:
        in_transaction(db, txn)
    except DuplicateKeyError:
        # Redelivered (or a replica got there first).  No read-before-write on the happy
        # path: duplicates are rare, every round trip to Mongo is not.
        if db.processed_events.find_one(marker, projection={"_id": 1}):
            return False
        raise
    return True


def first_handlings(db, consumer: str, event_ids: list[str], session: ClientSession
                    ) -> list[str]:
    """``handle_once`` for a batch, inside the caller's transaction: the ids among
    ``event_ids`` this consumer has not handled, now marked handled (their effects must be
    written in the same transaction).  One read and one insert for the batch."""
    markers = {_marker_id(consumer, event_id): event_id for event_id in event_ids}
    done = {m["_id"] for m in db.processed_events.find(
        {"_id": {"$in": list(markers)}}, projection={"_id": 1}, session=session)}
    fresh = [marker for marker in markers if marker not in done]
    if fresh:
        db.processed_events.insert_many([{"_id": marker} for marker in fresh],
                                        session=session)
    return [markers[marker] for marker in fresh]


class Repository:
    """Base of each service's repository: its database and its outbox."""

    def __init__(self, db):
        from .outbox import Outbox

        self.db = db
        self.outbox = Outbox(db)

    def ensure_indexes(self) -> None:
        """Create the indexes this service relies on (idempotent)."""

    def transaction(self, work):
        return in_transaction(self.db, work)

    def handle_once(self, consumer: str, event_id: str, work) -> bool:
        return handle_once(self.db, consumer, event_id, work)

    def first_handlings(self, consumer: str, event_ids: list[str], session) -> list[str]:
        return first_handlings(self.db, consumer, event_ids, session)

    def recent_setting(self, key, load: Callable[[], Any]) -> Any:
        """``load()`` as read within the last SETTINGS_TTL in this process."""
        return _RECENT_SETTINGS.get(self.db.name, key, load)

    def settings_changed(self, result: Any = None) -> Any:
        """After writing settings: this process reads them afresh (others within
        SETTINGS_TTL).  Returns ``result``, so a write's answer passes through."""
        _RECENT_SETTINGS.forget(self.db.name)
        return result
