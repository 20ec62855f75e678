"""Filed -> routed, assigned and SLA-clocked: latency per ticket at a steady arrival rate.

Tickets are POSTed at ``--rate`` per second for ``--seconds``; a queue bound to the real
broker hears every ``ticket_assigned`` and ``sla_deadlines_set``.  A ticket's latency is from
just before its POST to the later of the two events.  Run against `make run`:

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
            for source, event in (("routing", "ticket_assigned"), ("sla", "sla_deadlines_set")):
                exchange = Exchange(f"{source}.events", type="topic", durable=True)(channel)
                exchange.declare()
                q.bind_to(exchange=exchange, routing_key=event)

            def on_message(body, message):
                payload = json.loads(body) if isinstance(body, (str, bytes)) else body
                # By number: an anonymous filing's answer names no ticket id (requester privacy).
                seen.setdefault(payload["data"]["number"], {})[payload["event_type"]] = \
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


@click.command()
@click.option("--url", default="http://127.0.0.1:8080")
@click.option("--amqp", default=lambda: os.environ.get(
    "HELPDESK_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
@click.option("--rate", default=100, show_default=True, help="tickets per second")
@click.option("--seconds", default=60, show_default=True)
def main(url: str, amqp: str, rate: int, seconds: int) -> None:
    print(f"machine: {machine_notes()}")
    prepare_bench_department(amqp, agents=20)
    seen: dict[int, dict[str, float]] = {}
    sent: dict[int, float] = {}
    stop = threading.Event()
    listener = listen(amqp, seen, stop)
    time.sleep(1.0)  # queue bound before the first ticket
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=64, pool_maxsize=64)
    session.mount("http://", adapter)
    failures = 0

    def file_one():
        nonlocal failures
        started = time.monotonic()
        reply = session.post(f"{url}/api/tickets", json=BODY, timeout=10)
        if reply.status_code != 201:
            failures += 1
            return
        sent[reply.json()["number"]] = started

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
    while time.monotonic() < deadline and any(
            len(seen.get(t, {})) < 2 for t in sent):
        time.sleep(0.2)
    stop.set()
    listener.join(timeout=2)
    latencies = [max(seen[t].values()) - sent[t] for t in sent if len(seen.get(t, {})) == 2]
    missing = sum(1 for t in sent if len(seen.get(t, {})) < 2)
    stats = summary_ms(latencies)
    print(f"offered {rate}/s for {seconds}s (achieved {achieved:.1f}/s), {len(sent)} filed, "
          f"{failures} HTTP failures, {missing} not assigned+clocked within 30 s")
    print(f"filed -> assigned and clocked: p50 {stats['p50']:.0f} ms, p95 {stats['p95']:.0f} ms, "
          f"p99 {stats['p99']:.0f} ms, mean {stats['mean']:.0f} ms")


if __name__ == "__main__":
    main()
