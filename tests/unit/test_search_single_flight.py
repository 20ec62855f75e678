"""The index syncs (event path and sweep): one run per process at a time, and every request
served."""
import time

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
        flight.run(always_wanted_again)  # as if a handler noted more work during every round

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


def test_the_sweep_waits_for_the_running_sync_and_is_not_replaced_by_narrower_work():
    """Two syncs at once would read the same pending copies and index each twice: the sweep
    noted during an event's sync runs after it, and event syncs noted after the sweep are
    served by the sweep's round (it covers them)."""
    flight, ran = SingleFlight(), []

    def event_sync():
        ran.append("tickets")
        eventlet.sleep(0.01)

    def sweep():
        ran.append("sweep")
        eventlet.sleep(0.01)

    pool = eventlet.GreenPool()
    pool.spawn(flight.run, event_sync)
    eventlet.sleep(0)  # the event's sync is running
    assert flight.run(sweep, covers_all=True) is False
    assert flight.run(event_sync) is False  # covered by the sweep noted before it
    pool.waitall()
    assert ran == ["tickets", "sweep"]

    pool.spawn(flight.run, sweep, True)
    eventlet.sleep(0)
    assert flight.run(event_sync) is False  # came in during the sweep: one more round
    pool.waitall()
    assert ran == ["tickets", "sweep", "sweep", "tickets"]


def test_with_a_linger_callers_arriving_before_the_round_starts_are_served_by_it():
    flight, rounds, answered = SingleFlight(linger=0.02), [], []

    def work():
        rounds.append(len(rounds))

    def handler(n):
        answered.append(flight.run(work))

    pool = eventlet.GreenPool()
    pool.spawn(handler, 0)
    eventlet.sleep(0.005)  # the first caller is lingering: the others come meanwhile
    for n in range(1, 10):
        pool.spawn(handler, n)
    pool.waitall()

    assert rounds == [0]  # one round read every copy saved before it started
    assert sorted(answered) == [False] * 9 + [True]


def test_a_caller_in_a_hurry_cuts_short_the_lingering_round_which_serves_it():
    """A round lingers ``linger`` for company; a caller asking for its work ``within`` less
    makes the round lingering now start sooner, and that round serves it."""
    flight, started = SingleFlight(linger=0.5), []

    def work():
        started.append(time.monotonic())

    began = time.monotonic()
    pool = eventlet.GreenPool()
    pool.spawn(flight.run, work)            # a background copy: lingers up to 0.5 s
    eventlet.sleep(0.05)
    assert flight.run(work, within=0.05) is False   # an assignment: noted, and hurried
    pool.waitall()
    assert started[0] - began < 0.25, started[0] - began
    assert len(started) == 1  # noted while the round lingered: that round read its work


def test_a_hurried_note_during_the_work_shortens_the_next_rounds_linger():
    flight, started = SingleFlight(linger=0.5), []

    def work():
        started.append(time.monotonic())
        if len(started) == 1:
            flight.run(work, within=0.05)  # an assignment noted while the bulk is under way

    assert flight.run(work, within=0.0) is True
    assert len(started) == 2 and started[1] - started[0] < 0.25


def test_a_round_lingers_its_full_time_when_nobody_is_in_a_hurry():
    flight, started = SingleFlight(linger=0.2), []
    began = time.monotonic()
    assert flight.run(lambda: started.append(time.monotonic())) is True
    assert started[0] - began >= 0.2
