"""Ticket creation over HTTP at concurrency 1, 8 and 32, driven by wrk (C, so the load
generator does not starve the 2-core server).  Run against a running stack (`make run`):

    .venv/bin/python -m bench.intake_http --url http://127.0.0.1:8080 --seconds 20
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import click

from bench._common import machine_notes, prepare_bench_department

LUA = Path(__file__).with_name("intake_http.lua")


@click.command()
@click.option("--url", default="http://127.0.0.1:8080")
@click.option("--amqp", default=lambda: os.environ.get(
    "HELPDESK_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"))
@click.option("--seconds", default=20, show_default=True)
@click.option("--concurrency", "levels", multiple=True, type=int, default=(1, 8, 32))
def main(url: str, amqp: str, seconds: int, levels: tuple[int, ...]) -> None:
    print(f"machine: {machine_notes()}")
    prepare_bench_department(amqp)
    print("| concurrency | tickets/s | p50 ms | p95 ms | p99 ms | max ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for level in levels:
        out = subprocess.run(
            ["wrk", "-t", str(min(level, 2)), "-c", str(level), "-d", f"{seconds}s",
             "--timeout", "10s", "-s", str(LUA), f"{url}/api/tickets"],
            capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        rate = result["requests"] / result["seconds"]
        print(f"| {level} | {rate:.0f} | {result['p50_ms']:.1f} | {result['p95_ms']:.1f} | "
              f"{result['p99_ms']:.1f} | {result['max_ms']:.1f} | {result['errors']} |",
              flush=True)


if __name__ == "__main__":
    main()
