"""Webhook deliveries (services/automation/webhooks.py, contract.py): signature, back-off,
outcomes, and the admin's webhook payload."""
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from services.automation import webhooks as wh
from services.automation.schemas import WebhookSchema

NOW = datetime(2030, 1, 7, 9, 0, tzinfo=timezone.utc)
HOOK = {"_id": "crm", "url": "http://127.0.0.1:9/hook", "secret": "0123456789abcdef"}


def delivery():
    return wh.new_delivery(HOOK, "ticket_created", {"event_id": "e1", "data": {"number": 7}},
                           "e1", NOW)


def test_the_signature_is_hmac_sha256_of_timestamp_and_body():
    d = delivery()
    headers = wh.request_headers(d, HOOK["secret"], NOW)
    expected = hmac.new(HOOK["secret"].encode(),
                        f"{headers['X-Helpdesk-Timestamp']}.{d['body']}".encode(),
                        hashlib.sha256).hexdigest()
    assert headers["X-Helpdesk-Signature"] == f"sha256={expected}"
    assert headers["X-Helpdesk-Delivery"] == "crm:e1"
    assert json.loads(d["body"]) == {"event_id": "e1", "data": {"number": 7}}


def test_failures_back_off_then_dead_letter():
    d = delivery()
    first = wh.after_attempt(d, "HTTP 500", NOW, max_attempts=3)
    assert first == {"status": "pending", "attempts": 1, "last_error": "HTTP 500",
                     "next_attempt_at": NOW + timedelta(seconds=30)}
    second = wh.after_attempt(dict(d, **first), "HTTP 502", NOW, max_attempts=3)
    assert second["next_attempt_at"] == NOW + timedelta(seconds=60)
    third = wh.after_attempt(dict(d, **second), "timeout", NOW, max_attempts=3)
    assert (third["status"], third["attempts"], third["next_attempt_at"]) == ("dead", 3, None)
    assert wh.backoff(40) == wh.MAX_BACKOFF
    assert wh.after_attempt(dict(d, **first), None, NOW, 3)["status"] == "delivered"
    assert wh.replayed(NOW) == {"status": "pending", "attempts": 0, "next_attempt_at": NOW,
                                "last_error": None}


def test_the_secret_is_write_only_and_events_are_checked():
    hook = WebhookSchema().load({"id": "crm", "url": "https://crm.example.com/h",
                                 "secret": "0123456789abcdef", "events": ["ticket_created"]})
    assert "secret" not in WebhookSchema().dump(hook)
    with pytest.raises(ValidationError) as exc:
        WebhookSchema().load({"id": "crm", "url": "ftp://x", "secret": "short",
                              "events": ["sla_breached"]})
    assert set(exc.value.messages) == {"url", "secret", "events"}
