"""Resident memory of every process of the running local stack (reads its PID files).
Run at rest after `make run`:  .venv/bin/python -m bench.memory"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from bench._common import machine_notes

STATE = Path(os.environ.get("HELPDESK_STATE_DIR", Path(__file__).resolve().parents[1] / ".state/dev"))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return kb / 1024


def rabbit_pid() -> int | None:
    pid_file = STATE / "rabbitmq" / "rabbitmq.pid"
    if pid_file.exists():
        return int(pid_file.read_text().strip())
    return None


def main() -> None:
    print(f"machine: {machine_notes()}")
    rows = []
    for pid_file in sorted((STATE / "pids").glob("*.pid")):
        pid = int(pid_file.read_text().strip())
        if Path(f"/proc/{pid}").exists():
            rows.append((pid_file.stem, rss_mb(pid)))
    if (pid := rabbit_pid()) and Path(f"/proc/{pid}").exists():
        rows.append(("rabbitmq", rss_mb(pid)))
    epmd = subprocess.run(["pgrep", "-x", "epmd"], capture_output=True, text=True).stdout.split()
    rows += [("epmd", rss_mb(int(p))) for p in epmd]
    print("| process | RSS MB |\n|---|---:|")
    for name, mb in rows:
        print(f"| {name} | {mb:.0f} |")
    print(f"| **total** | **{sum(mb for _, mb in rows):.0f}** |")


if __name__ == "__main__":
    main()
