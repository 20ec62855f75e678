"""The portal's RPC clients: requests waiting for one are served in the order they asked, at
most ``size`` clients exist, and one whose call timed out is thrown away."""
import eventlet
import pytest
from nameko.exceptions import RpcTimeout

from services.portal.rpc import RpcPool


class FakeProxy:
    """A started RpcClient's stand-in: ``call`` waits on ``gate`` and answers, or raises what
    ``fail_with`` holds."""

    def __init__(self, gate: eventlet.Event):
        self.gate, self.fail_with, self.stopped, self.context = gate, None, False, {}

    def call(self, service: str, method: str, caller: int):
        self.gate.wait()
        if self.fail_with is not None:
            raise self.fail_with
        return caller

    def stop(self):
        self.stopped = True


def _pool(size: int, gate: eventlet.Event, made: list) -> RpcPool:
    pool = RpcPool({"AMQP_URI": "memory://"}, size=size)

    def new():
        proxy = FakeProxy(gate)
        made.append(proxy)
        return proxy

    pool._new = new
    pool._make_sure_listening = lambda service: None  # the real broker's part: integration
    return pool


def test_callers_waiting_for_a_client_get_one_in_the_order_they_asked():
    gate, made, served = eventlet.Event(), [], []
    pool = _pool(2, gate, made)
    callers = []
    for caller in range(24):
        callers.append(eventlet.spawn(
            lambda c=caller: served.append(pool.call("intake", "create_ticket", c))))
        eventlet.sleep(0)  # each asks before the next
    gate.send()
    for caller in callers:
        caller.wait()
    # The first two held a client each while the others queued (the gate frees those two
    # in no particular order); the others were served as they asked.
    assert sorted(served[:2]) == [0, 1] and served[2:] == list(range(2, 24))
    assert len(made) == 2


def test_a_client_whose_call_timed_out_is_stopped_and_replaced():
    gate, made = eventlet.Event(), []
    gate.send()
    pool = _pool(1, gate, made)
    assert pool.call("intake", "create_ticket", 1) == 1
    made[0].fail_with = RpcTimeout("late")
    with pytest.raises(RpcTimeout):
        pool.call("intake", "create_ticket", 2)
    assert made[0].stopped
    assert pool.call("intake", "create_ticket", 3) == 3 and len(made) == 2
