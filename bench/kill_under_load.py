"""Reliability: no ticket lost or duplicated when one help desk process is killed mid-load.

Starts the test profile's servers on fresh state with two replicas of every service and of the
portal (``HELPDESK_REPLICAS``), then, for each victim in turn: files tickets over HTTP at
``--rate`` per second for ``--seconds``, each with its own Idempotency-Key and retried with that
same key after a connection error, 429 or 5xx (what a careful client does); SIGKILLs the victim
halfway through; starts it again (as a process supervisor would) and checks, from the services'
own databases and the search index, that every key became exactly one ticket and that every
ticket was assigned exactly once, SLA-clocked and indexed.  Exits non-zero on any loss or
duplicate, or when a phase did not settle within ``--settle-limit`` seconds of the restart.
Stops everything it started.

    .venv/bin/python -m bench.kill_under_load --rate 5 --seconds 40
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import TypedDict

import click
import requests
from pymongo import MongoClient

from bench._common import machine_notes, prepare_bench_department
from deploy.local import stack

VICTIMS = ("intake-1", "routing-1", "sla-1", "search-1", "portal-1")
REPLICAS = "intake=2,routing=2,sla=2,search=2,portal=2"
RETRY_STATUSES = {429, 500, 502, 503, 504}


class Client:
    """Files tickets with one idempotency key each, retrying each with its key until accepted."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))
        self.numbers: dict[str, int] = {}  # key -> ticket number the portal answered
        self.retries = 0
        self.gave_up: list[str] = []
        self.lock = threading.Lock()

    def file(self, key: str, subject: str) -> None:
        body = {"subject": subject, "description": "Reliability probe under a killed process",
                "department": "bench", "priority": "normal", "language": "en",
                "requester_email": "reliability@example.com"}
        for attempt in range(40):
            try:
                reply = self.session.post(f"{self.url}/api/tickets", json=body, timeout=15,
                                          headers={"Idempotency-Key": key})
            except requests.RequestException:
                reply = None
            if reply is not None and reply.status_code in (200, 201):
                with self.lock:
                    self.numbers[key] = reply.json()["number"]
                return
            if reply is not None and reply.status_code not in RETRY_STATUSES:
                raise AssertionError(f"{key}: {reply.status_code} {reply.text[:200]}")
            with self.lock:
                self.retries += 1
            time.sleep(min(0.25 * (attempt + 1), 2.0))
        with self.lock:
            self.gave_up.append(key)


def kill(s: stack.Settings, name: str) -> int:
    pid = stack.read_pid(s, name)
    if pid is None:
        raise click.ClickException(f"{name} is not running")
    os.killpg(pid, signal.SIGKILL)
    return pid


class Verdict(TypedDict):
    """What went wrong with one phase's tickets: every count is 0 when nothing did."""

    lost: int
    duplicated: int
    unassigned: int
    assigned_twice: int
    never_assigned: int
    unclocked: int
    unindexed: int


def verdict(s: stack.Settings, mongo: MongoClient, keys: list[str]) -> Verdict:
    """What became of the keys, read from intake's, routing's and sla's own databases and the
    search index (the services' APIs would hide duplicates behind their own lookups)."""
    db = os.environ.get("HELPDESK_MONGO_DB", "helpdesk")
    tickets = list(mongo[f"{db}_intake"].tickets.find(
        {"idempotency_key": {"$in": keys}}, {"_id": 1, "idempotency_key": 1, "assignee_id": 1}))
    ids = [t["_id"] for t in tickets]
    assigned = Counter(entry["ticket_id"] for entry in mongo[f"{db}_routing"].assignment_log.find(
        {"ticket_id": {"$in": ids}, "action": "assigned"}, {"ticket_id": 1}))
    clocked = mongo[f"{db}_sla"].clocks.count_documents({"_id": {"$in": ids}})
    index = os.environ.get("HELPDESK_ES_INDEX_PREFIX", "helpdesk") + "-tickets"
    indexed = requests.post(f"{s.es_url}/{index}/_count", timeout=10, json={
        "query": {"ids": {"values": ids}}}).json().get("count", 0) if ids else 0
    per_key = Counter(t["idempotency_key"] for t in tickets)
    return Verdict(**{
        "lost": len(set(keys) - set(per_key)),
        "duplicated": sum(n - 1 for n in per_key.values()),
        "unassigned": sum(1 for t in tickets if not t.get("assignee_id")),
        "assigned_twice": sum(1 for n in assigned.values() if n > 1),
        "never_assigned": len(set(ids) - set(assigned)),
        "unclocked": len(ids) - clocked,
        "unindexed": len(ids) - indexed,
    })


