"""The event path's ticket sync: one run per process at a time, and every request served."""
import eventlet

from services.search.index import SingleFlight


def test_callers_arriving_during_a_run_are_served_by_one_more_round():
    flight, rounds, answered = SingleFlight(), [], []

    def work():
        rounds.append(len(rounds))
        eventlet.sleep(0.01)  # a bulk to Elasticsearch: other handlers get to run meanwhile

    def handler(n):
        answered.append((n, flight.run(work)))

    pool = eventlet.GreenPool()
    for n in range(10):
        pool.spawn(handler, n)
    pool.waitall()

    # The first ran it; the nine that came while it ran share exactly one more round.
    assert rounds == [0, 1]
    assert sorted(ran for _, ran in answered) == [False] * 9 + [True]
    assert flight.running is False


def test_a_lone_caller_runs_once_and_the_next_caller_runs_again():
    flight, rounds = SingleFlight(), []
    assert flight.run(lambda: rounds.append(1)) is True
    assert flight.run(lambda: rounds.append(2)) is True
    assert rounds == [1, 2]


def test_rounds_are_bounded_and_a_failure_frees_the_flight():
    flight, rounds = SingleFlight(rounds=3), []

    def always_wanted_again():
        rounds.append(1)
        flight.wanted = True  # as if a handler noted more work during every round

    assert flight.run(always_wanted_again) is True
    assert len(rounds) == 3  # the rest is the sweep's

    def broken():
        raise RuntimeError("Elasticsearch away")

    try:
        flight.run(broken)
    except RuntimeError:
        pass
    assert flight.running is False
    assert flight.run(lambda: rounds.append(2)) is True
