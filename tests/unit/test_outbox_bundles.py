"""Events published together go out as one message per type (a bundle), at most
BUNDLE_LIMIT events each; a lone event as itself."""
from datetime import datetime, timezone

from services.common import correlation, outbox
from services.common import events as ev

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)


def _deadlines(ticket_id: str) -> dict:
    return ev.new_event(ev.SLA_DEADLINES_SET, {
        "ticket_id": ticket_id, "number": 7, "policy_id": "p", "version": 1,
        "first_response_due": NOW, "resolution_due": NOW}, NOW)


def _released(ticket_id: str) -> dict:
    return ev.new_event(ev.TICKET_RELEASED, {
        "ticket_id": ticket_id, "number": 7, "department": "it",
        "previous_agent_id": "a1"}, NOW)


def _docs(events: list[dict]) -> list[dict]:
    return [dict(doc, correlation_id=f"c-{doc['payload']['data']['ticket_id']}")
            for doc in outbox.entries(events, NOW)]


def test_events_of_one_type_go_out_as_one_bundle_and_a_lone_one_as_itself():
    sent = []
    outbox.send(lambda event_type, body: sent.append((event_type, body)), _docs(
        [_deadlines("t1"), _released("t2"), _deadlines("t3")]))
    [(first_type, bundle), (second_type, lone)] = sent
    assert first_type == ev.SLA_DEADLINES_SET
    assert [(e["data"]["ticket_id"], c) for e, c in ev.unbundled(bundle, None)] == [
        ("t1", "c-t1"), ("t3", "c-t3")]
    assert second_type == ev.TICKET_RELEASED and lone["data"]["ticket_id"] == "t2"
    assert ev.unbundled(lone, "header") == [(lone, "header")]


def test_a_bundle_holds_at_most_the_limit():
    sent = []
    count = 2 * outbox.BUNDLE_LIMIT + 1
    outbox.send(lambda event_type, body: sent.append(body),
                _docs([_deadlines(f"t{i}") for i in range(count)]))
    sizes = [len(ev.unbundled(body, None)) for body in sent]
    assert sizes == [outbox.BUNDLE_LIMIT, outbox.BUNDLE_LIMIT, 1]
    assert "bundle" not in sent[-1]  # the one left over travels as itself
    order = [e["data"]["ticket_id"] for body in sent for e, _ in ev.unbundled(body, None)]
    assert order == [f"t{i}" for i in range(count)]


def test_events_kept_in_no_outbox_go_out_as_bundles_under_the_work_s_correlation_id():
    sent = []
    envelopes = [_deadlines(f"t{i}") for i in range(3)]
    correlation.bind("work-1")
    try:
        outbox.send_unstaged(lambda event_type, body: sent.append((event_type, body)),
                             envelopes)
    finally:
        correlation.bind(None)
    assert sent == [(ev.SLA_DEADLINES_SET, ev.bundle(envelopes, ["work-1"] * 3))]
