"""Routing benchmarks.

1. Decisions per second of the pure domain: 50 rules evaluated and 200 agents ranked per
   ticket (no I/O).
2. Queue-to-assigned latency over the real broker and Mongo wire server: a ticket waits in a
   full department; a ``status_changed`` (solved) event frees the slot; we time from publishing
   that event until ``ticket_assigned`` for the waiting ticket is observed on the broker.
   Also new-ticket-to-assigned latency with free capacity.

Run against the test servers:
    deploy/local/stack infra-up --profile test
    eval "$(deploy/local/stack env --profile test)"
    .venv/bin/python -m bench.routing_bench [--rounds 30]
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()

import argparse  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from services.common import events as ev  # noqa: E402
from services.routing import domain  # noqa: E402

WORDS = ("refund invoice login password vpn printer email outage billing crash slow error "
         "возврат счет пароль вход принтер почта ошибка").split()


def synthetic_rules(count: int) -> list[dict]:
    rng = random.Random(7)
    rules = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            condition = {"field": "text", "op": "contains_any", "value": rng.sample(WORDS, 3)}
        elif kind == 1:
            condition = {"field": "subject", "op": "matches", "value": rf"\b{rng.choice(WORDS)}\w*"}
        elif kind == 2:
            condition = {"field": "tags", "op": "has_any", "value": [f"tag{rng.randrange(20)}"]}
        else:
            condition = {"field": "channel", "op": "equals", "value": "email"}
        rules.append({"id": f"r{i}", "name": f"rule {i}", "position": i, "enabled": True,
                      "match": "all", "stop": False, "conditions": [condition],
                      "actions": {"category": f"c{i % 7}"}})
    return rules


def synthetic_agents(count: int) -> list[dict]:
    rng = random.Random(11)
    return [{"_id": f"agent-{i:03d}", "departments": ["support"], "status": "online",
             "capacity": 20, "load": rng.randrange(20), "languages": rng.choice(
                 [["en"], ["ru"], ["en", "ru"]]), "categories": [], "products": [],
             "last_assigned_at": None} for i in range(count)]


def bench_decisions(seconds: float = 3.0) -> float:
    rules, agents = synthetic_rules(50), synthetic_agents(200)
    rng = random.Random(3)
    tickets = [{"ticket_id": str(i), "number": i, "department": "support", "priority": "normal",
                "subject": " ".join(rng.sample(WORDS, 4)), "description": " ".join(
                    rng.sample(WORDS, 8)), "channel": rng.choice(ev.CHANNELS),
                "language": rng.choice(ev.LANGUAGES), "tags": [f"tag{rng.randrange(40)}"],
                "category": None} for i in range(500)]
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for ticket in tickets:
            classified = domain.evaluate_rules(rules, ticket)["ticket"]
            domain.rank_candidates(agents, classified["department"], ticket=classified)
        done += len(tickets)
    return done / (time.perf_counter() - start)


def bench_latency(rounds: int) -> dict:
    from nameko.standalone.events import event_dispatcher
    from nameko.standalone.rpc import ClusterRpcProxy

    from services.routing.service import RoutingService
    from tests.support import EventTap, delete_vhost, intake_event, isolated_config, running

    config = isolated_config()
    dispatch = event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})
    publish = lambda e: dispatch(ev.EVENT_SOURCE[e["event_type"]], e["event_type"], e)  # noqa
    tap = EventTap(config, ev.TICKET_ASSIGNED)

    def created(number):
        return intake_event(ev.TICKET_CREATED, {
            "ticket_id": f"b-{number}", "number": number, "subject": f"bench {number}",
            "description": "", "department": "bench", "category": None, "priority": "normal",
            "channel": "api", "language": "en", "tags": [], "requester_id": "c",
            "created_at": datetime.now(timezone.utc)})

    def wait_assigned(ticket_id):
        while True:
            if any(e["data"]["ticket_id"] == ticket_id for e in tap.drain()):
                return time.perf_counter()
            time.sleep(0.001)

    new_ticket, queue_to_assigned = [], []
    try:
        with running(config, RoutingService), ClusterRpcProxy(
                {"AMQP_URI": config["AMQP_URI"], "serializer": "json"}) as rpc:
            rpc.routing.upsert_department({"id": "bench", "name": "Bench"})
            rpc.routing.upsert_agent({"id": "solo", "name": "Solo", "email": "s@example.com",
                                      "departments": ["bench"], "capacity": 1})
            holder = created(0)
            start = time.perf_counter()
            publish(holder)
            new_ticket.append(wait_assigned("b-0") - start)
            for number in range(1, rounds + 1):
                waiting = created(number)
                publish(waiting)
                while not any(t["ticket_id"] == waiting["data"]["ticket_id"]
                              for t in rpc.routing.queue("bench")["tickets"]):
                    time.sleep(0.005)
                start = time.perf_counter()
                publish(intake_event(ev.STATUS_CHANGED, {
                    "ticket_id": holder["data"]["ticket_id"], "number": holder["data"]["number"],
                    "old_status": "open", "new_status": "solved", "actor_role": "agent",
                    "department": "bench", "priority": "normal",
                    "changed_at": datetime.now(timezone.utc)}))
                queue_to_assigned.append(wait_assigned(waiting["data"]["ticket_id"]) - start)
                holder = waiting
    finally:
        tap.close()
        delete_vhost(config["_vhost"])
    ms = sorted(x * 1000 for x in queue_to_assigned)
    return {"new_ticket_ms": new_ticket[0] * 1000, "median_ms": statistics.median(ms),
            "p90_ms": ms[int(len(ms) * 0.9) - 1], "max_ms": ms[-1], "rounds": len(ms)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--domain-only", action="store_true")
    args = parser.parse_args()
    print(f"decisions/s (50 rules, 200 agents, pure domain): {bench_decisions():.0f}")
    if not args.domain_only:
        result = bench_latency(args.rounds)
        print(f"new ticket -> assigned: {result['new_ticket_ms']:.1f} ms")
        print(f"queue -> assigned after a solve ({result['rounds']} rounds): median "
              f"{result['median_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, "
              f"max {result['max_ms']:.1f} ms")


if __name__ == "__main__":
    main()
