"""Senders who file without signing in have not shown that they own the address they give: their
ticket is marked unverified and their account's organization and plan wait until they confirm
by a signed link mailed to that address (or they file signed in)."""
from __future__ import annotations

from flask import current_app
from flask_babel import force_locale, gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .mail import send_mail
from .web import ApiError, public_url

CONFIRM_LINK_MAX_AGE = 14 * 86400  # seconds: as long as a closed ticket can be reopened


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="ticket-sender-confirm")


def send_confirm_link(ticket: dict, language: str) -> None:
    """Mail the address a ticket was filed from a link that confirms the sender owns it."""
    token = _serializer().dumps({"n": ticket["number"], "u": ticket["requester_id"]})
    link = f"{public_url()}/tickets/confirm/{token}"
    with force_locale(language):
        send_mail(ticket["requester_email"],
                  _("Confirm your request #%(number)s", number=ticket["number"]),
                  _("We have received request #%(number)s, sent from this address without "
                    "signing in.\n\nIf you sent it, open this link to confirm:\n%(link)s\n\n"
                    "If it was not you, ignore this message.",
                    number=ticket["number"], link=link))


def confirmed_sender(token: str) -> tuple[int, str]:
    """(ticket number, requester id) a valid confirm link names; a 400 otherwise."""
    try:
        claims = _serializer().loads(token[:500], max_age=CONFIRM_LINK_MAX_AGE)
        return int(claims["n"]), str(claims["u"])
    except (BadSignature, KeyError, TypeError, ValueError):  # also covers expired links
        raise ApiError(400, {"token": [_("This link is invalid or expired.")]}) from None
