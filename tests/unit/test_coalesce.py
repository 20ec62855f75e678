"""Work handed in together is done in batches: one at a time, what arrives meanwhile in the
next, and a failed batch holds back nothing after it."""
import eventlet

from services.common.coalesce import Coalescer


def test_items_handed_in_while_a_batch_runs_wait_for_the_next_which_takes_them_all():
    batches = []

    def flush(items):
        batches.append(list(items))
        eventlet.sleep(0.05)  # a write in flight

    coalescer = Coalescer(flush, "test")
    coalescer.add(1)
    eventlet.sleep(0.01)  # the first batch is running
    for item in (2, 3, 4):
        coalescer.add(item)
    eventlet.sleep(0.2)
    assert batches == [[1], [2, 3, 4]]
    coalescer.add(5)  # alone later: its own batch, at once
    eventlet.sleep(0.01)
    assert batches[-1] == [5]


def test_a_failed_batch_is_logged_and_the_next_still_runs(caplog):
    done = []

    def flush(items):
        if "bad" in items:
            raise RuntimeError("database gone")
        done.extend(items)

    coalescer = Coalescer(flush, "settling new tickets")
    coalescer.add("bad")
    eventlet.sleep(0.01)
    assert "settling new tickets for 1 failed; left to the sweep" in caplog.text
    coalescer.add("good")
    eventlet.sleep(0.01)
    assert done == ["good"]


def test_with_a_linger_a_batch_waits_for_company_before_it_is_written():
    batches = []
    coalescer = Coalescer(batches.append, "test", linger=0.05)
    coalescer.add(1)
    eventlet.sleep(0.01)
    assert batches == []  # still gathering
    coalescer.add(2)
    eventlet.sleep(0.1)
    assert batches == [[1, 2]]


def test_a_batch_takes_at_most_so_many_and_the_rest_go_in_the_next():
    batches = []

    def flush(items):
        batches.append(list(items))
        eventlet.sleep(0.01)

    coalescer = Coalescer(flush, "test", most=2)
    for item in range(5):
        coalescer.add(item)
    eventlet.sleep(0.1)
    assert batches == [[0, 1], [2, 3], [4]]
