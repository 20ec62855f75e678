"""``queues_drained``, which tests wait on before they read a consumer's effects, on the real
broker: the management API counts a message some time after it was published, and a read of
that moment must not be taken for a drained queue."""
from datetime import datetime, timezone

from services.common import events as ev
from services.common.nameko_support import on_events
from tests.integration.routing_helpers import dispatcher
from tests.support import eventually, queues_drained, running

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)
DONE: set[str] = set()


class Probe:
    name = "drainprobe"

    @on_events(ev.SLA_DEADLINES_SET)
    def record(self, events):
        DONE.update(e.data["ticket_id"] for e in events)


def test_a_message_just_published_is_not_taken_for_drained(config):
    vhost = config["_vhost"]
    with running(config, Probe):
        pass  # its queue exists now, and nobody consumes it
    eventually(lambda: queues_drained(vhost, "drainprobe"))  # counted, empty
    dispatcher(config)(ev.new_event(ev.SLA_DEADLINES_SET, {
        "ticket_id": "t1", "number": 1, "policy_id": "p", "version": 1,
        "first_response_due": NOW, "resolution_due": NOW}, NOW))  # confirmed: in the queue
    assert not queues_drained(vhost, "drainprobe")
    with running(config, Probe):
        eventually(lambda: queues_drained(vhost, "drainprobe"))
        assert DONE == {"t1"}  # its effect is there once drained
