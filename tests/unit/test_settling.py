"""New tickets a process has in hand are left alone by its own sweep until they are settled,
or until their settling fails (then the sweep must take them over).  Their events go out
together, one message per type."""
import eventlet

from services.common import events as ev

from services.intake.dependencies import Settling
from services.intake.repository import UNSETTLED


class FakeStore:
    def __init__(self, failing=False):
        self.failing, self.settled = failing, []

    def settle(self, tickets):
        if self.failing:
            raise RuntimeError("database gone")
        self.settled.extend(t["_id"] for t in tickets)


def settling():
    provider = Settling()
    provider.setup()
    return provider


def test_a_ticket_is_in_hand_from_its_write_until_it_is_settled():
    provider, store = settling(), FakeStore()
    for ticket_id in ("t1", "t2"):
        provider.taking(ticket_id)
    assert provider.in_hand == {"t1", "t2"}  # written: the sweep skips them
    provider.add(store, {"_id": "t1"})
    provider.add(store, {"_id": "t2"})
    eventlet.sleep(Settling.linger + 0.05)
    assert store.settled == ["t1", "t2"] and provider.in_hand == set()


def test_a_failed_settling_or_publish_leaves_the_ticket_to_the_sweep():
    provider, store = settling(), FakeStore(failing=True)
    provider.taking("t1")
    provider.add(store, {"_id": "t1"})
    eventlet.sleep(Settling.linger + 0.05)
    assert store.settled == [] and provider.in_hand == set()
    provider.taking("t2")
    provider.release(["t2"])  # its publish failed
    assert provider.in_hand == set()


def _stored(ticket_id: str) -> dict:
    """A new ticket as stored: its events waiting on it (repository.UNSETTLED)."""
    return {"_id": ticket_id, UNSETTLED: {"events": [
        {"event_type": ev.TICKET_CREATED, "payload": {"ticket": ticket_id},
         "correlation_id": f"c-{ticket_id}"}]}}


def test_the_events_of_tickets_written_together_go_out_in_one_message_then_settle():
    provider, store, sent = settling(), FakeStore(), []
    dispatch = lambda event_type, body: sent.append((event_type, body))  # noqa: E731
    for ticket_id in ("t1", "t2", "t3"):
        provider.taking(ticket_id)
        provider.publish(store, dispatch, _stored(ticket_id))
    assert sent == []  # gathering for company
    eventlet.sleep(Settling.publish_linger + Settling.linger + 0.1)
    [(event_type, body)] = sent
    assert event_type == ev.TICKET_CREATED
    assert ev.unbundled(body, None) == [({"ticket": t}, f"c-{t}") for t in ("t1", "t2", "t3")]
    assert store.settled == ["t1", "t2", "t3"] and provider.in_hand == set()


def test_a_failed_publish_leaves_its_tickets_to_the_sweep_unsettled():
    provider, store = settling(), FakeStore()

    def broker_gone(event_type, body):
        raise ConnectionError("broker gone")

    provider.taking("t1")
    provider.publish(store, broker_gone, _stored("t1"))
    eventlet.sleep(Settling.publish_linger + Settling.linger + 0.1)
    assert store.settled == [] and provider.in_hand == set()
