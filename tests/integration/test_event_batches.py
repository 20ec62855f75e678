"""A burst of events reaches a batch handler on the real broker in batches; every message is
acknowledged once its event is done, and one that keeps failing holds back only itself."""
import time
from collections import Counter
from datetime import datetime, timezone

import eventlet
from nameko.standalone.events import event_dispatcher

from services.common import events as ev
from services.common.nameko_support import on_events
from tests.support import consumer_prefetch, eventually, queues_drained, running

NOW = datetime(2026, 12, 5, 9, 0, tzinfo=timezone.utc)
FLAKY = "flaky-1"
BATCHES: list[list[str]] = []
TRIES: Counter = Counter()
DONE: set[str] = set()


class Recorder:
    name = "batchprobe"

    @on_events(ev.SLA_DEADLINES_SET)
    def record(self, events):
        ids = [e.data["ticket_id"] for e in events]
        BATCHES.append(ids)
        TRIES.update(ids)
        if FLAKY in ids and TRIES[FLAKY] <= 2:  # fails in its batch and alone; then works
            raise RuntimeError("a write failed")
        DONE.update(ids)


def _dispatcher(config):
    dispatch = event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})
    return lambda ticket_id: dispatch("sla", ev.SLA_DEADLINES_SET, ev.new_event(
        ev.SLA_DEADLINES_SET, {"ticket_id": ticket_id, "number": 1, "policy_id": "p",
                               "version": 1, "first_response_due": NOW,
                               "resolution_due": NOW}, NOW))


def _waiting_in_queue(config, service, ids: list[str]) -> None:
    """One deadlines event per id published while ``service`` is stopped: its queue exists
    (it ran once), so they wait there together, as in a burst."""
    with running(config, service):
        pass
    dispatch = _dispatcher(config)
    for ticket_id in ids:
        dispatch(ticket_id)


def test_a_burst_is_taken_in_batches_and_a_failure_comes_back_alone(config):
    ids = [f"t{i}" for i in range(40)] + [FLAKY]
    _waiting_in_queue(config, Recorder, ids)
    with running(config, Recorder):
        eventually(lambda: DONE >= set(ids), timeout=20)
        eventually(lambda: queues_drained(config["_vhost"], "batchprobe"), timeout=15)
    assert max(len(batch) for batch in BATCHES) > 1, BATCHES  # gathered, not one by one
    # Redelivered and done alone, after a failed try in its batch (or alone, if it came so).
    assert BATCHES[-1] == [FLAKY] or [FLAKY] in BATCHES[BATCHES.index([FLAKY]) + 1:]
    assert TRIES[FLAKY] == 3
    # The others were done in their batch (and again alone only when the flaky one's batch
    # was tried event by event): nothing else was redelivered.
    assert all(TRIES[i] <= 2 for i in ids if i != FLAKY)


TRICKLE: list[list[str]] = []


class Lingering:
    name = "lingerprobe"

    @on_events(ev.SLA_DEADLINES_SET, linger=0.3)
    def record(self, events):
        TRICKLE.append([e.data["ticket_id"] for e in events])


def test_with_a_linger_a_steady_trickle_is_taken_in_batches_too(config):
    """Events published one at a time into a running service, 50 ms apart: the first of a
    batch waits 0.3 s for the ones after it."""
    dispatch = _dispatcher(config)
    ids = [f"trickle-{i}" for i in range(8)]
    with running(config, Lingering):
        for ticket_id in ids:
            dispatch(ticket_id)
            eventlet.sleep(0.05)
        eventually(lambda: sorted(sum(TRICKLE, [])) == sorted(ids), timeout=15)
        eventually(lambda: queues_drained(config["_vhost"], "lingerprobe"), timeout=15)
    assert len(TRICKLE) < len(ids) and max(len(batch) for batch in TRICKLE) > 1, TRICKLE


BURST: list[tuple[float, int]] = []


class LingeringLong:
    name = "fullprobe"

    @on_events(ev.SLA_DEADLINES_SET, linger=30)
    def record(self, events):
        BURST.append((time.monotonic(), len(events)))


def test_a_lingering_batch_that_reaches_the_prefetch_goes_at_once(config):
    """A backlog is not slowed by the linger: a full batch (the prefetch, max_workers) does
    not wait out its 30 s."""
    ids = [f"full-{i}" for i in range(3 * int(config["max_workers"]))]
    _waiting_in_queue(config, LingeringLong, ids)
    started = time.monotonic()
    with running(config, LingeringLong):
        eventually(lambda: sum(n for _, n in BURST) == len(ids), timeout=15)
    assert [n for _, n in BURST] == [int(config["max_workers"])] * 3
    assert BURST[-1][0] - started < 15  # none waited out the linger


WIDE: list[int] = []
WIDE_BATCH = 20


class LingeringWide:
    name = "wideprobe"

    @on_events(ev.SLA_DEADLINES_SET, linger=30, batch_size=WIDE_BATCH)
    def record(self, events):
        WIDE.append(len(events))

    @on_events(ev.TICKET_ASSIGNED)  # on the same channel, with the default batch size
    def other(self, events):
        pass


def _both_listed(config) -> dict[str, int] | None:
    """The consumers' prefetch once the management API lists both of wideprobe's (a few
    seconds late: its statistics interval)."""
    found = consumer_prefetch(config["_vhost"])
    return found if sum("wideprobe" in queue for queue in found) == 2 else None


def test_a_batch_size_of_its_own_is_its_prefetch_beyond_max_workers(config):
    """A background handler's batches are not capped at max_workers: its consumer is given
    its own batch size as prefetch (the others keep theirs), and a full batch goes at once."""
    assert int(config["max_workers"]) < WIDE_BATCH
    ids = [f"wide-{i}" for i in range(2 * WIDE_BATCH)]
    _waiting_in_queue(config, LingeringWide, ids)
    with running(config, LingeringWide):
        eventually(lambda: sum(WIDE) == len(ids), timeout=15)
        prefetch = eventually(lambda: _both_listed(config), timeout=20)
    assert WIDE == [WIDE_BATCH, WIDE_BATCH]
    assert prefetch["evt-sla-sla_deadlines_set--wideprobe.record"] == WIDE_BATCH
    assert prefetch["evt-routing-ticket_assigned--wideprobe.other"] == int(config["max_workers"])
