"""Senders who file without signing in have not shown that they own the address they give: their
ticket is marked unverified and their account's organization and plan wait until they confirm
by a signed link mailed to that address (or they file signed in).  Intake mails the link with
its acknowledgement of the ticket and signs it (see intake's ``confirmed_sender``)."""
from __future__ import annotations

import re

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from .web import ApiError

# Intake's tokens: "<number>.<expiry day>.<signature>".
INTAKE_TOKEN = re.compile(r"^\d{1,9}\.\d{1,9}\.[0-9a-f]{32}$")
# Links the portal itself signed and mailed before 2026-12-05 stay good for their 14 days;
# this and the serializer can go after 2026-12-19.
PORTAL_LINK_MAX_AGE = 14 * 86400  # seconds


def _portal_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="ticket-sender-confirm")


def confirmed_sender(rpc, token: str) -> tuple[int, str]:
    """(ticket number, requester id) a valid confirm link names; a 400 otherwise."""
    invalid = ApiError(400, {"token": [_("This link is invalid or expired.")]})
    token = token[:500]
    if INTAKE_TOKEN.match(token):
        found = rpc.call("intake", "confirmed_sender", token)
        if not found["ok"]:
            raise invalid
        return found["number"], found["requester_id"]
    try:
        claims = _portal_serializer().loads(token, max_age=PORTAL_LINK_MAX_AGE)
        return int(claims["n"]), str(claims["u"])
    except (BadSignature, KeyError, TypeError, ValueError):  # also covers expired links
        raise invalid from None
