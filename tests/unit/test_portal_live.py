"""The console's live feed: what an event becomes, who is told, catching up after a drop."""
import json
from datetime import datetime, timezone

from services.common.events import bundle, new_event
from services.portal.live import RESYNC, LiveFeed, item_from_envelope, visible
from services.portal.live_amqp import EventListener

AT = datetime(2026, 12, 4, 10, tzinfo=timezone.utc)


def state(department: str) -> dict:
    return {"subject": "s", "description": "d", "status": "new", "department": department,
            "priority": "normal", "language": "en", "requester_id": "c1", "created_at": AT,
            "updated_at": AT}


def created(number: int, department: str) -> dict:
    return new_event("ticket_created", {
        "ticket_id": f"t{number}", "number": number, "subject": "s", "description": "d",
        "department": department, "priority": "normal", "channel": "portal",
        "language": "en", "requester_id": "c1", "created_at": AT, "ticket": state(department)})


def message(number: int, department: str) -> dict:
    return new_event("message_added", {
        "ticket_id": f"t{number}", "number": number, "message_id": "m1",
        "author_role": "customer", "public": True, "added_at": AT, "ticket": state(department)})


def assigned(number: int) -> dict:
    """An envelope that names the ticket but not its department."""
    return {"event_type": "ticket_assigned", "data": {"number": number, "agent_id": "a1"}}


def frames(stream, n: int) -> list[str]:
    return [next(stream) for _ in range(n)]


def data_of(frame: str) -> dict:
    return json.loads(frame.split("data: ", 1)[1])


def test_an_envelope_becomes_type_number_department():
    assert item_from_envelope(created(7, "billing")) == ("ticket_created", 7, "billing")
    assert item_from_envelope(message(7, "it")) == ("message_added", 7, "it")
    assert item_from_envelope(assigned(7)) == ("ticket_assigned", 7, None)
    assert item_from_envelope({"data": "nope"}) is None
    assert item_from_envelope(["not", "a", "dict"]) is None


def test_a_bundle_of_events_becomes_one_item_each():
    feed = LiveFeed()
    EventListener("amqp://unused", feed)._on_message(
        bundle([created(7, "billing"), created(8, "it")], ["c7", "c8"]), None)
    assert [(item["type"], item["number"], item["department"]) for _, item in feed._recent] == [
        ("ticket_created", 7, "billing"), ("ticket_created", 8, "it")]


def test_department_is_remembered_from_earlier_events():
    feed = LiveFeed()
    feed.publish_event(created(7, "billing"))
    item = feed.publish_event(assigned(7))
    assert item["department"] == "billing"
    assert not visible(item, frozenset({"technical"}))
    assert visible(item, frozenset({"billing"}))
    assert visible(item, None)  # supervisors and admins


def test_unknown_department_passes_with_nothing_but_the_number():
    item = LiveFeed().publish_event(assigned(9))
    assert visible(item, frozenset({"technical"}))


def test_stream_sends_only_visible_items_live():
    feed = LiveFeed()
    stream = feed.stream(frozenset({"technical"}), feed.last_id, keepalive=0.01)
    assert frames(stream, 1) == ["retry: 1000\n\n"]
    feed.publish_event(created(1, "billing"))
    feed.publish_event(created(2, "technical"))
    frame = next(stream)
    assert data_of(frame) == {"type": "ticket_created", "number": 2}
    assert frame.startswith(f"id: {feed.last_id}\n")
    assert next(stream) == ": keepalive\n\n"
    stream.close()
    assert feed.listeners == 0


def test_catch_up_from_last_event_id():
    feed = LiveFeed()
    feed.publish_event(created(1, "technical"))
    seen = feed.last_id
    feed.publish_event(created(2, "technical"))
    feed.publish_event(created(3, "technical"))
    stream = feed.stream(None, seen, keepalive=0.01)
    got = frames(stream, 3)[1:]
    assert [data_of(f)["number"] for f in got] == [2, 3]
    assert next(stream) == ": keepalive\n\n"  # nothing twice
    stream.close()


def test_resync_when_the_id_is_too_old_or_from_another_process():
    feed = LiveFeed(size=2)
    first = feed.last_id
    for n in range(5):
        feed.publish_event(created(n, "technical"))
    assert feed.since(first) is None
    assert feed.since("other-3") is None
    assert feed.since(feed.last_id) == []
    stream = feed.stream(None, first, keepalive=0.01)
    assert data_of(frames(stream, 2)[1])["type"] == RESYNC
    stream.close()
