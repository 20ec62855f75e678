"""Portal rules with no I/O: roles and what each may do."""
from __future__ import annotations

import hashlib
import secrets

ROLES = ("customer", "agent", "supervisor", "admin")
STAFF = frozenset({"agent", "supervisor", "admin"})
TOKEN_BYTES = 32


def new_token() -> tuple[str, str]:
    """A bearer token and the digest stored in its place (a stolen database holds no tokens)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_digest(token)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def anonymous_requester_id(email: str) -> str:
    return "email:" + email.strip().lower()


def is_staff(role: str) -> bool:
    return role in STAFF
