"""Agent console queue page with 10,000 open tickets, over HTTP, against the real test servers:

  eval "$(deploy/local/stack env --profile test)" && .venv/bin/python -m bench.queue_bench

Synthetic open tickets (three departments, SLA deadlines spread over -2 h..+8 h, a third
assigned, a few tags) are inserted straight into intake's collection of an isolated database
(dropped afterwards).  Intake and routing run in this process; the portal app is served by
eventlet's WSGI server on a free local port, as ``services.portal.server`` does, and an agent's
signed-in session asks for queue pages over HTTP (requests, one at a time):
the default view (soonest deadline first), sorted by number, filtered (priority + SLA state),
the search box, and page 20.  Also times the ``intake.queue`` RPC alone.
"""
import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import random  # noqa: E402
from datetime import datetime, timedelta, timezone  # noqa: E402

import eventlet.wsgi  # noqa: E402
import requests  # noqa: E402
from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from bench._common import insert_tickets, machine_notes, summary_ms  # noqa: E402
from bench.dashboard_bench import timed  # noqa: E402
from services.common.clock import SystemClock  # noqa: E402
from services.common.storage import mongo_client, service_database  # noqa: E402
from services.intake.repository import TicketRepository  # noqa: E402
from services.intake.service import IntakeService  # noqa: E402
from services.portal import domain  # noqa: E402
from services.portal.repository import UserRepository  # noqa: E402
from services.portal.rpc import RpcPool  # noqa: E402
from services.portal.server import listen  # noqa: E402
from services.portal.service import create_app  # noqa: E402
from services.routing.service import RoutingService  # noqa: E402
from tests.support import delete_vhost, isolated_config, running  # noqa: E402

DEPARTMENTS = ("general", "billing", "technical")
PRIORITIES = ("low", "normal", "normal", "high", "urgent")
STATUSES = ("new", "open", "open", "on_hold", "pending")
AGENT_ID = "bench-queue-agent"
BATCH = 2_000


def open_tickets(count: int, now: datetime, seed: int = 14):
    rng = random.Random(seed)
    for n in range(count):
        created = now - timedelta(minutes=rng.randrange(30 * 24 * 60))
        answered = rng.random() < 0.4
        due = now + timedelta(minutes=rng.randrange(-120, 480))
        yield {
            "_id": f"queue-bench-{n}", "number": 2_000_000 + n,
            "subject": f"Bench ticket {n} about {rng.choice(['printer', 'vpn', 'invoice', 'mail'])}",
            "description": "synthetic open ticket", "department": rng.choice(DEPARTMENTS),
            "category": None, "channel": "api", "priority": rng.choice(PRIORITIES),
            "language": "en", "tags": rng.sample(["vpn", "mac", "urgent-fix", "billing"], 1),
            "requester_id": f"cust-{n % 3000}", "requester_name": f"Customer {n % 3000}",
            "requester_email": f"cust{n % 3000}@example.com", "status": rng.choice(STATUSES),
            "assignee_id": AGENT_ID if rng.random() < 0.33 else None, "assignee_name": None,
            "created_at": created, "updated_at": created, "reopened_at": None,
            "first_response_at": created if answered else None, "solved_at": None,
            "closed_at": None, "csat": None, "messages": [], "attachments": [],
            "sla": {"policy_id": "p", "breached": [],
                    "first_response_due": None if answered else due,
                    "resolution_due": due + timedelta(hours=4)}}


def insert(config: dict, count: int) -> float:
    return insert_tickets(config, open_tickets(count, datetime.now(timezone.utc)), BATCH)


def serve(config: dict) -> tuple[str, requests.Session]:
    """The portal on a free port (eventlet WSGI, like services.portal.server) and a session
    signed in as an agent of every department."""
    users = UserRepository(service_database(config["MONGO_URI"], config["MONGO_DB"], "portal"))
    users.ensure_indexes()
    app = create_app(RpcPool({"AMQP_URI": config["AMQP_URI"], "serializer": "json"},
                             timeout=60), users, SystemClock())
    users.create(email="queue-agent@example.com", name="Queue Agent", role="agent",
                 password_hash=None, user_id=AGENT_ID)
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    eventlet.spawn(eventlet.wsgi.server, sock, app, log_output=False)
    sid, digest = domain.new_token()
    users.save_token(digest, AGENT_ID, datetime.now(timezone.utc), kind="session")
    client = requests.Session()
    # The session cookie as Flask would sign it.
    serializer = app.session_interface.get_signing_serializer(app)
    client.cookies.set("session", serializer.dumps({"sid": sid}), domain="127.0.0.1")
    return f"http://127.0.0.1:{port}", client


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    config = isolated_config()
    print(machine_notes())
    try:
        print(f"| insert {args.tickets} open tickets | {insert(config, args.tickets):.1f} s |")
        TicketRepository(service_database(config["MONGO_URI"], config["MONGO_DB"],
                                          "intake")).ensure_indexes()
        with running(config, IntakeService, RoutingService):
            with ClusterRpcProxy(config, timeout=60) as rpc:
                for department in DEPARTMENTS:
                    assert rpc.routing.upsert_department({"id": department,
                                                          "name": department})["ok"]
                assert rpc.routing.upsert_agent({
                    "id": AGENT_ID, "name": "Queue Agent", "email": "queue-agent@example.com",
                    "departments": list(DEPARTMENTS), "capacity": 1000,
                    "status": "away"}).get("ok")
                actor = {"id": AGENT_ID, "role": "agent", "name": "Queue Agent"}
                query = {"departments": list(DEPARTMENTS), "per_page": 50}
                first = rpc.intake.queue(query, actor)
                assert len(first["tickets"]) == 50 and first["has_more"], first.get("errors")
                last = rpc.intake.queue(dict(query, page=args.tickets // 50), actor)
                print(f"(the agent's 'All open' view, last page: total {last['total']})")
                rpc_times = timed(lambda: rpc.intake.queue(query, actor), args.repeats)
                print(row("intake.queue RPC alone, 50 rows, soonest deadline first", rpc_times))
            base, client = serve(config)
            cases = {
                "/agent/queue/all (soonest deadline first)": {},
                "/agent/queue/all?sort=-number": {"sort": "-number"},
                "/agent/queue/all?priority=high&sla=breached": {"priority": "high",
                                                                "sla": "breached"},
                "/agent/queue/all?q=printer": {"q": "printer"},
                "/agent/queue/all?page=20": {"page": "20"},
                "/agent/queue/mine": None,
            }
            for name, params in cases.items():
                path = "/agent/queue/mine" if params is None else "/agent/queue/all"

                def page(path=path, params=params):
                    reply = client.get(base + path, params=params or {}, timeout=60)
                    assert reply.status_code == 200, reply.status_code
                    assert reply.text.count('class="ticket-row"') == 50, "expected 50 rows"
                page()  # warm up
                print(row(f"GET {name}, 50 rows", timed(page, args.repeats)))
    finally:
        client_ = mongo_client(config["MONGO_URI"])
        for name in client_.list_database_names():
            if name.startswith(config["MONGO_DB"] + "_"):
                client_.drop_database(name)
        delete_vhost(config["_vhost"])


def row(name: str, samples: list[float]) -> str:
    s = summary_ms(samples)
    return (f"| {name} | p50 {s['p50']:.0f} ms | p95 {s['p95']:.0f} ms | p99 {s['p99']:.0f} ms "
            f"| {s['n']} runs |")


if __name__ == "__main__":
    main()
