"""Events about one ticket take turns within a process; other tickets' events do not wait."""
import eventlet
import pytest

from services.common.keyed_lock import KeyedLock


def _run(lock, jobs):
    """Each job ``(name, key)`` holds ``key`` across a yield; returns the enter/leave order."""
    order = []

    def job(name, key):
        with lock.holding(key):
            order.append(("in", name))
            eventlet.sleep(0.01)  # a transaction's round trips: others get to run meanwhile
            order.append(("out", name))

    pool = eventlet.GreenPool()
    for name, key in jobs:
        pool.spawn(job, name, key)
    pool.waitall()
    return order


def test_the_same_key_is_held_by_one_at_a_time():
    lock = KeyedLock()
    order = _run(lock, [("a", "t1"), ("b", "t1"), ("c", "t1")])
    assert order == [("in", "a"), ("out", "a"), ("in", "b"), ("out", "b"),
                     ("in", "c"), ("out", "c")]
    assert len(lock) == 0  # nothing kept once nobody holds or waits


def test_different_keys_do_not_wait_for_each_other():
    lock = KeyedLock()
    order = _run(lock, [("a", "t1"), ("b", "t2")])
    assert order[:2] == [("in", "a"), ("in", "b")]
    assert len(lock) == 0


def test_an_error_inside_releases_the_key():
    lock = KeyedLock()
    with pytest.raises(RuntimeError):
        with lock.holding("t1"):
            raise RuntimeError("transaction failed")
    assert len(lock) == 0
    with eventlet.Timeout(1):
        with lock.holding("t1"):
            pass
