"""Resident memory of every process of the running local stack (reads its PID files; each
counts its whole process group, e.g. RabbitMQ's script and Erlang VM).
Run at rest after `make run`:  .venv/bin/python -m bench.memory"""
from __future__ import annotations

from bench._common import machine_notes
from deploy.local import stack

STATE = stack.Settings.from_env("dev").state_dir


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        kb = next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return kb / 1024


def main() -> None:
    print(f"machine: {machine_notes()}")
    rows = []
    for pid_file in sorted((STATE / "pids").glob("*.pid")):
        pid = stack._recorded_pid(pid_file)
        if pid:
            rows.append((pid_file.stem, sum(rss_mb(p) for p in stack._members(pid) or [pid])))
    print("| process | RSS MB |\n|---|---:|")
    for name, mb in rows:
        print(f"| {name} | {mb:.0f} |")
    print(f"| **total** | **{sum(mb for _, mb in rows):.0f}** |")


if __name__ == "__main__":
    main()
