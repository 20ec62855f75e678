"""Time-rule sweep at scale: 100,000 open tickets followed by the automation service.

Against the Mongo wire server of a running stack (`deploy/local/stack infra-up --profile test`,
then `eval "$(deploy/local/stack env --profile test)"`), measures one sweep cycle of the
service's own code (`AutomationService.apply_time_rules`: one index range query per rule and a
compare-and-set claim per due ticket) with few vs 100,000 open tickets, for the same number of
due tickets per cycle, and the idle cycle (nothing due) every replica pays every second.

Of the open tickets, 40% are open (waiting for nothing: not in the index), 30% pending and 20%
solved recently (in the index, not due for days) and 10% new but assigned (not in the index).
The action on each due ticket is intake's RPC; it is replaced by an answer-ok stub here so the
numbers are the sweep's own cost (intake's change costs the same whatever the open count).

Usage: python -m bench.time_rules_bench [--open 100000] [--few 50] [--due 1 10 100] [--cycles 20]
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta, timezone

from bench._common import machine_notes, summary_ms, sweep_costs
from services.automation import time_rules as tr
from services.automation.repository import AutomationRepository, _stored
from services.automation.service import AutomationService
from services.common.clock import FixedClock
from services.common.storage import service_database

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=timezone.utc)
CLOSE_AFTER = tr.TimeRules().close_solved_after
BATCH = 5_000
MIX = (("open", 0.4), ("pending", 0.3), ("solved", 0.2), ("new", 0.1))


def state(number: int, status: str, at: datetime) -> dict:
    s = tr.status_changed(tr.blank(f"t-{number}", number), status, at)
    if status == "new":
        s = tr.assigned(s, "agent-1")
    return _stored(dict(s, version=1))


def fill(repo: AutomationRepository, open_count: int, dues: list[int], cycles: int) -> float:
    """For the i-th value of ``dues``, that many solved tickets come due at each second of
    its own block of ``cycles`` seconds; the rest follow MIX, none due within the run."""
    repo.ensure_indexes()
    started = time.perf_counter()
    docs, number = [], 0
    for block, due_per_cycle in enumerate(dues):
        for cycle in range(1, cycles + 1):
            for _ in range(due_per_cycle):
                number += 1
                docs.append(state(number, "solved", T0 - CLOSE_AFTER + timedelta(
                    seconds=block * cycles + cycle)))
    recent = T0 - timedelta(hours=1)  # pending and solved within the hour: days from due
    rest = open_count - number
    for status, share in MIX:
        for _ in range(int(rest * share)):
            number += 1
            docs.append(state(number, status, recent))
            if len(docs) >= BATCH:
                repo.db.ticket_states.insert_many(docs, ordered=False)
                docs = []
    if docs:
        repo.db.ticket_states.insert_many(docs, ordered=False)
    return number / (time.perf_counter() - started)


class AlwaysOk:
    """Stands in for intake's RPC proxy: every action is accepted."""

    def __getattr__(self, name):
        return lambda *args: {"ok": True}


def sweeper(repo: AutomationRepository, at: datetime) -> AutomationService:
    """The service's own sweep outside nameko, dependencies as plain attributes (as
    nameko.testing's worker_factory does)."""
    service = AutomationService()
    service.store, service.clock, service.intake = repo, FixedClock(at), AlwaysOk()
    return service


def fmt(values: list[float]) -> str:
    s = summary_ms(values)
    return f"median {s['p50']:.1f}, p95 {s['p95']:.1f}"


def main() -> None:
    from tests.support import stack_env

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--few", type=int, default=50)
    parser.add_argument("--due", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--cycles", type=int, default=20)
    args = parser.parse_args()
    print(machine_notes())
    uri = stack_env()["HELPDESK_MONGO_URI"]
    prefix = f"bench{int(time.time())}"
    rows = []
    try:
        for db_prefix, open_count in ((f"{prefix}few", args.few + sum(args.due) * args.cycles),
                                      (prefix, args.open)):
            repo = AutomationRepository(service_database(uri, db_prefix, "automation"))
            rate = fill(repo, open_count, args.due, args.cycles)
            costs = [sweep_costs(lambda at: sweeper(repo, at).apply_time_rules, T0, block,
                                 args.cycles) for block in range(len(args.due))]
            started = time.perf_counter()  # what the index spares: reading every ticket
            repo.db.ticket_states.find_one({"never": "matches"})
            scan = time.perf_counter() - started
            closed = repo.db.ticket_states.count_documents({"due_rule": {"$exists": False},
                                                            "status": "solved"})
            indexed = repo.db.ticket_states.count_documents({"due_rule": {"$exists": True}})
            for due, (busy, idle) in zip(args.due, costs):
                rows.append((open_count, due, busy, idle, scan))
            print(f"{open_count:>7} open ({indexed:,} waiting in the index): inserted at "
                  f"{rate:,.0f}/s; {closed} closed by the sweep", flush=True)
        print(f"\nSweep cycle cost, {args.cycles} cycles per row (ms):")
        print(f"{'open tickets':>12} | {'due/cycle':>9} | {'cycle with due tickets':<26} | "
              f"{'idle cycle (nothing due)':<26} | one unindexed scan")
        for open_count, due, busy, idle, scan in rows:
            print(f"{open_count:>12,} | {due:>9} | {fmt(busy):<26} | {fmt(idle):<26} | "
                  f"{scan * 1000:.1f}")
    finally:
        client = service_database(uri, prefix, "automation").client
        for name in client.list_database_names():
            if name.startswith(prefix):
                client.drop_database(name)


if __name__ == "__main__":
    main()
