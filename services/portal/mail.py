"""Outbound mail for account messages (password reset), by plain SMTP."""
from __future__ import annotations

import functools
import logging
import os
import smtplib
from email.message import EmailMessage

from services.common import correlation
from services.common.smtp import SmtpConnections

log = logging.getLogger(__name__)


@functools.cache
def _relay(host: str, port: int) -> SmtpConnections:
    """The process's kept-open connections to the relay."""
    return SmtpConnections(host, port)


def send_mail(to: str, subject: str, body: str) -> bool:
    """True if the SMTP server took the message.  Failures are logged, not raised: whoever
    asked for the mail must not learn from an error whether the address has an account."""
    message = EmailMessage()
    message["From"] = os.environ.get("HELPDESK_MAIL_FROM", "support@helpdesk.localhost")
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    correlation.stamp(message)
    # The same relay settings as intake's notifications (HELPDESK_SMTP_PORT is the port of
    # intake's inbound listener, not a relay).
    host = os.environ.get("HELPDESK_SMTP_RELAY_HOST", "")
    port = int(os.environ.get("HELPDESK_SMTP_RELAY_PORT") or "25")
    if not host:
        log.warning("no HELPDESK_SMTP_RELAY_HOST: mail to %s not sent", to)
        return False
    try:
        _relay(host, port).send(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("could not send mail via %s:%s: %s", host, port, exc)
        return False
    return True
