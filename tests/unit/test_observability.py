"""Correlation ids, JSON log lines, event lag, health reports, the ops WSGI app and the
portal's /metrics gate, without servers."""
import io
import json
import logging
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import eventlet
import pytest
from flask import Flask

from services.common import correlation, health, logs
from services.common.observability import event_lag, ops_app
from services.portal.observability import metrics_allowed


def _in_own_context(fn):
    """Run in a fresh green thread, as a worker or request would (own context variables)."""
    return eventlet.spawn(fn).wait()


def test_a_clients_request_id_is_kept_only_if_it_is_a_plain_token():
    assert correlation.accept("req-42.a:b_C") == "req-42.a:b_C"
    for bad in (None, "", "has space", "x" * 129, "new\nline", "é"):
        made = correlation.accept(bad)
        assert made != bad and len(made) == 32


def test_ticket_number_is_found_in_rpc_arguments_payloads_and_event_envelopes():
    assert correlation.ticket_in({"number": 1004, "actor": {}}) == 1004
    assert correlation.ticket_in({"payload": {"event_id": "e", "data": {"number": 7}}}) == 7
    assert correlation.ticket_in({"command": {"number": 12}}) == 12
    assert correlation.ticket_in({"command": {"subject": "x"}, "flag": True}) is None


def test_ids_of_one_green_thread_do_not_leak_into_another():
    def first():
        correlation.bind("aaa", ticket=1, service="intake")
        eventlet.sleep(0)
        return correlation.current(), correlation.ticket(), correlation.service()

    def second():
        eventlet.sleep(0)
        return correlation.current(), correlation.ticket()

    one, two = eventlet.spawn(first), eventlet.spawn(second)
    assert one.wait() == ("aaa", 1, "intake")
    assert two.wait() == (None, None)


def test_log_lines_are_json_with_service_correlation_id_and_ticket():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger("tests.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def work():
        correlation.bind("cid-1", ticket=1007, service="routing")
        logger.info("assigned to %s", "Анна")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed")

    try:
        _in_own_context(work)
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "assigned to Анна"
    assert (first["service"], first["level"], first["correlation_id"], first["ticket"]) == (
        "routing", "INFO", "cid-1", 1007)
    assert first["ts"].endswith("Z")
    assert second["level"] == "ERROR" and "ValueError: boom" in second["exc"]


def test_outgoing_mail_carries_the_correlation_id_once():
    def work():
        correlation.bind("cid-mail")
        message = EmailMessage()
        correlation.stamp(message)
        correlation.stamp(message)
        return message.get_all("X-Request-ID")

    assert _in_own_context(work) == ["cid-mail"]


def test_event_lag_is_measured_from_occurred_at():
    now = datetime(2026, 12, 4, 10, 0, 5, tzinfo=timezone.utc)
    occurred = (now - timedelta(seconds=2.5)).isoformat()
    assert event_lag({"occurred_at": occurred}, now) == pytest.approx(2.5)
    assert event_lag({"occurred_at": "2026-12-04T10:00:00"}, now) is None  # no zone
    assert event_lag({}, now) is None
    assert event_lag("not an envelope", now) is None


def test_health_report_names_each_failing_check():
    def broken():
        raise ConnectionError("refused")

    ok, checks = health.report({"mongo": lambda: None, "broker": broken})
    assert not ok
    assert checks == {"mongo": "ok", "broker": "ConnectionError: refused"}
    assert health.report({"mongo": lambda: None}) == (True, {"mongo": "ok"})


def _get(app, path):
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, start_response))
    return seen["status"], body


def test_ops_app_answers_live_ready_and_metrics():
    state = {"ready": (True, {"broker": "ok"})}
    app = ops_app(lambda: state["ready"])
    assert _get(app, "/livez")[0] == "200 OK"
    assert _get(app, "/readyz") == ("200 OK", b'{"status": "ready", "checks": {"broker": "ok"}}')
    state["ready"] = (False, {"broker": "ConnectionError: refused"})
    status, body = _get(app, "/readyz")
    assert status.startswith("503") and json.loads(body)["status"] == "not ready"
    status, body = _get(app, "/metrics")
    assert status == "200 OK" and b"helpdesk_entrypoint_calls_total" in body
    assert _get(app, "/other")[0].startswith("404")


@pytest.mark.parametrize("address, header, token, allowed", [
    ("127.0.0.1", None, None, True),
    ("::1", None, None, True),
    ("10.1.2.3", None, None, False),
    ("10.1.2.3", "Bearer s3cret", None, False),      # no token configured: loopback only
    ("10.1.2.3", "Bearer s3cret", "s3cret", True),
    ("10.1.2.3", "Bearer wrong", "s3cret", False),
])
def test_portal_metrics_are_for_loopback_or_the_token(monkeypatch, address, header, token,
                                                       allowed):
    if token:
        monkeypatch.setenv("HELPDESK_METRICS_TOKEN", token)
    else:
        monkeypatch.delenv("HELPDESK_METRICS_TOKEN", raising=False)
    headers = {"Authorization": header} if header else {}
    with Flask(__name__).test_request_context("/metrics", headers=headers,
                                              environ_base={"REMOTE_ADDR": address}):
        assert metrics_allowed() is allowed
