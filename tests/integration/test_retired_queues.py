"""A queue an earlier version consumed: at start its waiting events move to the queue that
handles them now and it is deleted, on the real broker; nothing is lost, a rerun is harmless."""
import json

from kombu import Connection, Exchange, Queue

from services.common import events as ev
from services.common.retired_queues import handler_queue, retire, waiting
from services.intake.service import IntakeService
from tests.support import eventually, running


def _depth(connection, queue: str) -> int:
    return connection.default_channel.queue_declare(queue, passive=True).message_count


def test_waiting_events_move_to_the_successor_and_the_old_queue_goes(config):
    old, new = "evt-intake-ticket_created--probe.old_part", "evt-intake-ticket_created--probe.all"
    with Connection(config["AMQP_URI"]) as connection:
        for name in (old, new):
            Queue(name, Exchange("intake.events", type="topic", durable=True),
                  routing_key="ticket_created", durable=True)(connection.default_channel).declare()
        producer = connection.Producer(serializer="json")
        for n in range(5):
            producer.publish({"n": n}, exchange="", routing_key=old, delivery_mode=2,
                             headers={"nameko.correlation_id": f"c{n}"})
        producer.publish({"n": 99}, exchange="", routing_key=new, delivery_mode=2)

        assert retire(config["AMQP_URI"], {old: new}) == 5
        assert _depth(connection, new) == 6
        gone = connection.channel()
        try:
            gone.queue_declare(old, passive=True)
            raise AssertionError("the retired queue is still there")
        except Exception as exc:  # noqa: BLE001 - NotFound closes the channel
            assert "NOT_FOUND" in str(exc) or "404" in str(exc)
        got = []
        channel = connection.channel()
        while (message := channel.basic_get(new, no_ack=True)) is not None:
            got.append((json.loads(message.body)["n"],
                        message.properties.get("application_headers", {}).get(
                            "nameko.correlation_id")))
        assert sorted(got) == [(0, "c0"), (1, "c1"), (2, "c2"), (3, "c3"), (4, "c4"),
                               (99, None)]
        # Started again (or on a broker that never had the old queue): nothing to do.
        assert retire(config["AMQP_URI"], {old: new}) == 0


def test_an_event_that_changed_form_is_moved_translated_and_the_rest_dropped(config):
    old = "evt-routing-ticket_unassignable--probe.record_unassigned"
    new = "evt-routing-ticket_released--probe.record_unassigned"
    waits = ev.new_event(ev.TICKET_UNASSIGNABLE, {
        "ticket_id": "t-1", "number": 1, "department": "legal", "reason": "nobody free"})
    # As an earlier version published a release: the same event naming the agent.
    released = dict(waits, event_id="e-2", data=dict(waits["data"], ticket_id="t-2", number=2,
                                                      previous_agent_id="anna"))
    with Connection(config["AMQP_URI"]) as connection:
        for name, key in ((old, ev.TICKET_UNASSIGNABLE), (new, ev.TICKET_RELEASED)):
            Queue(name, Exchange("routing.events", type="topic", durable=True),
                  routing_key=key, durable=True)(connection.default_channel).declare()
        producer = connection.Producer(serializer="json")
        for envelope in (waits, released):
            producer.publish(envelope, exchange="", routing_key=old, delivery_mode=2)

        assert retire(config["AMQP_URI"], {old: new}, {old: ev.released_of_unassignable}) == 1
        moved = connection.channel().basic_get(new, no_ack=True)
        event = ev.parse_event(ev.TICKET_RELEASED, json.loads(moved.body))
        assert (event.event_id, event.data) == ("e-2", {
            "ticket_id": "t-2", "number": 2, "department": "legal", "previous_agent_id": "anna"})
        assert waiting(config["AMQP_URI"], {old: new}) == []


def test_a_queue_whose_successor_is_not_there_yet_waits_unbound_never_emptied(config):
    old, new = "evt-intake-ticket_solved--probe.old", "evt-intake-ticket_solved--probe.new"
    with Connection(config["AMQP_URI"]) as connection:
        Queue(old, Exchange("intake.events", type="topic", durable=True),
              routing_key="ticket_solved", durable=True)(connection.default_channel).declare()
        connection.Producer(serializer="json").publish({"n": 1}, exchange="", routing_key=old)
        assert retire(config["AMQP_URI"], {old: new}) == 0
        assert waiting(config["AMQP_URI"], {old: new}) == [old]
        assert _depth(connection, old) == 1


def test_intake_takes_over_the_releases_an_earlier_version_left_waiting(config, db):
    old = handler_queue("intake", ev.TICKET_UNASSIGNABLE, "record_unassigned")
    legacy = ev.new_event(ev.TICKET_UNASSIGNABLE, {
        "ticket_id": "t-9", "number": 9, "department": "legal", "reason": "nobody free"})
    legacy["data"]["previous_agent_id"] = "anna"
    with Connection(config["AMQP_URI"]) as connection:
        Queue(old, Exchange("routing.events", type="topic", durable=True),
              routing_key=ev.TICKET_UNASSIGNABLE, durable=True)(connection.default_channel
                                                                ).declare()
        connection.Producer(serializer="json").publish(legacy, exchange="", routing_key=old)
    with running(config, IntakeService):
        eventually(lambda: db("intake").processed_events.find_one(
            {"_id": f"record_unassigned:{legacy['event_id']}"}))
        assert waiting(config["AMQP_URI"], {old: old}) == []
