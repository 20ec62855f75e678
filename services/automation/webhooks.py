"""Webhook deliveries with no I/O: the signed request, the back-off between attempts, and
what an attempt's outcome makes of a delivery (delivered, retried later, or dead-lettered).

A receiver verifies ``X-Helpdesk-Signature: sha256=<hex>``, the HMAC-SHA256 of
``<X-Helpdesk-Timestamp>.<raw body>`` with the webhook's secret, and should refuse a timestamp
far from its own clock (replays)."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from typing import TypedDict

FIRST_RETRY = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=6)
DEFAULT_MAX_ATTEMPTS = 8  # 30 s, 1, 2, 4, 8, 16, 32 min apart: about an hour of trying


class Delivery(TypedDict, total=False):
    _id: str                 # "<webhook id>:<event or trigger firing id>": one per pair
    webhook_id: str
    url: str
    event_type: str
    body: str                # the JSON sent, fixed at enqueue time (retries send the same)
    status: str              # pending | delivered | dead
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def new_delivery(webhook: dict, event_type: str, payload: dict, key: str,
                 now: datetime) -> Delivery:
    return Delivery(_id=f"{webhook['_id']}:{key}", webhook_id=webhook["_id"],
                    url=webhook["url"], event_type=event_type,
                    body=json.dumps(payload, sort_keys=True, ensure_ascii=False),
                    status="pending", attempts=0, next_attempt_at=now, last_error=None,
                    created_at=now, delivered_at=None)


def signature(secret: str, timestamp: str, body: str) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def request_headers(delivery: Delivery, secret: str, now: datetime) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    return {"Content-Type": "application/json", "User-Agent": "helpdesk-webhooks/1",
            "X-Helpdesk-Event": delivery["event_type"], "X-Helpdesk-Delivery": delivery["_id"],
            "X-Helpdesk-Timestamp": timestamp,
            "X-Helpdesk-Signature": signature(secret, timestamp, delivery["body"])}


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: 30 s, doubling, at most 6 h."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), MAX_BACKOFF)


def after_attempt(delivery: Delivery, error: str | None, now: datetime,
                  max_attempts: int) -> dict:
    """The fields to set after one attempt (``error`` None: the receiver answered 2xx)."""
    attempts = delivery["attempts"] + 1
    if error is None:
        return {"status": "delivered", "attempts": attempts, "delivered_at": now,
                "next_attempt_at": None, "last_error": None}
    if attempts >= max_attempts:
        return {"status": "dead", "attempts": attempts, "next_attempt_at": None,
                "last_error": error[:500]}
    return {"status": "pending", "attempts": attempts, "last_error": error[:500],
            "next_attempt_at": now + backoff(attempts)}


def replayed(now: datetime) -> dict:
    """An admin sends a dead letter again: a fresh round of attempts."""
    return {"status": "pending", "attempts": 0, "next_attempt_at": now, "last_error": None}
