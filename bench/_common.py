"""Shared by the benchmarks: machine notes and percentiles."""
from __future__ import annotations

import os
import platform
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Callable


def machine_notes() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}, load average before run: {load}")


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "p50": percentile(values, 50) * 1000,
            "p95": percentile(values, 95) * 1000, "p99": percentile(values, 99) * 1000,
            "mean": (statistics.fmean(values) * 1000) if values else float("nan")}


def sweep_costs(sweep_at: Callable[[datetime], Callable[[], object]], start: datetime,
                block: int, cycles: int) -> tuple[list[float], list[float]]:
    """Per-cycle wall time of a timer's sweep over one block of due work: at start+k s (work
    due), then again at the same instant (nothing left due: the idle cost every replica pays
    each round).  ``sweep_at(moment)`` gives the sweep of a service whose clock reads it."""
    busy, idle = [], []
    for k in range(block * cycles + 1, (block + 1) * cycles + 1):
        sweep = sweep_at(start + timedelta(seconds=k))
        started = time.perf_counter()
        sweep()
        busy.append(time.perf_counter() - started)
        started = time.perf_counter()
        sweep()
        idle.append(time.perf_counter() - started)
    return busy, idle


def prepare_bench_department(amqp_uri: str, agents: int = 20) -> None:
    """A "bench" department whose agents never run out of capacity and where incident
    detection is off (benchmark tickets look alike): this measures the pipeline, not the
    queue or the incident machinery."""
    from nameko.standalone.rpc import ClusterRpcProxy

    with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=30) as rpc:
        assert rpc.routing.upsert_department({
            "id": "bench", "name": "Benchmark", "incident_detection": False})["ok"]
        for i in range(agents):
            assert rpc.routing.upsert_agent({
                "id": f"bench-agent-{i}", "name": f"Bench Agent {i}",
                "email": f"bench{i}@example.com", "departments": ["bench"],
                "capacity": 1000}).get("ok")


def insert_tickets(config: dict, docs, batch_size: int) -> float:
    """Insert ticket documents straight into intake's collection of the (isolated) database
    in batches; returns the seconds it took."""
    import time

    from services.common.storage import service_database

    tickets = service_database(config["MONGO_URI"], config["MONGO_DB"], "intake").tickets
    start, batch = time.perf_counter(), []
    for doc in docs:
        batch.append(doc)
        if len(batch) == batch_size:
            tickets.insert_many(batch, ordered=False)
            batch = []
    if batch:
        tickets.insert_many(batch, ordered=False)
    return time.perf_counter() - start
