"""Placements running side by side in one routing process tell each other which agents they
are taking, so they pick different agents instead of colliding on one agent's load."""
from types import SimpleNamespace

from services.routing.dependencies import SlotsBeingTaken


def worker(call_id):
    return SimpleNamespace(call_id=call_id)


def test_an_agent_being_taken_is_seen_by_the_other_workers_until_its_worker_ends():
    slots = SlotsBeingTaken()
    slots.setup()
    first, second = worker("w1"), worker("w2")
    mine, theirs = slots.get_dependency(first), slots.get_dependency(second)
    mine.hold("anna")
    assert theirs.by_others() == {"anna"}
    assert mine.by_others() == set()  # its own retry may take the same agent again
    theirs.hold("boris")
    assert mine.by_others() == {"boris"}
    slots.worker_teardown(first)
    assert theirs.by_others() == set()
    slots.worker_teardown(second)
    assert slots.held == {}
