"""Outbound SMTP on connections kept open between mails: a connection, greeting and EHLO per
mail cost the sender and the relay more than the mail itself."""
from __future__ import annotations

import smtplib
from email.message import EmailMessage

IDLE_CONNECTIONS = 4


class SmtpConnections:
    """Up to ``idle`` open connections to one relay, shared by a process's green threads
    (each send takes one out of the list, so two sends never share a connection)."""

    def __init__(self, host: str, port: int, idle: int = IDLE_CONNECTIONS, timeout: float = 10):
        self.host, self.port, self.timeout, self.max_idle = host, port, timeout, idle
        self.idle: list[smtplib.SMTP] = []

    def send(self, message: EmailMessage) -> None:
        """Deliver or raise.  A kept connection the relay has closed meanwhile (timed out, or
        the relay restarted) is replaced; a fresh connection's failure is the caller's."""
        while self.idle:
            smtp = self.idle.pop()
            try:
                smtp.send_message(message)
            except (smtplib.SMTPServerDisconnected, OSError):
                _close(smtp)
                continue
            except BaseException:
                _close(smtp)
                raise
            self._keep(smtp)
            return
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.send_message(message)
        except BaseException:
            _close(smtp)
            raise
        self._keep(smtp)

    def close(self) -> None:
        while self.idle:
            _close(self.idle.pop())

    def _keep(self, smtp: smtplib.SMTP) -> None:
        if len(self.idle) < self.max_idle:
            self.idle.append(smtp)
        else:
            _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
