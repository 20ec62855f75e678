"""Outbound SMTP on connections kept open between mails: a connection, greeting and EHLO per
mail cost the sender and the relay more than the mail itself."""
from __future__ import annotations

import re
import smtplib
from email.message import EmailMessage

import eventlet
from eventlet.semaphore import Semaphore

# The most connections a process keeps open to the relay, all of them kept between mails.
# A send finding none free waits for one: when a burst's notices went out in several batches
# at once over a pool that opened more and closed those past four, about one mail in seven
# paid for a connection, its greeting, EHLO and QUIT (BENCHMARKS.md, twenty-third round).
CONNECTIONS = 4
# The relay's refusal of this mail (a recipient, the sender, the data): smtplib has reset the
# transaction, so the connection serves the next mail; trying another would be refused too.
ANSWERED = (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused)


class SmtpConnections:
    """Up to ``size`` open connections to one relay, shared by a process's green threads
    (each send takes one out of the list, so two sends never share a connection)."""

    def __init__(self, host: str, port: int, size: int = CONNECTIONS, timeout: float = 10):
        self.host, self.port, self.timeout, self.size = host, port, timeout, size
        self.idle: list[smtplib.SMTP] = []
        self.turns = Semaphore(size)  # one per connection open or being opened

    def send(self, message: EmailMessage) -> None:
        """Deliver or raise.  A kept connection the relay has closed meanwhile (timed out, or
        the relay restarted) is replaced; a fresh connection's failure is the caller's."""
        with self.turns:
            while self.idle:
                if self._sent_on(self.idle.pop(), message, dead_is_retried=True):
                    return
            self._sent_on(PipeliningSMTP(self.host, self.port, timeout=self.timeout), message,
                          dead_is_retried=False)

    def _sent_on(self, smtp: smtplib.SMTP, message: EmailMessage, dead_is_retried: bool
                 ) -> bool:
        """Send on ``smtp`` and keep it, unless it broke.  False: a kept connection was found
        closed (``SMTPServerDisconnected`` is an OSError) and the caller tries another."""
        try:
            smtp.send_message(message)
        except ANSWERED:
            self._keep(smtp)
            raise
        except OSError:
            _close(smtp)
            if dead_is_retried:
                return False
            raise
        except BaseException:
            _close(smtp)
            raise
        self._keep(smtp)
        return True

    def send_all(self, messages: list[EmailMessage]) -> list[Exception | None]:
        """Deliver ``messages`` over up to ``size`` connections at once, and say for each
        what its send raised (None: delivered).  A mail takes two to four round trips, and
        under load each waits for the relay to be scheduled: one at a time, a 20 s burst of
        filings left a thousand notices waiting (BENCHMARKS.md, thirteenth round)."""
        def attempt(message: EmailMessage) -> Exception | None:
            try:
                self.send(message)
            except Exception as exc:  # noqa: BLE001 - returned: the caller records the rest
                return exc
            return None

        return list(eventlet.GreenPool(self.size).imap(attempt, messages))

    def close(self) -> None:
        while self.idle:
            _close(self.idle.pop())

    def _keep(self, smtp: smtplib.SMTP) -> None:
        self.idle.append(smtp)  # never more than ``size``: each send holds a turn


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


class PipeliningSMTP(smtplib.SMTP):
    """smtplib's client, but a mail's envelope (MAIL, each RCPT and DATA) goes in one write
    when the relay offers PIPELINING (RFC 2920): two round trips a mail instead of three and
    one per recipient, each a wait for the relay (a network's round trip to a remote relay;
    under load, the relay's turn for a CPU).  Refusals raise what ``smtplib.SMTP.sendmail``
    raises, after the same reset (or close, when the relay said it is closing: 421)."""

    def sendmail(self, from_addr, to_addrs, msg, mail_options=(), rcpt_options=()):
        self.ehlo_or_helo_if_needed()
        # send_message hands over bytes; anything else takes smtplib's own path.
        if not (isinstance(msg, bytes) and self.does_esmtp and self.has_extn("pipelining")):
            return super().sendmail(from_addr, to_addrs, msg, mail_options, rcpt_options)
        to_addrs = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        mail_options = [*mail_options, *([f"SIZE={len(msg)}"] if self.has_extn("size") else [])]
        if any(option.lower() == "smtputf8" for option in mail_options):
            if not self.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError("SMTPUTF8 not supported by server")
            self.command_encoding = "utf-8"
        self.send("".join([_command("MAIL FROM:" + smtplib.quoteaddr(from_addr), mail_options),
                           *(_command("RCPT TO:" + smtplib.quoteaddr(to), rcpt_options)
                             for to in to_addrs), "DATA\r\n"]))
        sender = self.getreply()
        answers = [self.getreply() for _ in to_addrs]
        data = self.getreply()
        refused = {to: answer for to, answer in zip(to_addrs, answers)
                   if answer[0] not in (250, 251)}
        if sender[0] == 250 and len(refused) < len(to_addrs) and data[0] == 354:
            body = _DOT_STUFFED.sub(b"..", msg)
            self.send(body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
            code, reply = self.getreply()
            if code == 250:
                return refused
            failure, codes = smtplib.SMTPDataError(code, reply), [code]
        else:
            if data[0] == 354:  # taken though nothing can be delivered: an empty mail ends it
                self.send(".\r\n")
                self.getreply()
            failure = (smtplib.SMTPSenderRefused(*sender, from_addr) if sender[0] != 250 else
                       smtplib.SMTPRecipientsRefused(refused) if len(refused) == len(to_addrs)
                       else smtplib.SMTPDataError(*data))
            codes = [sender[0], data[0], *(code for code, _ in answers)]
        if 421 in codes:
            self.close()
        else:
            self._rset()
        raise failure


# A line of the message that begins with a period is sent with one more (RFC 5321, 4.5.2).
_DOT_STUFFED = re.compile(rb"(?m)^\.")


def _command(command: str, options) -> str:
    line = " ".join([command, *options])
    if "\r" in line or "\n" in line:
        raise ValueError(f"command contains a newline: {line!r}")
    return line + "\r\n"
