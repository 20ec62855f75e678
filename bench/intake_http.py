"""Ticket creation over HTTP at concurrency 1, 8 and 32, driven by wrk (C, so the load
generator does not starve the 2-core server; Debian's ``wrk`` package, installed on first use
when run as root).  Run against a running stack (`make run`):

    .venv/bin/python -m bench.intake_http --url http://127.0.0.1:8080 --seconds 20

"errors" are connection errors and timeouts; "non-2xx" are answers other than 2xx (e.g. 429
when the rate limits were not raised, see README), each counted once.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
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
    wrk = ensure_wrk()
    print(f"machine: {machine_notes()}")
    prepare_bench_department(amqp)
    print("| concurrency | tickets/s | p50 ms | p95 ms | p99 ms | max ms | errors | non-2xx |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for level in levels:
        out = subprocess.run(
            [wrk, "-t", str(min(level, 2)), "-c", str(level), "-d", f"{seconds}s",
             "--timeout", "10s", "-s", str(LUA), f"{url}/api/tickets"],
            capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        rate = result["requests"] / result["seconds"]
        print(f"| {level} | {rate:.0f} | {result['p50_ms']:.1f} | {result['p95_ms']:.1f} | "
              f"{result['p99_ms']:.1f} | {result['max_ms']:.1f} | {result['errors']} | "
              f"{result['non2xx']} |", flush=True)


def ensure_wrk() -> str:
    """The wrk binary; installs Debian's package when missing and we may (root, apt-get)."""
    found = shutil.which("wrk")
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        print("==> installing Debian package: wrk", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")

        def apt_get(*args: str) -> int:
            return subprocess.run(["apt-get", *args], env=env,
                                  stdout=subprocess.DEVNULL).returncode

        if apt_get("install", "-y", "-q", "wrk") != 0:
            apt_get("update", "-q")
            apt_get("install", "-y", "-q", "wrk")
        found = shutil.which("wrk")
    if not found:
        raise click.ClickException("this benchmark needs wrk: apt-get install wrk")
    return found


if __name__ == "__main__":
    main()
