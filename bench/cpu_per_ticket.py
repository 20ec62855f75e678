"""CPU per ticket of each process the local stack started, over one burst of filings.

Files tickets over HTTP with the peers' bounded load client (``../shared/peers/load.py``, the
corpus side_by_side uses) at ``--concurrency`` for ``--seconds``, waits until RabbitMQ's
queues are empty (routing, SLA, search, automation and the mails done; it names the queues
that held the backlog and the ones the wait ended with), and divides the CPU each process used
meanwhile (``/proc/<pid>/stat``, its children included) by the tickets
filed.  Run against `make run` with raised ticket limits; compare builds by restarting the
services on each commit in turn on the same stack, in the same minutes:

    .venv/bin/python -m bench.cpu_per_ticket --concurrency 8 --seconds 20
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import click
import requests
from prometheus_client.parser import text_string_to_metric_families

from bench._common import machine_notes
from deploy.local import stack
from deploy.local.stack import Settings, health_urls

BODY = ('{"subject":"{{subject}}","description":"{{body}}","requester_email":"{{email}}",'
        '"language":"{{lang}}"}')


def _tree(pid: int) -> set[int]:
    found = {pid}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            found |= _tree(int(child))
    return found


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stack_cpu(pid_dir: Path) -> dict[str, float]:
    """CPU seconds so far of every process with a PID file in ``pid_dir``."""
    used = {}
    for pid_file in pid_dir.glob("*.pid"):
        pid = stack._recorded_pid(pid_file)
        if pid is not None:
            used[pid_file.stem] = sum(_cpu_seconds(p) for p in _tree(pid))
    return used


def mongo_commands(profile: str) -> dict[tuple[str, str, str], tuple[float, float]]:
    """``{(process, command, collection): (commands, seconds)}`` from every process's
    /metrics (the seconds are the client's wait for the reply)."""
    found: dict[tuple[str, str, str], tuple[float, float]] = {}
    wanted = {"helpdesk_mongo_commands_total": 0, "helpdesk_mongo_command_seconds_total": 1}
    for name, ready_url in health_urls(Settings.from_env(profile)).items():
        try:
            text = requests.get(ready_url.replace("/readyz", "/metrics"), timeout=5).text
        except requests.RequestException:
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name in wanted:
                    key = (name.rsplit("-", 1)[0], sample.labels["command"],
                           sample.labels["collection"])
                    sums = list(found.get(key, (0.0, 0.0)))
                    sums[wanted[sample.name]] += sample.value
                    found[key] = (sums[0], sums[1])
    return found


BROKER_COUNTS = ("publish", "deliver_get", "ack", "disk_writes")


def broker_counts(mgmt: str) -> dict[str, int]:
    """RabbitMQ's running totals of messages published, delivered, acknowledged and written
    to disk (management API overview)."""
    stats = requests.get(f"{mgmt}/api/overview", auth=("guest", "guest"),
                         timeout=10).json().get("message_stats", {})
    return {name: stats.get(name, 0) for name in BROKER_COUNTS}


def queue_depths(mgmt: str) -> dict[str, int]:
    """Messages waiting in each queue, named by the handler that consumes it."""
    reply = requests.get(f"{mgmt}/api/queues", params={"columns": "name,messages"},
                         auth=("guest", "guest"), timeout=10)
    return {q["name"].rsplit("--", 1)[-1]: q.get("messages") or 0 for q in reply.json()}


def drain(mgmt: str, limit: float = 600) -> tuple[float, dict[str, int], dict[str, float]]:
    """Seconds until every queue is empty, each queue's backlog when the wait began, and when
    each was last seen holding messages: which consumer the pipeline waited for."""
    began = time.monotonic()
    depths = at_start = queue_depths(mgmt)
    last_busy: dict[str, float] = {}
    while sum(depths.values()) > 0 and time.monotonic() - began < limit:
        last_busy.update({name: time.monotonic() - began for name, n in depths.items() if n})
        time.sleep(0.5)
        depths = queue_depths(mgmt)
    return time.monotonic() - began, at_start, last_busy


def client_schedule(load: subprocess.Popen) -> tuple[float, float]:
    """Seconds the load client ran on a CPU and waited for one (``/proc/<pid>/schedstat``,
    read until it exits): it shares the machine, and a client kept waiting adds that wait to
    every latency it reports (BENCHMARKS.md, thirteenth round)."""
    last = (0, 0)
    while load.poll() is None:
        try:
            ran, waited, _ = map(int, Path(f"/proc/{load.pid}/schedstat").read_text().split())
            last = (ran, waited)
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    return last[0] / 1e9, last[1] / 1e9


def filed_of(result: dict) -> int:
    return sum(v for k, v in result.get("status_counts", {}).items() if str(k).startswith("2"))


@click.command()
@click.option("--portal", default="http://127.0.0.1:8080")
@click.option("--mgmt", default="http://127.0.0.1:15672", help="RabbitMQ management API")
@click.option("--state", default=".state/dev", type=click.Path(path_type=Path))
@click.option("--client", default="/tmp/peers/client-venv/bin/python",
              help="Python with the peers' load-client requirements")
@click.option("--peers", default="../shared/peers", type=click.Path(path_type=Path))
@click.option("--concurrency", default=8, show_default=True)
@click.option("--seconds", default=20, show_default=True)
@click.option("--profile", default="dev", show_default=True,
              help="stack profile whose processes' /metrics count Mongo commands")
@click.option("--close-connections", is_flag=True,
              help="send 'Connection: close': a new connection per ticket, as django-helpdesk's "
                   "gunicorn sync workers make the same client do (BENCHMARKS.md, eleventh round)")
def main(portal, mgmt, state, client, peers, concurrency, seconds, profile, close_connections):
    print(f"machine: {machine_notes()}")
    commands_before = mongo_commands(profile)
    broker_before = broker_counts(mgmt)
    before = stack_cpu(state / "pids")
    load = subprocess.Popen(
        [client, str(peers / "load.py"), "--url", f"{portal}/api/tickets", "--method", "POST",
         "--body", BODY, "--concurrency", str(concurrency), "--duration", str(seconds),
         "--warmup", "1", "--index-offset", str(5_000_000 + int(time.time()) % 100_000 * 10),
         "--max-requests", "100000", "--header", "Content-Type: application/json",
         *(["--header", "Connection: close"] if close_connections else [])],
        stdout=subprocess.PIPE, text=True)
    client_on_cpu, client_waited = client_schedule(load)
    result = json.loads(load.stdout.read())
    if load.wait() != 0:
        raise click.ClickException(f"the load client failed (exit {load.returncode})")
    drained, backlog, last_busy = drain(mgmt)
    after = stack_cpu(state / "pids")
    # The overview's totals lag the queues by a statistics interval (5 s by default).
    time.sleep(5.5)
    broker = {name: (count - broker_before[name]) / max(1, filed_of(result))
              for name, count in broker_counts(mgmt).items()}
    filed = filed_of(result)
    per_ticket = {name: (after[name] - before.get(name, 0.0)) * 1000 / max(filed, 1)
                  for name in after}
    lat = result.get("latency_ms", {})
    print(f"c={concurrency}{' (connection closed per ticket)' if close_connections else ''}: "
          f"{result.get('rps')} tickets/s, p50 {lat.get('p50')} ms, "
          f"p99 {lat.get('p99')} ms, {filed} filed, {result.get('errors')} errors, "
          f"queues empty {drained:.1f} s after the burst; load average now "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    largest = sorted(backlog.items(), key=lambda kv: -kv[1])[:4]
    latest = sorted(last_busy.items(), key=lambda kv: -kv[1])[:2]
    print("backlog when the burst ended: "
          + (", ".join(f"{name} {n}" for name, n in largest if n) or "none")
          + "; emptied last: " + (", ".join(f"{name} ({at:.1f} s)" for name, at in latest)
                                  or "-"))
    print(f"load client: {client_on_cpu * 1000 / max(filed, 1):.1f} CPU-ms per ticket, waited "
          f"{client_waited:.1f} s for a CPU (not in the stack's figures below)")
    for name, ms in sorted(per_ticket.items(), key=lambda kv: -kv[1]):
        print(f"  {name:14} {ms:7.1f} CPU-ms per ticket")
    print(f"  {'stack total':14} {sum(per_ticket.values()):7.1f}")
    print("RabbitMQ messages per ticket: " + ", ".join(
        f"{name} {count:.1f}" for name, count in broker.items()))
    per_ticket_commands = {
        key: tuple((now - then) / max(filed, 1)
                   for now, then in zip(sums, commands_before.get(key, (0.0, 0.0))))
        for key, sums in mongo_commands(profile).items()}
    print(f"Mongo commands per ticket: {sum(n for n, _ in per_ticket_commands.values()):.1f}, "
          f"waited for {sum(t for _, t in per_ticket_commands.values()) * 1000:.1f} ms")
    for (service, command, collection), (n, seconds) in sorted(
            per_ticket_commands.items(), key=lambda kv: -kv[1][1]):
        if n >= 0.05:
            print(f"  {service:10} {command:18} {collection:22} {n:6.2f} "
                  f"{seconds * 1000:7.2f} ms")

if __name__ == "__main__":
    main()
