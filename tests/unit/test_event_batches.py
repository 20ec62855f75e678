"""Event handlers that take the events waiting together: what the worker is given, what it
answers, and which messages are acknowledged or requeued, without a broker."""
import logging
from datetime import datetime, timezone

import eventlet
import pytest

from services.common import events as ev
from services.common.batches import EventBatchHandler
from services.common.nameko_support import (FAILED_BACKOFF, LATER_BACKOFF, NotYet,
                                             SomeEventsLater, on_event, on_events)

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)


def _deadlines(ticket_id: str, version: int = 1) -> dict:
    return ev.new_event(ev.SLA_DEADLINES_SET, {
        "ticket_id": ticket_id, "number": 7, "policy_id": "p", "version": version,
        "first_response_due": NOW, "resolution_due": NOW}, NOW)


class Handled:
    """A service whose handler records each call's ticket ids and fails on "bad" ones; it does
    the work of the others but leaves "later" ones for later."""

    def __init__(self):
        self.calls = []

    @on_events(ev.SLA_DEADLINES_SET)
    def record(self, events):
        self.calls.append([e.data["ticket_id"] for e in events])
        if any(e.data["ticket_id"].startswith("bad") for e in events):
            raise RuntimeError("cannot write")
        later = [e for e in events if e.data["ticket_id"].startswith("later")]
        if later:
            raise SomeEventsLater(later, "not yet")


def test_the_events_waiting_together_are_handled_in_one_call():
    service = Handled()
    failed = service.record([_deadlines("t1"), _deadlines("t2"), _deadlines("t3")],
                            ["c1", "c2", "c3"])
    assert failed == [] and service.calls == [["t1", "t2", "t3"]]


def test_each_event_of_a_batch_carries_its_own_correlation_id():
    """The worker runs under the first message's id; what it does for each event (a mail to
    its requester) names that event's request."""
    seen = []

    class Tracing:
        @on_events(ev.SLA_DEADLINES_SET)
        def record(self, events):
            seen.extend((e.data["ticket_id"], e.correlation_id) for e in events)

    assert Tracing().record([_deadlines("t1"), _deadlines("t2")], ["c1", "c2"]) == []
    assert seen == [("t1", "c1"), ("t2", "c2")]


def test_a_failing_batch_is_tried_event_by_event_and_only_the_bad_one_comes_back(monkeypatch):
    monkeypatch.setattr("services.common.nameko_support.eventlet.sleep", lambda _s: None)
    service = Handled()
    failed = service.record([_deadlines("t1"), _deadlines("bad2"), _deadlines("t3")],
                            ["c1", "c2", "c3"])
    assert failed == [1]
    assert service.calls == [["t1", "bad2", "t3"], ["t1"], ["bad2"], ["t3"]]


def test_a_batch_that_leaves_some_events_for_later_requeues_only_them(monkeypatch, caplog):
    waits = []
    monkeypatch.setattr("services.common.nameko_support.eventlet.sleep", waits.append)
    caplog.set_level(logging.INFO, logger="services.common.nameko_support")
    service = Handled()
    failed = service.record([_deadlines("t1"), _deadlines("later2"), _deadlines("t3"),
                             _deadlines("later4")], ["c1", "c2", "c3", "c4"])
    assert failed == [1, 3]
    # an expected wait: told plainly, without a failure's traceback or its long back-off
    assert [(r.levelname, r.exc_info) for r in caplog.records] == [("INFO", None)]
    assert "2 events of the batch later: not yet" in caplog.records[0].getMessage()
    assert waits == [LATER_BACKOFF] and LATER_BACKOFF < FAILED_BACKOFF
    assert service.calls == [["t1", "later2", "t3", "later4"]]  # not tried again one by one
    assert service.record([_deadlines("t5")], ["c5"]) == []


def test_a_lone_failing_event_comes_back_without_a_second_try(monkeypatch):
    monkeypatch.setattr("services.common.nameko_support.eventlet.sleep", lambda _s: None)
    service = Handled()
    assert service.record([_deadlines("bad1")], ["c1"]) == [0]
    assert service.calls == [["bad1"]]


def test_a_repeat_in_the_batch_is_handed_over_once_and_acknowledged():
    service = Handled()
    first = _deadlines("t1")
    assert service.record([first, _deadlines("t2"), dict(first)], ["c1", "c2", "c3"]) == []
    assert service.calls == [["t1", "t2"]]


def test_of_a_failing_event_and_its_repeat_only_the_first_copy_comes_back(monkeypatch):
    monkeypatch.setattr("services.common.nameko_support.eventlet.sleep", lambda _s: None)
    service = Handled()
    bad = _deadlines("bad1")
    assert service.record([_deadlines("t1"), bad, dict(bad)], ["c1", "c2", "c3"]) == [1]
    assert service.calls == [["t1", "bad1"], ["t1"], ["bad1"]]


def test_different_events_about_one_ticket_are_all_handed_over():
    service = Handled()
    assert service.record([_deadlines("t1", 1), _deadlines("t1", 2)], ["c1", "c2"]) == []
    assert service.calls == [["t1", "t1"]]


def test_a_message_that_breaks_the_contract_is_dropped_not_retried():
    service = Handled()
    broken = dict(_deadlines("t2"), data={"ticket_id": "t2"})  # required fields missing
    assert service.record([_deadlines("t1"), broken], ["c1", "c2"]) == []
    assert service.calls == [["t1"]]
    assert Handled().record([broken], ["c1"]) == []  # nothing left: the handler is not called


