"""Transactional outbox: events are written in the same transaction as the state change that
caused them, then relayed to RabbitMQ.  If the process dies between commit and publish, the
periodic relay (any replica) publishes them later: at-least-once, never lost."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable

from pymongo.client_session import ClientSession

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CLAIM_FOR = timedelta(seconds=30)

Dispatch = Callable[[str, dict[str, Any]], None]


class Outbox:
    def __init__(self, db):
        self.collection = db.outbox

    def ensure_indexes(self) -> None:
        self.collection.create_index("claimed_until")

    def stage(self, events: Iterable[dict[str, Any]], session: ClientSession) -> list[str]:
        docs = [{"_id": e["event_id"], "event_type": e["event_type"], "payload": e,
                 "claimed_until": EPOCH} for e in events]
        if docs:
            self.collection.insert_many(docs, session=session)
        return [d["_id"] for d in docs]

    def relay(self, dispatch: Dispatch, now: datetime, event_ids: Iterable[str] | None = None,
              limit: int = 500) -> int:
        """Publish staged events (the given ones, or any unclaimed) and remove them."""
        if event_ids is None:
            event_ids = [d["_id"] for d in self.collection.find(
                {"claimed_until": {"$lte": now}}, projection={"_id": 1}).limit(limit)]
        sent = 0
        for event_id in event_ids:
            # Claim atomically so two replicas relaying at once rarely publish twice.
            doc = self.collection.find_one_and_update(
                {"_id": event_id, "claimed_until": {"$lte": now}},
                {"$set": {"claimed_until": now + CLAIM_FOR}})
            if doc is None:
                continue
            dispatch(doc["event_type"], doc["payload"])
            self.collection.delete_one({"_id": event_id})
            sent += 1
        return sent
