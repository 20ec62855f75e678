"""Supervisor dashboard load time with 100,000 tickets in Mongo, against the real test servers:

  eval "$(deploy/local/stack env --profile test)" && .venv/bin/python -m bench.dashboard_bench

Synthetic tickets (90 days of history, four channels, three departments, two thirds solved with
a first response, some CSAT) are inserted in batches straight into intake's collection of an
isolated database (nothing else is touched; it is dropped afterwards), and the report rollups
are then built from them by the rebuild command's code path (``rebuild_rollups``), as after an
upgrade.  Then it times
1. intake's ``report`` RPC (aggregation over the rollups, plus the current-state counts over
   the open tickets), all departments and one department, and the current-state part alone;
2. the whole ``/supervisor`` page through the portal app in this process (report + SLA
   compliance + suggestion feedback + agents + departments by RPC, then the template);
3. the cost of keeping rollups: ``create_ticket`` RPC latency with the rollup write and with
   it switched off (patched out in this process), alternating blocks in one run.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench._common import insert_tickets, machine_notes, percentile  # noqa: E402
from services.common.clock import SystemClock  # noqa: E402
from services.common.storage import mongo_client, service_database  # noqa: E402
from services.intake import reports  # noqa: E402
from services.intake.rebuild_rollups import rebuild  # noqa: E402
from services.intake.repository import TicketRepository  # noqa: E402
from services.intake.service import IntakeService  # noqa: E402
from services.portal import domain  # noqa: E402
from services.portal.repository import UserRepository  # noqa: E402
from services.portal.rpc import RpcPool  # noqa: E402
from services.portal.service import create_app  # noqa: E402
from services.routing.service import RoutingService  # noqa: E402
from services.search.service import SearchService  # noqa: E402
from services.sla.service import SlaService  # noqa: E402
from tests.support import delete_vhost, isolated_config, running  # noqa: E402

CHANNELS = ("portal", "email", "api", "chat")
DEPARTMENTS = ("general", "billing", "technical")
AGENTS = [f"agent-{i}" for i in range(20)]
BATCH = 5_000


def synthetic_tickets(count: int, now: datetime, seed: int = 8):
    """Documents shaped like intake's (only the fields the report reads, plus the basics)."""
    rng = random.Random(seed)
    for n in range(count):
        created = now - timedelta(minutes=rng.randrange(90 * 24 * 60))
        solved = rng.random() < 0.66
        answered = solved or rng.random() < 0.5
        first = created + timedelta(minutes=rng.randrange(5, 600)) if answered else None
        doc = {"_id": f"bench-{n}", "number": 1_000_000 + n, "subject": f"Bench ticket {n}",
               "description": "synthetic", "department": rng.choice(DEPARTMENTS),
               "channel": rng.choice(CHANNELS), "priority": "normal", "language": "en",
               "tags": [], "requester_id": f"cust-{n % 5000}", "created_at": created,
               "updated_at": created, "assignee_id": rng.choice(AGENTS) if answered else None,
               "first_response_at": first, "status": "open" if not solved else "solved",
               "solved_at": first + timedelta(minutes=rng.randrange(10, 3000)) if solved else None,
               "reopened_at": None, "csat": None, "sla": None,
               "messages": [{"id": "m1", "author_role": "agent", "public": True,
                             "body": "answer", "created_at": first}] if answered else []}
        if solved and rng.random() < 0.3:
            doc["csat"] = {"score": rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 2, 6, 10))[0]}
        yield doc


def insert(config: dict, count: int) -> float:
    return insert_tickets(config, synthetic_tickets(count, datetime.now(timezone.utc)), BATCH)


def create_latency(rpc, blocks: int, block: int) -> dict[str, list[float]]:
    """``create_ticket`` round trips with and without the rollup write, alternating blocks so
    both arms see the same machine load."""
    keep = TicketRepository._roll_up
    samples: dict[str, list[float]] = {"with rollups": [], "without rollups": []}

    def create():
        assert rpc.intake.create_ticket({
            "ticket": {"subject": "Latency", "description": "d", "department": "billing"},
            "requester": {"id": "bench-cust", "role": "customer"}, "channel": "api",
            "idempotency_key": None})["ok"]
    try:
        for _ in range(blocks):
            for arm in samples:
                TicketRepository._roll_up = keep if arm == "with rollups" else (
                    lambda self, before, after, session: None)
                samples[arm] += timed(create, block)
    finally:
        TicketRepository._roll_up = keep
    return samples


