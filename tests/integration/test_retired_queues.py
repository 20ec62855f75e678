"""A queue an earlier version consumed: at start its waiting events move to the queue that
handles them now and it is deleted, on the real broker; nothing is lost, a rerun is harmless."""
import json

from kombu import Connection, Exchange, Queue

from services.common.retired_queues import retire


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
