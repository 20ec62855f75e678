"""Outbound mail for account messages (password reset), by plain SMTP."""
from __future__ import annotations

import logging
import os
import smtplib
from email.message import EmailMessage

log = logging.getLogger(__name__)


def send_mail(to: str, subject: str, body: str) -> bool:
    """True if the SMTP server took the message.  Failures are logged, not raised: whoever
    asked for the mail must not learn from an error whether the address has an account."""
    message = EmailMessage()
    message["From"] = os.environ.get("HELPDESK_MAIL_FROM", "helpdesk@localhost")
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    host = os.environ.get("HELPDESK_SMTP_HOST", "127.0.0.1")
    port = int(os.environ.get("HELPDESK_SMTP_PORT", "25"))
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("could not send mail via %s:%s: %s", host, port, exc)
        return False
    return True
