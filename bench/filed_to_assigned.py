"""Filed -> routed, assigned, SLA-clocked and indexed: latency per ticket at a steady rate.

Tickets are POSTed at ``--rate`` per second for ``--seconds``; a queue bound to the real
broker hears every ``ticket_created``, ``ticket_assigned`` and ``sla_deadlines_set``.  A
ticket's latency is from just before its POST to the later of the last two; with the
indexing, to the latest of them and the moment search sent the assigned ticket to
Elasticsearch (``changed_at`` on search's copy, set when Elasticsearch acknowledged that
revision; wall clock, as the POST's time is taken here too).  A ticket copy is searchable at
Elasticsearch's next refresh after that (see docs/search.md): the sync does not wait for it
(it did before the fourteenth round).  Then where the time went, step by step: the answer to
the POST, the creation's publication after it, the assignment and the clock after the
creation, the indexing after the assignment.
Run against `make run`:

    .venv/bin/python -m bench.filed_to_assigned --rate 100 --seconds 300
"""
from __future__ import annotations

import json
import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import click
import requests
from kombu import Connection, Exchange, Queue

from bench._common import machine_notes, prepare_bench_department, summary_ms
from deploy.local import stack
from services.common import events as ev
from services.common.events import unbundled
from services.common.storage import service_database

CREATED, ASSIGNED, CLOCKED = ev.TICKET_CREATED, ev.TICKET_ASSIGNED, ev.SLA_DEADLINES_SET
BODY = {"subject": "Filed-to-assigned probe", "description": "Measuring routing latency",
        "department": "bench", "priority": "high", "language": "en",
        "requester_email": "probe@example.com"}


def listen(amqp_uri: str, seen: dict, stop: threading.Event) -> threading.Thread:
    queue = Queue(f"bench-{uuid.uuid4().hex}", exclusive=True, auto_delete=True, bindings=[])

    def run():
        with Connection(amqp_uri) as conn:
            channel = conn.channel()
            q = queue(channel)
            q.declare()
            for source, event in (("intake", CREATED), ("routing", ASSIGNED), ("sla", CLOCKED)):
                exchange = Exchange(f"{source}.events", type="topic", durable=True)(channel)
                exchange.declare()
                q.bind_to(exchange=exchange, routing_key=event)

            def on_message(body, message):
                payload = json.loads(body) if isinstance(body, (str, bytes)) else body
                for event, _ in unbundled(payload, None):
                    # By number: an anonymous filing's answer names no ticket id (requester
                    # privacy).
                    seen.setdefault(event["data"]["number"], {})[event["event_type"]] = \
                        time.monotonic()
                message.ack()

            with conn.Consumer(q, callbacks=[on_message], accept=["json"]):
                while not stop.is_set():
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass
                    except OSError:
                        pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def reached(heard: dict[str, float]) -> bool:
    return ASSIGNED in heard and CLOCKED in heard


def settled(heard: dict[str, float]) -> float:
    """When the later of the assignment and the clock was heard."""
    return max(heard[ASSIGNED], heard[CLOCKED])


def indexed_at(search_tickets, numbers: list[int]) -> dict[int, float]:
    """When each ticket's assigned state reached the index (epoch seconds), for those it has."""
    return {copy["number"]: copy["changed_at"].timestamp() for copy in search_tickets.find(
        {"number": {"$in": numbers}, "indexed": True, "assignee_id": {"$ne": None}},
        projection={"number": 1, "changed_at": 1})}


@click.command()
@click.option("--url", default="http://127.0.0.1:8080")
@click.option("--amqp", default=lambda: os.environ.get(
    "HELPDESK_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
@click.option("--rate", default=100, show_default=True, help="tickets per second")
@click.option("--seconds", default=60, show_default=True)
def main(url: str, amqp: str, rate: int, seconds: int) -> None:
    print(f"machine: {machine_notes()}")
    prepare_bench_department(amqp, agents=20)
    settings = stack.Settings.from_env("dev")
    search_tickets = service_database(settings.mongo_uri, os.environ.get(
        "HELPDESK_MONGO_DB", "helpdesk"), "search").tickets
    seen: dict[int, dict[str, float]] = {}
    sent: dict[int, float] = {}
    sent_wall: dict[int, float] = {}
    answered: dict[int, float] = {}
    stop = threading.Event()
    listener = listen(amqp, seen, stop)
    time.sleep(1.0)  # queue bound before the first ticket
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=64, pool_maxsize=64)
    session.mount("http://", adapter)
    failures = 0

    def file_one():
        nonlocal failures
        started, started_wall = time.monotonic(), time.time()
        reply = session.post(f"{url}/api/tickets", json=BODY, timeout=10)
        if reply.status_code != 201:
            failures += 1
            return
        number = reply.json()["number"]
        sent[number], sent_wall[number] = started, started_wall
        answered[number] = time.monotonic()

    total = rate * seconds
    begin = time.monotonic()
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(total):
            # Open-loop pacing: the schedule does not wait for slow replies.
            delay = begin + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(file_one)
    achieved = total / (time.monotonic() - begin)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(reached(seen.get(t, {})) for t in sent):
        time.sleep(0.2)
    stop.set()
    listener.join(timeout=2)
    while len(indexed := indexed_at(search_tickets, list(sent))) < len(sent) \
            and time.monotonic() < deadline:
        time.sleep(0.5)
    done = [t for t in sent if reached(seen.get(t, {}))]
    latencies = [settled(seen[t]) - sent[t] for t in done]
    with_index = [max(settled(seen[t]) - sent[t], indexed[t] - sent_wall[t])
                  for t in done if t in indexed]
    print(f"offered {rate}/s for {seconds}s (achieved {achieved:.1f}/s), {len(sent)} filed, "
          f"{failures} HTTP failures, {len(sent) - len(done)} not assigned+clocked and "
          f"{len(sent) - len(indexed)} not indexed as assigned within 30 s")
    for what, values in (("assigned and clocked", latencies),
                         ("assigned, clocked and indexed", with_index)):
        stats = summary_ms(values)
        print(f"filed -> {what}: p50 {stats['p50']:.0f} ms, p95 {stats['p95']:.0f} ms, "
              f"p99 {stats['p99']:.0f} ms, mean {stats['mean']:.0f} ms")
    steps = [t for t in done if CREATED in seen[t] and t in indexed]
    for what, values in (
            ("POST answered", [answered[t] - sent[t] for t in steps]),
            ("answer -> creation published", [seen[t][CREATED] - answered[t] for t in steps]),
            ("creation -> assigned", [seen[t][ASSIGNED] - seen[t][CREATED] for t in steps]),
            ("creation -> clocked", [seen[t][CLOCKED] - seen[t][CREATED] for t in steps]),
            ("assigned -> indexed", [indexed[t] - sent_wall[t] - (seen[t][ASSIGNED] - sent[t])
                                     for t in steps])):
        stats = summary_ms(values)
        print(f"  step {what}: p50 {stats['p50']:.0f} ms, p99 {stats['p99']:.0f} ms")


if __name__ == "__main__":
    main()
