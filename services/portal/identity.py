"""Account actions shared by the API and the pages: sign up (finished by an emailed link),
check a password, reset it by an emailed signed link.

Nothing a caller sees may tell whether an address has an account.  So sign-up and reset
requests answer at once, the same way for every address, and what depends on the account
(hashing, looking it up, mailing) runs after the answer (``Portal.later``): the owner of the
mailbox learns the rest by mail, and the answer takes the same time either way."""
from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from eventlet import tpool
from flask import current_app
from flask_babel import force_locale, gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer

from . import domain
from .mail import send_mail
from .web import ApiError, public_url

RESET_LINK_MAX_AGE = 3600  # seconds; the articles promise "valid for one hour"
SIGNUP_LINK_MAX_AGE = timedelta(days=1)
hasher = PasswordHasher()


def request_sign_up(users, data: dict, now) -> None:
    """After the answer: a new address, or one that filed requests before without an account,
    gets a link that creates the account (the password is the one chosen now); an address
    with an account gets a note saying so, with where to sign in or reset the password.
    The password is hashed either way, in a native thread: hashing takes tens of ms of CPU,
    which would otherwise hold up this process's next answers for new addresses only."""
    password_hash = tpool.execute(hasher.hash, data["password"])
    existing = users.by_email(data["email"])
    if existing and existing["password_hash"]:
        with force_locale(existing.get("language") or "en"):
            send_mail(existing["email"], _("You already have a Help Center account"),
                      _("Someone (hopefully you) tried to create an account for %(email)s, "
                        "but this address already has one.\n\nSign in: %(signin)s\n"
                        "Forgot the password? Ask for a new one: %(forgot)s\n\n"
                        "If it was not you, ignore this message: nothing has changed.",
                        email=existing["email"], signin=f"{public_url()}/signin",
                        forgot=f"{public_url()}/password/forgot"))
        return
    token, digest = domain.new_token()
    users.save_signup(digest, {"email": data["email"], "name": data["name"],
                               "language": data["language"],
                               "password_hash": password_hash},
                      now + SIGNUP_LINK_MAX_AGE)
    with force_locale(data["language"]):
        send_mail(data["email"], _("Confirm your Help Center account"),
                  _("Someone (hopefully you) asked to create a Help Center account for "
                    "%(email)s.\n\nOpen this link within a day to finish:\n%(link)s\n\n"
                    "If it was not you, ignore this message: no account is created.",
                    email=data["email"], link=f"{public_url()}/signup/confirm/{token}"))


def confirm_sign_up(users, token: str, now) -> dict:
    """The emailed link proves the mailbox: the account is created (or, for an address that
    filed requests before, given its password).  A link works once."""
    pending = users.take_signup(domain.token_digest(token), now)
    if pending is None:
        raise ApiError(400, {"token": [_("This link is invalid or expired; sign up again.")]})
    fields = {k: pending[k] for k in ("email", "name", "language", "password_hash")}
    user = users.create(role="customer", **fields) or users.claim(**fields)
    if user is None:
        raise ApiError(409, {"email": [_("An account with this email already exists.")]})
    return user


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


def send_reset_link(users, email: str) -> None:
    """After the answer: mail a link if the account exists, else nothing."""
    user = users.by_email(email)
    if user is None or user["role"] is None:
        return
    token = _serializer().dumps({"u": user["_id"],
                                 "f": domain.reset_fingerprint(user["password_hash"])})
    with force_locale(user.get("language") or "en"):
        send_mail(user["email"], _("Reset your Help Center password"),
                  _("Someone (hopefully you) asked to reset the password of %(email)s.\n\n"
                    "Open this link within an hour to choose a new one:\n%(link)s\n\n"
                    "If it was not you, ignore this message: your password stays as it is.",
                    email=user["email"], link=f"{public_url()}/password/reset/{token}"))


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