def settled(result: Verdict) -> bool:
    """Only the verdict's counts: a phase's other figures (tickets, retries, times) are not
    faults."""
    return not any(result[name] for name in Verdict.__annotations__)


def passed(row: dict, settle_limit: float) -> bool:
    """A phase passes when its verdict settled within ``settle_limit`` seconds of the restart
    and the client gave up on no ticket."""
    return settled(row["verdict"]) and not row["gave_up"] and row["settled_s"] <= settle_limit


def run_victim(s: stack.Settings, mongo: MongoClient, victim: str, rate: float,
               seconds: float) -> dict:
    client = Client(s.portal_url)
    run = uuid.uuid4().hex[:6]
    keys = [f"kill-{run}-{i}" for i in range(int(rate * seconds))]
    begin = time.monotonic()
    killed_at = begin + seconds / 2
    killed = False
    with ThreadPoolExecutor(max_workers=32) as pool:
        for i, key in enumerate(keys):
            delay = begin + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if victim != "none" and not killed and time.monotonic() >= killed_at:
                kill(s, victim)
                killed = True
            pool.submit(client.file, key, f"Reliability probe {victim} {i}")
    filed_at = time.monotonic()
    stack.services_up(s)  # starts the victim again; the others are left running
    restarted_at = time.monotonic()
    deadline = time.monotonic() + 180
    result = verdict(s, mongo, keys)
    while not settled(result) and time.monotonic() < deadline:
        time.sleep(1)
        result = verdict(s, mongo, keys)
        if int(time.monotonic() - restarted_at) % 10 == 0:
            print(f"  {victim}: still settling after {time.monotonic() - restarted_at:.0f} s: "
                  f"{ {k: v for k, v in result.items() if v} }", flush=True)
    return dict(verdict=result, victim=victim, keys=len(keys), retries=client.retries,
                gave_up=len(client.gave_up), load_s=filed_at - begin,
                restart_s=restarted_at - filed_at, settled_s=time.monotonic() - restarted_at)


@click.command()
@click.option("--rate", default=5.0, show_default=True, help="tickets per second")
@click.option("--seconds", default=40.0, show_default=True, help="load per victim")
@click.option("--victim", "victims", multiple=True, default=VICTIMS, show_default=True,
              help='a process name from `stack status`, or "none" for the same load unharmed')
@click.option("--settle-limit", default=5.0, show_default=True,
              help="seconds after the restart by which every ticket must be assigned, clocked "
                   "and indexed")
def main(rate: float, seconds: float, victims: tuple[str, ...], settle_limit: float) -> None:
    os.environ.update(HELPDESK_REPLICAS=REPLICAS, HELPDESK_TICKET_LIMIT="100000/second",
                      HELPDESK_TICKET_IP_LIMIT="100000/second")
    s = stack.Settings.from_env("test")
    print(f"machine: {machine_notes()}")
    stack.services_down(s)
    stack.infra_down(s)
    shutil.rmtree(s.state_dir, ignore_errors=True)
    results = []
    try:
        stack.infra_up(s)
        stack.services_up(s)
        prepare_bench_department(s.amqp_uri)
        mongo = MongoClient(s.mongo_uri)
        for victim in victims:
            results.append(run_victim(s, mongo, victim, rate, seconds))
            print(results[-1], flush=True)
    finally:
        stack.services_down(s)
        stack.infra_down(s)
    print("\n| killed | tickets | client retries | lost | duplicated | assigned twice | "
          "not assigned | not clocked | not indexed | settled after restart |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        v = r["verdict"]
        print(f"| {r['victim']} | {r['keys']} | {r['retries']} | {v['lost'] + r['gave_up']} | "
              f"{v['duplicated']} | {v['assigned_twice']} | {v['never_assigned']} | "
              f"{v['unclocked']} | {v['unindexed']} | {r['settled_s']:.1f} s |")
    sys.exit(0 if all(passed(r, settle_limit) for r in results) else 1)


if __name__ == "__main__":
    main()
