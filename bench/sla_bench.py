"""SLA deadline sweep at scale: 100,000 open tickets with clocks in the Mongo wire server.

Measures, against the real servers of a running stack (`deploy/local/stack infra-up
--profile test`, then `eval "$(deploy/local/stack env --profile test)"`):

1. the cost of one sweep cycle (index query + alert bookkeeping + outbox) with a few open
   tickets vs 100,000 open tickets, for the same number of due clocks -- side by side;
2. how soon after its deadline a breach is announced, with the real SLA service (1 s timer,
   system clock) running over the 100,000 open clocks.

Usage: python -m bench.sla_bench [--open 100000] [--due 1 10 100] [--cycles 20] [--late 20]
(several --due values: one row per value and open-clock count, all from one fill)
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # nameko runs in this process for the latency part: patch first

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from bench._common import sweep_costs  # noqa: E402
from services.common.clock import FixedClock  # noqa: E402
from services.common.events import SLA_BREACHED  # noqa: E402
from services.common.storage import service_database  # noqa: E402
from services.sla import domain  # noqa: E402
from services.sla.calendar import ROUND_THE_CLOCK  # noqa: E402
from services.sla.repository import SlaRepository  # noqa: E402
from services.sla.service import SlaService  # noqa: E402

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=timezone.utc)
POLICY = domain.default_policy("normal")  # 4 h first response, round the clock
BUDGET = timedelta(minutes=POLICY["targets"]["first_response"])
BATCH = 5_000


def clock_doc(ticket_id: str, number: int, created_at: datetime) -> dict:
    return domain.new_clock({"ticket_id": ticket_id, "number": number, "department": "billing",
                             "priority": "normal", "created_at": created_at},
                            POLICY, ROUND_THE_CLOCK)


def fill(repo: SlaRepository, open_count: int, dues: list[int], cycles: int) -> float:
    """``open_count`` open clocks: for the i-th value of ``dues``, that many become due at
    each second of its own block of ``cycles`` seconds (T0 + i*cycles + 1 ... ); all the
    others are due in a year.  Returns the insert rate (clocks/s)."""
    repo.ensure_indexes()
    started = time.perf_counter()
    docs, number = [], 0
    for block, due_per_cycle in enumerate(dues):
        for cycle in range(1, cycles + 1):
            second = block * cycles + cycle
            for _ in range(due_per_cycle):
                number += 1
                docs.append(clock_doc(f"due-{number}", number,
                                      T0 + timedelta(seconds=second) - BUDGET))
    far = T0 + timedelta(days=365)
    while number < open_count:
        number += 1
        docs.append(clock_doc(f"open-{number}", number, far))
        if len(docs) >= BATCH:
            repo.db.clocks.insert_many(docs, ordered=False)
            docs = []
    if docs:
        repo.db.clocks.insert_many(docs, ordered=False)
    return open_count / (time.perf_counter() - started)


def sweeper(repo: SlaRepository, at: datetime) -> SlaService:
    """The service's own sweep code, outside nameko: dependencies set as plain attributes
    (as nameko.testing's worker_factory does); publishing is a no-op here."""
    service = SlaService()
    service.store, service.clock = repo, FixedClock(at)
    service.dispatch = lambda *_: None
    return service


def breach_latency(config: dict, repo: SlaRepository, late: int) -> list[float]:
    """Real service, real time: ``late`` clocks due 2..(late+1)/2 s from now among the open
    ones; seconds from each deadline to its sla_breached event arriving on the broker."""
    from tests.support import EventTap, eventually, running

    now = datetime.now(timezone.utc)
    due_at = {f"late-{i}": now + timedelta(seconds=2 + i / 2) for i in range(late)}
    repo.db.clocks.insert_many([clock_doc(t, 900_000 + i, at - BUDGET)
                                for i, (t, at) in enumerate(due_at.items())])
    tap = EventTap(config, SLA_BREACHED)
    seen: dict[str, float] = {}
    try:
        with running(config, SlaService):
            def all_seen():
                for event in tap.drain():
                    seen.setdefault(event["data"]["ticket_id"], time.time())
                return len(seen) >= late
            eventually(all_seen, timeout=late / 2 + 30, interval=0.02)
    finally:
        tap.close()
    return sorted(seen[t] - due_at[t].timestamp() for t in due_at)


def summary(values: list[float], scale: float = 1000.0) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"median {statistics.median(ordered) * scale:.1f}, p95 {p95 * scale:.1f}, "
            f"max {ordered[-1] * scale:.1f}")


def main() -> None:
    from tests.support import delete_vhost, isolated_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--few", type=int, default=50)
    parser.add_argument("--due", type=int, nargs="+", default=[10],
                        help="clocks due per cycle; several values give a row each")
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--late", type=int, default=20, help="breaches timed end to end")
    args = parser.parse_args()

    config = isolated_config()
    prefix = config["MONGO_DB"]
    try:
        rows = []
        # The 100k database is the one the real service reads later (<prefix>_sla).
        for db_prefix, open_count in ((f"{prefix}few", args.few), (prefix, args.open)):
            db = service_database(config["MONGO_URI"], db_prefix, "sla")
            repo = SlaRepository(db)
            rate = fill(repo, open_count, args.due, args.cycles)
            costs = [sweep_costs(lambda at: sweeper(repo, at).detect_alerts, T0, block,
                                 args.cycles) for block in range(len(args.due))]
            started = time.perf_counter()  # what the index spares us: reading every clock
            db.clocks.find_one({"never": "matches"})
            scan = time.perf_counter() - started
            announced = db.clocks.count_documents(
                {"targets.first_response.breached": True})
            for due, (busy, idle) in zip(args.due, costs):
                rows.append((open_count, due, busy, idle, scan))
            print(f"{open_count:>7} open: inserted at {rate:,.0f} clocks/s; "
                  f"{announced} breaches announced", flush=True)
        print(f"\nSweep cycle cost, {args.cycles} cycles per row (ms):")
        print(f"{'open clocks':>12} | {'due/cycle':>9} | {'cycle with due clocks':<36} | "
              f"{'idle cycle (nothing due)':<32} | one unindexed scan")
        for open_count, due, busy, idle, scan in rows:
            print(f"{open_count:>12,} | {due:>9} | {summary(busy):<36} | {summary(idle):<32} | "
                  f"{scan * 1000:.1f}")

        # Those clocks are in 2030-31: under the system clock none is due, all stay open.
        db = service_database(config["MONGO_URI"], prefix, "sla")
        latency = breach_latency(config, SlaRepository(db), args.late)
        print(f"\nDeadline -> sla_breached on the broker, {args.late} breaches among "
              f"{db.clocks.count_documents({}):,} open clocks, 1 s timer (ms): "
              f"{summary(latency)}")
    finally:
        client = service_database(config["MONGO_URI"], prefix, "sla").client
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)
        delete_vhost(config["_vhost"])


if __name__ == "__main__":
    main()
