"""Helpers for tests that use the real servers started by ``deploy/local/stack test``.

Each integration test module gets its own RabbitMQ virtual host, Mongo database prefix and
Elasticsearch index prefix, so modules (and the end-to-end stack) never see each other's
messages or data.  A missing server is an error, never a skip.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import requests

from services.common import events as ev

REQUIRED = ("HELPDESK_AMQP_URI", "HELPDESK_MONGO_URI", "HELPDESK_ES_URL",
            "HELPDESK_RABBIT_MGMT_URL")


def stack_env() -> dict[str, str]:
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        raise RuntimeError(f"{', '.join(missing)} not set: run the suite with `make test`, "
                           "which starts the real servers")
    return {name: os.environ[name] for name in REQUIRED}


def _mgmt(path: str) -> tuple[str, tuple[str, str]]:
    parsed = urllib.parse.urlsplit(stack_env()["HELPDESK_RABBIT_MGMT_URL"])
    base = f"{parsed.scheme}://{parsed.hostname}:{parsed.port}"
    return base + path, (parsed.username or "guest", parsed.password or "guest")


def create_vhost(name: str) -> str:
    url, auth = _mgmt(f"/api/vhosts/{name}")
    requests.put(url, auth=auth, timeout=10).raise_for_status()
    url, auth = _mgmt(f"/api/permissions/{name}/guest")
    requests.put(url, auth=auth, timeout=10, data=json.dumps(
        {"configure": ".*", "write": ".*", "read": ".*"}),
        headers={"content-type": "application/json"}).raise_for_status()
    amqp = urllib.parse.urlsplit(stack_env()["HELPDESK_AMQP_URI"])
    return urllib.parse.urlunsplit((amqp.scheme, amqp.netloc, "/" + name, "", ""))


def delete_vhost(name: str) -> None:
    url, auth = _mgmt(f"/api/vhosts/{name}")
    requests.delete(url, auth=auth, timeout=10)


def queue_exists(vhost: str, name: str) -> bool:
    url, auth = _mgmt(f"/api/queues/{urllib.parse.quote(vhost, safe='')}/{name}")
    return requests.get(url, auth=auth, timeout=10).status_code == 200


# How old a queue depth the management API reports can be: the local stack's queues report
# every 0.5 s and its management agent samples every 1 s (deploy/local/stack.py), so a message
# published was counted 0.5-1.5 s later (measured); the rest is margin for a busy machine.
QUEUE_STATS_AGE = 2.0


def _consumer_queues_empty(vhost: str, consumer: str) -> bool:
    url, auth = _mgmt(f"/api/queues/{urllib.parse.quote(vhost, safe='')}")
    queues = [q for q in requests.get(url, auth=auth, timeout=10).json()
              if f"--{consumer}." in q["name"]]
    # "messages": ready and unacknowledged; absent while a new queue is not counted yet.
    return bool(queues) and all(q.get("messages") == 0 for q in queues)


def queues_drained(vhost: str, consumer: str) -> bool:
    """True when every queue of ``consumer`` (a service name) in ``vhost`` is empty and has
    nothing unacknowledged: all delivered messages, duplicates included, were handled.  A
    depth read may be stale (a message published just before counted not yet), so it takes
    two reads of nothing left, QUEUE_STATS_AGE apart: the second is of a moment after the
    first was asked."""
    if not _consumer_queues_empty(vhost, consumer):
        return False
    time.sleep(QUEUE_STATS_AGE)
    return _consumer_queues_empty(vhost, consumer)


def isolated_config() -> dict:
    """nameko config for one test module: own vhost, own databases, own indices."""
    env = stack_env()
    tag = uuid.uuid4().hex[:10]
    return {
        "AMQP_URI": create_vhost(f"test-{tag}"),
        "MONGO_URI": env["HELPDESK_MONGO_URI"],
        "MONGO_DB": f"t{tag}",
        "ES_URL": env["HELPDESK_ES_URL"],
        "ES_INDEX_PREFIX": f"t{tag}",
        "serializer": "json",
        "max_workers": 10,
        "_vhost": f"test-{tag}",
    }


@contextmanager
def running(config: dict, *service_classes):
    """Run nameko services in this process against the real broker."""
    from nameko.runners import ServiceRunner

    runner = ServiceRunner({k: v for k, v in config.items() if not k.startswith("_")})
    for cls in service_classes:
        runner.add_service(cls)
    runner.start()
    try:
        yield runner
    finally:
        runner.stop()


@contextmanager
def frozen_clock(runner, service: str):
    """The running ``service``'s clock (its ClockProvider), frozen now and moved by the test
    (``clock.at = ...``); the real clock again afterwards."""
    from nameko.testing.utils import get_extension

    from services.common.clock import FixedClock
    from services.common.nameko_support import ClockProvider

    provider = get_extension(runner.service_map[service], ClockProvider)
    original = provider.clock
    provider.clock = FixedClock(original.now())
    try:
        yield provider.clock
    finally:
        provider.clock = original


REPO_ROOT = Path(__file__).resolve().parents[1]


def queue_consumers(vhost: str, queue: str) -> int:
    url, auth = _mgmt(f"/api/queues/{urllib.parse.quote(vhost, safe='')}/"
                      f"{urllib.parse.quote(queue, safe='')}")
    answer = requests.get(url, auth=auth, timeout=10)
    return answer.json().get("consumers", 0) if answer.ok else 0


def message_stats(vhost: str) -> dict[str, int]:
    """The broker's message counts on ``vhost`` so far (publish, confirm, ack,
    deliver_no_ack, ...; QUEUE_STATS_AGE old at most)."""
    url, auth = _mgmt(f"/api/vhosts/{urllib.parse.quote(vhost, safe='')}")
    answer = requests.get(url, auth=auth, timeout=10)
    answer.raise_for_status()
    return {name: count for name, count in answer.json().get("message_stats", {}).items()
            if isinstance(count, int)}


def consumer_prefetch(vhost: str) -> dict[str, int]:
    """The prefetch of each queue's consumer on ``vhost``, by queue name."""
    url, auth = _mgmt(f"/api/consumers/{urllib.parse.quote(vhost, safe='')}")
    answer = requests.get(url, auth=auth, timeout=10)
    answer.raise_for_status()
    return {c["queue"]["name"]: c["prefetch_count"] for c in answer.json()}


