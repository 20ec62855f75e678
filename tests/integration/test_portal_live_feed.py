"""The console's live feed on the real broker: the portal takes the services' events only
while a browser listens, tells it to resync when it starts (what came before was not seen),
passes the events on, and lets its queue go once nobody listens."""
import json
import time

import eventlet
from kombu import Connection
from nameko.standalone.events import event_dispatcher, get_event_exchange

from services.portal.live import RESYNC, LiveFeed
from services.portal.live_amqp import EventListener
from tests.support import queue_exists
from tests.unit.test_portal_live import created


def _until(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        eventlet.sleep(0.1)


def _frame(stream) -> dict:
    frame = next(stream)
    while frame.startswith(":"):  # keepalive
        frame = next(stream)
    return json.loads(frame.split("data: ", 1)[1])


def test_events_flow_only_while_a_browser_listens(config):
    feed = LiveFeed()
    listener = EventListener(config["AMQP_URI"], feed, idle_seconds=1.0).start()
    with Connection(config["AMQP_URI"]) as connection:  # as intake declares it at start
        get_event_exchange("intake", {})(connection.default_channel).declare()
    dispatch = event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})
    try:
        eventlet.sleep(1.0)
        assert not queue_exists(config['_vhost'], listener.queue_name)  # nobody listens: no queue
        event = created(41, "billing")
        dispatch("intake", event["event_type"], event)
        eventlet.sleep(0.5)
        assert feed.last_id.endswith("-0")  # unseen: nobody listened

        stream = feed.stream(None, feed.last_id, keepalive=0.5)
        assert next(stream).startswith("retry:")
        assert _frame(stream) == {"type": RESYNC, "number": None}
        assert queue_exists(config['_vhost'], listener.queue_name)
        event = created(42, "billing")
        dispatch("intake", event["event_type"], event)
        assert _frame(stream) == {"type": "ticket_created", "number": 42}

        stream.close()  # the browser went away
        _until(lambda: not queue_exists(config['_vhost'], listener.queue_name))
    finally:
        listener.stop()
