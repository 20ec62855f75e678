"""Account actions shared by the API and the pages: sign up, check a password, reset it by an
emailed signed link."""
from __future__ import annotations

import os

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import force_locale, gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from . import domain
from .mail import send_mail
from .web import ApiError

RESET_LINK_MAX_AGE = 3600  # seconds; the articles promise "valid for one hour"
hasher = PasswordHasher()


def sign_up(users, data: dict, base_url: str) -> dict:
    user = users.create(email=data["email"], name=data["name"], role="customer",
                        password_hash=hasher.hash(data["password"]), language=data["language"])
    if user is not None:
        return user
    existing = users.by_email(data["email"])
    if existing and existing["password_hash"] is None:
        # Filed requests before without an account.  Whoever signs up now must prove they own
        # the mailbox before seeing those requests: the password is set by the emailed link.
        send_reset_link(users, data["email"], base_url)
        raise ApiError(409, {"email": [_("You have written to us from this address before: we "
                                         "have emailed you a link to set your password.")]})
    raise ApiError(409, {"email": [_("An account with this email already exists.")]})


def check_password(users, email: str, password: str) -> dict:
    user = users.by_email(email)
    try:
        if user is None or not user["password_hash"]:
            # Same work as a real check, so timing does not tell which emails have accounts.
            hasher.verify(DUMMY_HASH, password)
            raise VerificationError()
        hasher.verify(user["password_hash"], password)
    except (VerificationError, InvalidHashError):
        raise ApiError(401, {"_schema": [_("Wrong email or password.")]}) from None
    return user


DUMMY_HASH = hasher.hash("a password no account has")


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="password-reset")


def send_reset_link(users, email: str, base_url: str) -> None:
    """Mail a link if the account exists; say nothing either way."""
    user = users.by_email(email)
    if user is None or user["role"] is None:
        return
    token = _serializer().dumps({"u": user["_id"],
                                 "f": domain.reset_fingerprint(user["password_hash"])})
    link = f"{os.environ.get('HELPDESK_PUBLIC_URL') or base_url.rstrip('/')}/password/reset/{token}"
    with force_locale(user.get("language") or "en"):
        send_mail(user["email"], _("Reset your Help Center password"),
                  _("Someone (hopefully you) asked to reset the password of %(email)s.\n\n"
                    "Open this link within an hour to choose a new one:\n%(link)s\n\n"
                    "If it was not you, ignore this message: your password stays as it is.",
                    email=user["email"], link=link))


def user_for_reset(users, token: str) -> dict:
    try:
        claims = _serializer().loads(token, max_age=RESET_LINK_MAX_AGE)
    except BadSignature:  # also covers expired links
        claims = None
    user = isinstance(claims, dict) and users.by_id(str(claims.get("u")))
    if not user or claims.get("f") != domain.reset_fingerprint(user["password_hash"]):
        raise ApiError(400, {"token": [_("This link is invalid or expired; ask for a new one.")]})
    return user


def reset_password(users, token: str, password: str) -> dict:
    user = user_for_reset(users, token)
    users.set_password(user["_id"], hasher.hash(password))
    return users.by_id(user["_id"])