class _Consumer:
    def __init__(self):
        self.acked, self.requeued = [], []

    def ack_message(self, message):
        self.acked.append(message)

    def requeue_message(self, message):
        self.requeued.append(message)


@pytest.mark.parametrize("result, exc_info, acked, requeued", [
    ([], None, ["m0", "m1", "m2"], []),
    ([1], None, ["m0", "m2"], ["m1"]),
    (None, (RuntimeError, RuntimeError("x"), None), [], ["m0", "m1", "m2"]),
])
def test_the_workers_answer_decides_each_message(result, exc_info, acked, requeued):
    entrypoint = EventBatchHandler("sla", ev.SLA_DEADLINES_SET, requeue_on_error=True)
    consumer = _Consumer()
    entrypoint.queue_consumer = consumer
    entrypoint.handle_batch_result(["m0", "m1", "m2"], [0, 1, 2], None, result, exc_info)
    assert (consumer.acked, consumer.requeued) == (acked, requeued)


@pytest.mark.parametrize("failed, acked, requeued", [
    ([], ["m0", "m1"], []),
    ([2], ["m0"], ["m1"]),       # one event of the bundle m1 failed: the bundle comes again
    ([1, 3], [], ["m0", "m1"]),  # each message once, however many of its events failed
])
def test_a_bundle_is_acknowledged_only_when_all_its_events_are_done(failed, acked, requeued):
    entrypoint = EventBatchHandler("sla", ev.SLA_DEADLINES_SET, requeue_on_error=True)
    consumer = _Consumer()
    entrypoint.queue_consumer = consumer
    # Events 0 and 1 came in message m0, events 2 and 3 in the bundle m1.
    entrypoint.handle_batch_result(["m0", "m1"], [0, 0, 1, 1], None, failed, None)
    assert (consumer.acked, consumer.requeued) == (acked, requeued)


class _Container:
    max_workers = 8

    def __init__(self):
        self.spawned = []

    def spawn_worker(self, entrypoint, args, kwargs, context_data, handle_result):
        self.spawned.append((args, handle_result))


class _Message:
    def __init__(self, correlation_id):
        self.headers = {"nameko.correlation_id": correlation_id}


def test_a_bundles_events_reach_the_worker_one_by_one_with_their_own_traces():
    entrypoint = EventBatchHandler("sla", ev.SLA_DEADLINES_SET, requeue_on_error=True)
    entrypoint.container = _Container()
    lone, bundled = _deadlines("t1"), [_deadlines("t2"), _deadlines("t3")]
    first = eventlet.spawn(entrypoint.handle_message, lone, _Message("c1"))
    eventlet.sleep(0)  # the first gathers its batch; the bundle joins it
    entrypoint.handle_message(ev.bundle(bundled, ["c2", None]), _Message("header"))
    first.wait()
    [((payloads, correlation_ids), handle_result)] = entrypoint.container.spawned
    assert payloads == [lone] + bundled
    # An event the bundle names no trace for keeps the message's.
    assert correlation_ids == ["c1", "c2", "header"]
    assert handle_result.args[1] == [0, 1, 1]  # each event's message


def test_unbundled_gives_a_bundles_events_or_the_body_itself():
    one, two = _deadlines("t1"), _deadlines("t2")
    assert ev.unbundled(one, "c") == [(one, "c")]
    assert ev.unbundled(ev.bundle([one, two], ["c1", "c2"]), "c") == [(one, "c1"), (two, "c2")]
    # Ids that do not match the events: the message's for each.
    assert ev.unbundled({"bundle": [one, two], "correlation_ids": ["c1"]}, "c") == [
        (one, "c"), (two, "c")]
    # Not a list of events: handed on as it is, to fail validation and be dropped.
    broken = {"bundle": "nonsense"}
    assert ev.unbundled(broken, "c") == [(broken, "c")]


class Single:
    """A one-event handler (``on_event``) given a bundle: each event in turn."""

    def __init__(self):
        self.name, self.seen = "single", []

    @on_event(ev.SLA_DEADLINES_SET)
    def record(self, event):
        self.seen.append(event.data["ticket_id"])
        if event.data["ticket_id"] == "bad":
            raise RuntimeError("cannot write")
        if event.data["ticket_id"] == "early":
            raise NotYet("its creation has not come")


def test_a_one_event_handler_takes_a_bundle_event_by_event(monkeypatch):
    monkeypatch.setattr("services.common.nameko_support.eventlet.sleep", lambda _s: None)
    service = Single()
    service.record(ev.bundle([_deadlines("t1"), _deadlines("t2")], ["c1", "c2"]))
    assert service.seen == ["t1", "t2"]
    with pytest.raises(RuntimeError):  # the whole message is requeued
        service.record(ev.bundle([_deadlines("t3"), _deadlines("bad")], ["c3", "c4"]))
    assert service.seen == ["t1", "t2", "t3", "bad"]


def test_a_one_event_handler_s_event_that_waits_comes_back_soon_without_a_traceback(
        monkeypatch, caplog):
    waits = []
    monkeypatch.setattr("services.common.nameko_support.eventlet.sleep", waits.append)
    caplog.set_level(logging.INFO, logger="services.common.nameko_support")
    with pytest.raises(NotYet):  # requeued
        Single().record(_deadlines("early"))
    assert [(r.levelname, r.exc_info) for r in caplog.records] == [("INFO", None)]
    assert waits == [LATER_BACKOFF]