@contextmanager
def service_processes(config: dict, service: str, service_class: str, count: int):
    """Run ``count`` separate ``nameko run`` processes of one service (as deploy/local/stack
    does for HELPDESK_REPLICAS) on this module's vhost and databases.  They are always
    killed on the way out; when the body fails, the tail of each one's log is printed (pytest
    shows it with the failure)."""
    env = dict(os.environ, HELPDESK_AMQP_URI=config["AMQP_URI"],
               HELPDESK_MONGO_URI=config["MONGO_URI"], HELPDESK_MONGO_DB=config["MONGO_DB"],
               HELPDESK_ES_URL=config["ES_URL"], HELPDESK_ES_INDEX_PREFIX=config["ES_INDEX_PREFIX"],
               HELPDESK_MAX_WORKERS=str(config.get("max_workers", 10)),
               PYTHONPATH=str(REPO_ROOT),
               # no metrics endpoint: the stack's own processes hold the metrics ports
               HELPDESK_METRICS_PORT="",
               PYTHONWARNINGS="ignore::UserWarning,ignore::DeprecationWarning")
    argv = [sys.executable, "-m", "nameko", "run", "--config",
            str(REPO_ROOT / "deploy" / "nameko.yaml"), f"services.{service}.service:{service_class}"]
    logs = [tempfile.NamedTemporaryFile(prefix=f"{service}-{i + 1}-", suffix=".log",
                                        delete=False) for i in range(count)]
    procs: list[subprocess.Popen] = []

    def show_logs() -> None:
        for proc, log in zip(procs, logs):
            lines = Path(log.name).read_text(errors="replace").splitlines()[-40:]
            print(f"----- {service} pid {proc.pid} (exit {proc.poll()}), {log.name}:",
                  *lines, sep="\n", file=sys.stderr)

    try:
        for log in logs:
            procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=env, cwd=REPO_ROOT,
                                          start_new_session=True))

        def all_listening():
            dead = [p.pid for p in procs if p.poll() is not None]
            assert not dead, f"{service} processes {dead} exited during start-up"
            return queue_consumers(config["_vhost"], f"rpc-{service}") == count

        eventually(all_listening, timeout=90, interval=0.5)
        yield procs
    except BaseException:
        show_logs()
        raise
    finally:
        for proc in procs:  # each in its own session: its whole group goes
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        for log in logs:
            log.close()
            os.unlink(log.name)


