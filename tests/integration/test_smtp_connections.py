"""Outbound SMTP (intake's notifications, the portal's account mail) against a real SMTP
server: one connection serves many mails, no more than CONNECTIONS are ever open, and a
connection the relay dropped meanwhile is replaced without losing the mail."""
import asyncio
import smtplib
from email.message import EmailMessage
from types import SimpleNamespace

import pytest
from aiosmtpd.controller import Controller

import eventlet

from services.common.smtp import CONNECTIONS, SmtpConnections
from tests.integration.mail_sink import PlainSink, Sink, free_port


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


class SlowSink(CountingSink):
    """Takes a while over each message and counts how many it was handed at once; refuses
    one recipient."""

    def __init__(self):
        super().__init__()
        self.in_flight = self.most_at_once = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == "refused@example.com":
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        await asyncio.sleep(0.1)
        self.in_flight -= 1
        return await super().handle_DATA(server, session, envelope)


def test_a_batch_of_mails_goes_out_over_several_connections_at_once_each_failure_its_own():
    sink, port = SlowSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    mailer = SmtpConnections("127.0.0.1", port)
    try:
        batch = [mail(n) for n in range(7)]
        batch[3].replace_header("To", "refused@example.com")
        outcomes = mailer.send_all(batch)
        assert [type(o).__name__ for o in outcomes] == \
            ["NoneType"] * 3 + ["SMTPRecipientsRefused"] + ["NoneType"] * 3
        assert sorted(m["Subject"] for m in sink.messages) == \
            sorted(f"[#{n}] hi" for n in range(7) if n != 3)
        assert 1 < sink.most_at_once <= CONNECTIONS
        # A refusal is the relay's answer about one mail, not a broken connection: all kept.
        assert len(mailer.idle) == len(set(sink.peers)) == CONNECTIONS
    finally:
        mailer.close()
        controller.stop()


def test_batches_sent_at_once_share_the_connections_and_none_is_opened_past_them():
    """Two workers' batches at the same moment: each waits for a free connection rather than
    opening more (and closing them again after)."""
    sink, port = SlowSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    mailer = SmtpConnections("127.0.0.1", port)
    try:
        batches = [[mail(100 * b + n) for n in range(6)] for b in range(2)]
        workers = [eventlet.spawn(mailer.send_all, batch) for batch in batches]
        assert [w.wait() for w in workers] == [[None] * 6] * 2
        assert len(sink.messages) == 12
        assert sink.most_at_once == CONNECTIONS
        assert len(set(sink.peers)) == len(mailer.idle) == CONNECTIONS
    finally:
        mailer.close()
        controller.stop()


class Refusing(CountingSink):
    """Refuses what a case names: the sender, a recipient, or every mail's data; and notes
    whether the rest of the envelope had arrived with MAIL (sent pipelined)."""

    def __init__(self, refuse: str):
        super().__init__()
        self.refuse, self.pipelined = refuse, []

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        waiting = bytes(server._reader._buffer)  # what came in with MAIL, not read yet
        self.pipelined.append(b"RCPT TO:" in waiting and b"DATA" in waiting)
        if address == self.refuse:
            return "550 sender refused"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.refuse:
            return "550 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse == "data":
            return "554 refused"
        return await super().handle_DATA(server, session, envelope)


class PlainRefusing(Refusing, PlainSink):
    pass


REFUSALS = [  # (what the relay refuses, the mail's To, what sending it raises)
    ("refused@example.com", "refused@example.com", "SMTPRecipientsRefused"),
    ("refused@example.com", "refused@example.com, c@example.com", None),
    ("desk@example.com", "c@example.com", "SMTPSenderRefused"),
    ("data", "c@example.com", "SMTPDataError"),
]


@pytest.mark.parametrize("handler", [Refusing, PlainRefusing], ids=["pipelining", "plain"])
@pytest.mark.parametrize("refuse,to,raised", REFUSALS)
def test_the_relays_answers_are_told_apart_pipelined_or_not_and_the_connection_serves_on(
        handler, refuse, to, raised):
    sink, port = handler(refuse), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    mailer = SmtpConnections("127.0.0.1", port, size=1)
    try:
        refused = mail(1)
        refused.replace_header("To", to)
        refused.set_content(".a line that begins with a period\n..and two\n.\nend\n")
        if raised is None:
            mailer.send(refused)
        else:
            with pytest.raises(smtplib.SMTPException) as caught:
                mailer.send(refused)
            assert type(caught.value).__name__ == raised
        sink.refuse = None
        mailer.send(mail(2))  # the same connection, its transaction reset
        delivered = [(m["Subject"], rcpts) for m, rcpts in
                     zip(sink.messages, sink.envelope_recipients)]
        assert delivered == ([] if raised else [("[#1] hi", ["c@example.com"])]) + \
            [("[#2] hi", ["c@example.com"])]
        if raised is None:
            assert sink.messages[0].get_content().replace("\r\n", "\n") == \
                ".a line that begins with a period\n..and two\n.\nend\n"
        assert len(set(sink.peers)) == 1
        assert sink.pipelined == [handler is Refusing] * 2
    finally:
        mailer.close()
        controller.stop()
