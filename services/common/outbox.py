"""Transactional outbox: events are written in the same transaction as the state change that
caused them, then relayed to RabbitMQ.  If the process dies between commit and publish, the
periodic relay (any replica) publishes them later: at-least-once, never lost."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

import eventlet
from pymongo.client_session import ClientSession
from pymongo.errors import PyMongoError

from . import correlation, events

log = logging.getLogger(__name__)

# The writer holds a fresh event for this long; if it dies before publishing, the sweep
# (any replica) takes over.  A slow publish past it means a duplicate, which consumers absorb.
WRITER_CLAIM = timedelta(seconds=5)
SWEEP_CLAIM = timedelta(seconds=30)

Dispatch = Callable[[str, dict[str, Any]], None]
# Published events leave the outbox in one delete per collection this long after the first of
# them, instead of one delete per transaction: a ticket's events come from several handlers
# within milliseconds.  Well inside WRITER_CLAIM, so the sweep never sees them meanwhile.
FORGET_AFTER = 0.5
# A consumer's batch is up to its prefetch in messages: bundles of at most 8 keep its work (a
# transaction, a bulk write) within 8 times what it was, and save most of what bundling can
# (RabbitMQ: 0.85 CPU-ms per event in bundles of 4, 0.60 in bundles of 8, 2.4 alone).
BUNDLE_LIMIT = 8


class _Published:
    """Ids of published events waiting for their delete, per outbox collection (per process).
    Should the delete fail or the process die first, the rows' claims lapse and the sweep
    sends them again: a repeat that consumers already ignore (at-least-once delivery)."""

    def __init__(self) -> None:
        self._waiting: dict[str, tuple[Any, list]] = {}

    def forget(self, collection, ids: list) -> None:
        waiting = self._waiting.get(collection.full_name)
        if waiting is None:
            waiting = self._waiting[collection.full_name] = (collection, [])
            eventlet.spawn_after(FORGET_AFTER, self._delete, collection.full_name)
        waiting[1].extend(ids)

    def _delete(self, name: str) -> None:
        collection, ids = self._waiting.pop(name)
        try:
            collection.delete_many({"_id": {"$in": ids}})
        except PyMongoError:
            log.warning("removing %d published events from %s failed; the sweep sends them "
                        "again", len(ids), name, exc_info=True)


_PUBLISHED = _Published()


def entries(events: Iterable[dict[str, Any]], now: datetime) -> list[dict]:
    """Outbox entries of ``events``, claimed by their writer for WRITER_CLAIM (also kept on
    a document of their own by a writer that needs no transaction, see intake's new tickets)."""
    return [{"_id": e["event_id"], "event_type": e["event_type"], "payload": e,
             "claimed_until": now + WRITER_CLAIM, "correlation_id": correlation.current()}
            for e in events]


def send(dispatch: Dispatch, docs: list[dict]) -> None:
    """Publish ``docs``: those of one type together as bundles of up to BUNDLE_LIMIT
    (events.bundle), in the order they came; a lone one as itself.  Consumers' order across
    types was never given (each type has queues of its own)."""
    by_type: dict[str, list[dict]] = {}
    for doc in docs:
        by_type.setdefault(doc["event_type"], []).append(doc)
    for event_type, group in by_type.items():
        for start in range(0, len(group), BUNDLE_LIMIT):
            part = group[start:start + BUNDLE_LIMIT]
            dispatch(event_type, part[0]["payload"] if len(part) == 1 else events.bundle(
                [d["payload"] for d in part], [d.get("correlation_id") for d in part]))


def send_unstaged(dispatch: Dispatch, envelopes: list[dict[str, Any]]) -> None:
    """``send`` for events kept in no outbox (their writer announces them again should it die
    first), under the correlation id of the work in progress."""
    send(dispatch, [{"event_type": e["event_type"], "payload": e,
                     "correlation_id": correlation.current()} for e in envelopes])


def resend(dispatch: Dispatch, docs: list[dict]) -> None:
    """``send`` for a sweep: each with the correlation id of the work that wrote it (see
    observability)."""
    for doc in docs:
        correlation.bind(doc.get("correlation_id"))
        send(dispatch, [doc])


class Outbox:
    def __init__(self, db):
        self.collection = db.outbox

    def ensure_indexes(self) -> None:
        self.collection.create_index("claimed_until")

    def stage(self, events: Iterable[dict[str, Any]], session: ClientSession,
              now: datetime) -> list[dict]:
        """Write events in the caller's transaction, already claimed by the caller."""
        docs = entries(events, now)
        if docs:
            self.collection.insert_many(docs, session=session)
        return docs

    def publish(self, dispatch: Dispatch, docs: list[dict]) -> None:
        """Fast path right after commit: no claim round trip, the writer owns them."""
        send(dispatch, docs)
        if docs:
            _PUBLISHED.forget(self.collection, [d["_id"] for d in docs])

    def sweep(self, dispatch: Dispatch, now: datetime, limit: int = 500) -> int:
        """Publish what a dead (or slow) writer left behind."""
        stale = [d["_id"] for d in self.collection.find(
            {"claimed_until": {"$lte": now}}, projection={"_id": 1}).limit(limit)]
        sent = 0
        for event_id in stale:
            # Claim atomically so two replicas sweeping at once rarely publish twice.
            doc = self.collection.find_one_and_update(
                {"_id": event_id, "claimed_until": {"$lte": now}},
                {"$set": {"claimed_until": now + SWEEP_CLAIM}})
            if doc is not None:
                resend(dispatch, [doc])
                _PUBLISHED.forget(self.collection, [event_id])
                sent += 1
        return sent