def eventually(check, timeout: float = 15.0, interval: float = 0.1):
    """Poll until ``check()`` returns something truthy; its last error explains a failure."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
            last = AssertionError(f"still {value!r}")
        except AssertionError as exc:
            last = exc
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s: {last}")


def settled(intake_db) -> None:
    """Wait until every new ticket is settled (its rollups added, a moment after its filing
    is answered; intake.repository.settle): before comparing intake's stored state."""
    def all_rolled_up() -> bool:
        owing = [t["_id"] for t in intake_db.tickets.find({"settle": {"$exists": True}},
                                                           projection={"_id": 1})]
        return intake_db.settled.count_documents({"_id": {"$in": owing}}) == len(owing)
    eventually(all_rolled_up)


class EventTap:
    """Records every event of some types published on the real broker (its own queue)."""

    def __init__(self, config: dict, *event_types: str):
        from kombu import Connection, Queue
        from nameko.events import get_event_exchange

        from services.common.events import EVENT_SOURCE

        self.received: list[dict] = []
        self.messages = 0  # a bundle of events is one
        self._conn = Connection(config["AMQP_URI"])
        self._queue = Queue(f"tap-{uuid.uuid4().hex}", exclusive=True, auto_delete=True,
                            bindings=[])
        channel = self._conn.channel()
        self._queue = self._queue(channel)
        self._queue.declare()
        for event_type in event_types:
            exchange = get_event_exchange(EVENT_SOURCE[event_type], config)(channel)
            exchange.declare()
            self._queue.bind_to(exchange=exchange, routing_key=event_type)

    def drain(self) -> list[dict]:
        while (message := self._queue.get(no_ack=True)) is not None:
            self.messages += 1
            self.received += [event for event, _ in ev.unbundled(json.loads(message.body), None)]
        return self.received

    def of_type(self, event_type: str) -> list[dict]:
        return [e for e in self.drain() if e["event_type"] == event_type]

    def close(self) -> None:
        self._conn.release()


# ---------------------------------------------------------------- intake's events, by hand

_MOMENTS = ("created_at", "changed_at", "added_at", "reopened_at", "closed_at", "updated_at",
            "solved_at")


def ticket_state(data: dict, **over) -> dict:
    """The ticket state (events.TicketState) an intake event carries, for events tests make by
    hand: taken from the event's own fields where it has them."""
    at = next((data[k] for k in _MOMENTS if data.get(k)), None) or datetime.now(timezone.utc)
    state = {"subject": data.get("subject", "Help"), "description": data.get("description", ""),
             "status": data.get("new_status", "new"),
             "department": data.get("department", "general"), "category": data.get("category"),
             "priority": data.get("priority", "normal"), "tags": data.get("tags", []),
             "language": data.get("language", "en"),
             "requester_id": data.get("requester_id", "cust-1"),
             "assignee_id": data.get("assignee_id"), "conversation": [], "last_public_reply": "",
             "created_at": data.get("created_at", at), "updated_at": at, "solved_at": None}
    return dict(state, **over)


def intake_event(event_type: str, data: dict, occurred_at: datetime | None = None) -> dict:
    """An event as its source would publish it: intake's carry the ticket's state."""
    if "ticket" in ev.EVENT_SCHEMAS[event_type]().fields and "ticket" not in data:
        data = dict(data, ticket=ticket_state(data))
    return ev.new_event(event_type, data, occurred_at)


def events_handled(service: str, handler: str) -> float:
    """Events this process's ``service`` handled with ``handler`` (its entrypoint counter; a
    batch counts once)."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("helpdesk_entrypoint_calls_total", {
        "service": service, "entrypoint": handler, "kind": "event", "outcome": "ok"}) or 0.0


def mongo_commands_sent(database: str, command: str, collection: str = "") -> float:
    """Commands this process's Mongo clients sent (``helpdesk_mongo_commands_total``); a
    transaction's commit goes to the admin database, with no collection."""
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("helpdesk_mongo_commands_total", {
        "database": database, "command": command, "collection": collection}) or 0.0