def timed(call, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def supervisor_client(config: dict):
    """The portal app in this process, with a signed-in supervisor's session."""
    users = UserRepository(service_database(config["MONGO_URI"], config["MONGO_DB"], "portal"))
    users.ensure_indexes()
    # The portal's default RPC timeout (HELPDESK_RPC_TIMEOUT, 10 s) is shorter than the report
    # takes here at this size: measure the page with a longer one.
    app = create_app(RpcPool({"AMQP_URI": config["AMQP_URI"], "serializer": "json"},
                             timeout=300), users, SystemClock())
    boss = users.create(email="boss@example.com", name="Boss", role="supervisor",
                        password_hash=None)
    sid, digest = domain.new_token()
    users.save_token(digest, boss["_id"], datetime.now(timezone.utc), kind="session")
    client = app.test_client()
    with client.session_transaction() as session:
        session["sid"] = sid
    return client


def report_line(name: str, samples: list[float]) -> str:
    ms = [s * 1000 for s in samples]
    return (f"| {name} | median {statistics.median(ms):.0f} ms, p95 {percentile(ms, 95):.0f} ms, "
            f"min {min(ms):.0f} ms ({len(ms)} runs) |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--creates", type=int, default=200,
                        help="create_ticket calls per arm for the rollup cost")
    args = parser.parse_args()
    config = isolated_config()
    print(machine_notes())
    try:
        print(f"| insert {args.tickets} tickets in batches of {BATCH} | "
              f"{insert(config, args.tickets):.1f} s |")
        repo = TicketRepository(service_database(config["MONGO_URI"], config["MONGO_DB"],
                                                 "intake"))
        repo.ensure_indexes()
        start = time.perf_counter()
        counts = rebuild(repo, show_progress=False)
        print(f"| rebuild rollups from {counts['tickets']} tickets ({counts['daily']} daily, "
              f"{counts['agents']} per-agent documents) | {time.perf_counter() - start:.1f} s |")
        with running(config, IntakeService, RoutingService, SlaService, SearchService):
            with ClusterRpcProxy(config, timeout=300) as rpc:
                figures = rpc.intake.report({})["report"]
                print(f"(report over the last 30 days: {figures['created']} created, "
                      f"{figures['solved']} solved, backlog {figures['backlog']})")
                print(report_line("report RPC, all departments, last 30 days",
                                  timed(lambda: rpc.intake.report({}), args.repeats)))
                print(report_line("report RPC, one department",
                                  timed(lambda: rpc.intake.report({"department": "billing"}),
                                        args.repeats)))
                since = (datetime.now(timezone.utc) - timedelta(days=90)).isoformat()
                print(report_line("report RPC, all departments, 90 days",
                                  timed(lambda: rpc.intake.report({"since": since}),
                                        args.repeats)))
                print(report_line("current-state counters alone (backlog, unassigned, "
                                  "overdue)", timed(lambda: list(repo.db.report_current.aggregate(
                                      reports.current_pipeline(None))), args.repeats)))
            client = supervisor_client(config)

            def page():
                reply = client.get("/supervisor?days=30")
                assert reply.status_code == 200, reply.status_code
            print(report_line("/supervisor page (30 days, all departments)",
                              timed(page, args.repeats)))
        # Intake alone, so routing, SLA and search reacting to the new tickets do not compete.
        with running(config, IntakeService), ClusterRpcProxy(config, timeout=60) as rpc:
            for arm, samples in create_latency(rpc, blocks=10,
                                               block=max(1, args.creates // 10)).items():
                print(report_line(f"create_ticket RPC {arm}", samples))
    finally:
        client_ = mongo_client(config["MONGO_URI"])
        for name in client_.list_database_names():
            if name.startswith(config["MONGO_DB"] + "_"):
                client_.drop_database(name)
        delete_vhost(config["_vhost"])


if __name__ == "__main__":
    main()
