"""New tickets a process has in hand are left alone by its own sweep until they are settled,
or until their settling fails (then the sweep must take them over)."""
import eventlet

from services.intake.dependencies import Settling


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
