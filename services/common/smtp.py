"""Outbound SMTP on connections kept open between mails: a connection, greeting and EHLO per
mail cost the sender and the relay more than the mail itself."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

import eventlet
from eventlet.semaphore import Semaphore

# The most connections a process keeps open to the relay, all of them kept between mails.
# A send finding none free waits for one: when a burst's notices went out in several batches
# at once over a pool that opened more and closed those past four, one mail in eight paid
# for a connection, its greeting, EHLO and QUIT (BENCHMARKS.md, twenty-third round).
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
            self._sent_on(smtplib.SMTP(self.host, self.port, timeout=self.timeout), message,
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
        what its send raised (None: delivered).  A mail takes four round trips, and under load
        each waits for the relay to be scheduled: one at a time, a 20 s burst of filings left
        a thousand notices waiting (BENCHMARKS.md, thirteenth round)."""
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
