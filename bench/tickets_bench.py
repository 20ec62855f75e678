"""Tickets benchmarks against the real test servers (run inside `deploy/local/stack env`):

  eval "$(deploy/local/stack env --profile test)" && .venv/bin/python -m bench.tickets_bench

1. Thread read latency: one ticket with 200 messages (half internal notes), read by RPC as
   an agent and as the customer (who gets the notes filtered out).
2. Email intake: messages/s through the SMTP listener process into tickets (one sender
   connection, each message a new ticket with a small attachment).
"""
import eventlet

eventlet.monkey_patch()

import os  # noqa: E402
import smtplib  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from pathlib import Path  # noqa: E402

from nameko.standalone.rpc import ClusterRpcProxy  # noqa: E402

from services.common.storage import service_database  # noqa: E402
from services.intake.service import IntakeService  # noqa: E402
from tests.support import delete_vhost, eventually, isolated_config, running  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CUSTOMER = {"id": "bench-cust", "role": "customer", "name": "Bench"}
AGENT = {"id": "bench-agent", "role": "agent", "name": "Agent"}


def percentile(samples, q):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def thread_read(rpc, reads=200):
    number = rpc.intake.create_ticket({"ticket": {"subject": "Long thread",
                                                  "description": "x" * 500},
                                       "requester": CUSTOMER, "channel": "api"})["ticket"]["number"]
    for i in range(200):
        assert rpc.intake.add_message(number, {"body": f"message {i} " + "y" * 300,
                                               "public": i % 2 == 0}, AGENT)["ok"]
    for who in (AGENT, CUSTOMER):
        samples = []
        for _ in range(reads):
            start = time.perf_counter()
            ticket = rpc.intake.get_ticket(number, who)["ticket"]
            samples.append((time.perf_counter() - start) * 1000)
        print(f"thread read as {who['role']:<8} ({len(ticket['messages'])} messages shown): "
              f"median {statistics.median(samples):.1f} ms, p95 {percentile(samples, .95):.1f} ms"
              f", p99 {percentile(samples, .99):.1f} ms over {reads} reads")


def email_intake(config, count=100):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = dict(os.environ, HELPDESK_AMQP_URI=config["AMQP_URI"], HELPDESK_SMTP_PORT=str(port),
               PYTHONPATH=str(ROOT), HELPDESK_LOG_LEVEL="WARNING")
    proc = subprocess.Popen([sys.executable, "-m", "services.intake.smtp_listener"], env=env,
                            cwd=ROOT)
    try:
        eventually(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0)
        start = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            for i in range(count):
                msg = EmailMessage()
                msg["From"], msg["To"] = f"sender{i}@example.com", "help@desk.test"
                msg["Subject"], msg["Message-ID"] = f"Bench mail {i}", f"<bench-{i}@example.com>"
                msg.set_content("The printer jams again. " * 20)
                msg.add_attachment(b"log line\n" * 200, maintype="text", subtype="plain",
                                   filename="printer.log")
                smtp.send_message(msg)
        elapsed = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    filed = service_database(config["MONGO_URI"], config["MONGO_DB"], "intake").tickets \
        .count_documents({"channel": "email"})
    print(f"email intake: {count} messages in {elapsed:.2f} s = {count / elapsed:.1f} msg/s "
          f"({filed} tickets filed, each with its attachment in GridFS)")


def main():
    config = isolated_config()
    try:
        with running(config, IntakeService), ClusterRpcProxy(
                {"AMQP_URI": config["AMQP_URI"], "serializer": "json"}, timeout=30) as rpc:
            thread_read(rpc)
            email_intake(config)
    finally:
        delete_vhost(config["_vhost"])


if __name__ == "__main__":
    main()
