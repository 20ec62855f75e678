"""Outbound SMTP (intake's notifications, the portal's account mail) against a real SMTP
server: one connection serves many mails, and a connection the relay dropped meanwhile is
replaced without losing the mail."""
from email.message import EmailMessage
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller

from services.common.smtp import SmtpConnections
from tests.integration.mail_sink import Sink, free_port


class CountingSink(Sink):
    """Also remembers which client connection (peer address) carried each message."""

    def __init__(self):
        super().__init__()
        self.peers: list = []

    async def handle_DATA(self, server, session, envelope):
        self.peers.append(session.peer)
        return await super().handle_DATA(server, session, envelope)


def mail(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "desk@example.com", "c@example.com", f"[#{n}] hi"
    msg.set_content("body")
    return msg


@pytest.fixture()
def relay():
    """Start/stop a counting sink on one fixed port (a restarted relay keeps its address)."""
    port, running = free_port(), []

    def start():
        sink = CountingSink()
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        running.append(controller)
        return sink

    def stop():
        running.pop().stop()

    yield SimpleNamespace(port=port, start=start, stop=stop)
    while running:
        stop()


def test_many_mails_share_one_connection(relay):
    sink = relay.start()
    mailer = SmtpConnections("127.0.0.1", relay.port)
    for n in range(5):
        mailer.send(mail(n))
    assert [m["Subject"] for m in sink.messages] == [f"[#{n}] hi" for n in range(5)]
    assert len(set(sink.peers)) == 1
    mailer.close()
    assert mailer.idle == []


def test_a_connection_the_relay_dropped_is_replaced_and_the_mail_delivered(relay):
    first = relay.start()
    mailer = SmtpConnections("127.0.0.1", relay.port)
    mailer.send(mail(1))
    relay.stop()                      # the relay restarts: the kept connection is dead
    second = relay.start()
    mailer.send(mail(2))
    assert [m["Subject"] for m in first.messages] == ["[#1] hi"]
    assert [m["Subject"] for m in second.messages] == ["[#2] hi"]
    mailer.close()


def test_a_relay_that_is_down_raises_so_the_event_is_redelivered(relay):
    relay.start()
    mailer = SmtpConnections("127.0.0.1", relay.port)
    mailer.send(mail(1))
    relay.stop()
    with pytest.raises(OSError):
        mailer.send(mail(2))
    assert mailer.idle == []
