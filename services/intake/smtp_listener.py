"""The email channel's front door: an SMTP server (aiosmtpd) that reads each message and hands
it to intake by RPC.  Intake decides ticket-or-reply; this process only speaks SMTP.

Run: ``python -m services.intake.smtp_listener`` (port from HELPDESK_SMTP_PORT).
Auto-replies are accepted (so the sender's server does not retry) and dropped; delivery
status notifications go to intake, which records them on the ticket that bounced; a malformed or refused message gets a permanent 5xx so the sender learns why.
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from aiosmtpd.controller import Controller

from services.common import logs

from . import mail
from . import mail_trust as trust

log = logging.getLogger("intake.smtp")


def _summary(errors) -> str:
    """One line of the refusal reasons for the SMTP reply."""
    if isinstance(errors, dict):
        return "; ".join(f"{k}: {_summary(v)}" for k, v in errors.items())
    if isinstance(errors, list):
        return ", ".join(_summary(e) for e in errors)
    return str(errors)


class IntakeHandler:
    """aiosmtpd handler; ``deliver(parsed) -> result`` is the intake RPC (blocking)."""

    def __init__(self, deliver: Callable[[dict], dict],
                 trusted_authserv_ids: frozenset[str] = frozenset()):
        self.deliver = deliver
        self.trusted_authserv_ids = trusted_authserv_ids
        # One worker: the RPC proxy is not thread-safe, and order per sender is kept.
        self.executor = ThreadPoolExecutor(max_workers=1)

    async def handle_DATA(self, server, session, envelope) -> str:
        try:
            parsed = mail.parse_inbound(envelope.original_content or envelope.content,
                                        envelope.mail_from, envelope.rcpt_tos,
                                        self.trusted_authserv_ids)
        except mail.MalformedEmail as exc:
            return f"550 5.6.0 {exc}"
        if parsed["auto"] and not parsed["bounce"]:
            log.info("ignored inbound mail from %s: %s", envelope.mail_from, parsed["auto"])
            return "250 2.0.0 Accepted (automatic message, not filed)"
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self.executor, self.deliver, parsed)
        except Exception:  # noqa: BLE001 - intake unreachable: the sender's server retries
            log.exception("intake did not take the message")
            return "451 4.3.0 Temporarily unable to file the message; try again later"
        if result["ok"]:
            number = (result.get("ticket") or {}).get("number", result.get("number"))
            return f"250 2.0.0 {result.get('action', 'accepted')} #{number}"
        if result["status"] >= 500:
            return "451 4.3.0 Temporarily unable to file the message; try again later"
        return f"550 5.7.1 Not accepted: {_summary(result['errors'])}"[:500]


def rpc_deliver(amqp_uri: str) -> Callable[[dict], dict]:
    from nameko.standalone.rpc import ClusterRpcProxy

    holder = ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=30)
    proxy = holder.start()
    return lambda parsed: proxy.intake.receive_email(parsed)


def start(deliver: Callable[[dict], dict], host: str, port: int,
          trusted_authserv_ids: frozenset[str] = frozenset()) -> Controller:
    controller = Controller(IntakeHandler(deliver, trusted_authserv_ids), hostname=host,
                            port=port,
                            data_size_limit=mail.MAX_INBOUND_BYTES)
    controller.start()
    return controller


def main() -> None:
    logs.configure("smtp")
    host = os.environ.get("HELPDESK_SMTP_HOST", "127.0.0.1")
    port = int(os.environ.get("HELPDESK_SMTP_PORT", "2525"))
    # Authentication-Results from these relays (their authserv-id) are believed; see
    # docs/tickets.md, "Who may reply by email".
    trusted = trust.trusted_ids(os.environ.get("HELPDESK_MAIL_TRUSTED_AUTHSERV_IDS"))
    controller = start(rpc_deliver(os.environ["HELPDESK_AMQP_URI"]), host, port, trusted)
    log.info("SMTP listener on %s:%s", host, port)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
