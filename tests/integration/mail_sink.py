"""A real SMTP server on 127.0.0.1 that keeps what it receives (the tests' outbound relay)."""
import socket
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller

from deploy.local.maildir_sink import OffersPipelining


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Sink(OffersPipelining):
    """Collects every message; ``port`` is where it listens once started.  Takes commands
    pipelined, as the demo's relay and real ones do (PlainSink: one that does not)."""

    def __init__(self):
        self.messages: list = []
        self.envelope_recipients: list[list[str]] = []  # per message, as the relay was told
        self.port: int | None = None

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        self.envelope_recipients.append([a.lower() for a in envelope.rcpt_tos])
        return "250 OK"

    def delivered_to(self, address: str) -> list:
        """Messages the relay was asked to deliver to ``address`` (To, Cc or Bcc)."""
        return [m for m, rcpts in zip(self.messages, self.envelope_recipients)
                if address.lower() in rcpts]

    def about(self, number: int) -> list:
        return [m for m in self.messages if f"[#{number}]" in m["Subject"]]


class PlainSink(Sink):
    """A relay that does not offer PIPELINING: each command waits for its answer."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        return responses


def running_sink():
    """A started sink and a function that stops it."""
    handler, port = Sink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    return handler, controller.stop
