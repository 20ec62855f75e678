"""Portal rules with no I/O: roles, tokens, and the words customers see about waiting."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

ROLES = ("customer", "agent", "supervisor", "admin")
STAFF = frozenset({"agent", "supervisor", "admin"})
TOKEN_BYTES = 32
# Customers see these groups, not the agents' seven-state workflow.
OPEN_STATUSES = frozenset({"new", "open", "on_hold"})
# What a customer may do to their own ticket from the ticket page, by current status.
CUSTOMER_ACTIONS = {"new": ("solved",), "open": ("solved",), "pending": ("solved",),
                    "on_hold": ("solved",), "solved": ("closed", "open"), "closed": ("open",)}


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


def reset_fingerprint(password_hash: str | None) -> str:
    """Bound into a password-reset link: once the password changes, old links stop working."""
    return hashlib.sha256((password_hash or "no-password").encode()).hexdigest()[:16]


def customer_actions(status: str) -> tuple[str, ...]:
    return CUSTOMER_ACTIONS.get(status, ())


def answer_promise_minutes(ticket: dict) -> int | None:
    """How long we promise to take for the first answer, while the customer still waits for
    it; None once answered or when no SLA applies.  Shown as "we usually answer within ...":
    the customer sees the promise, never a countdown or a breach."""
    sla = ticket.get("sla") or {}
    due, created = sla.get("first_response_due"), ticket.get("created_at")
    if ticket.get("first_response_at") or ticket.get("status") not in OPEN_STATUSES \
            or not due or not created:
        return None
    due, created = (datetime.fromisoformat(v) if isinstance(v, str) else v
                    for v in (due, created))
    return max(1, int((due - created).total_seconds() // 60))


def humane_duration(minutes: int) -> tuple[str, int]:
    """(unit, count) rounded the way people speak: 45 minutes, 2 hours, 3 days."""
    if minutes < 60:
        return "minutes", max(1, minutes)
    if minutes < 48 * 60:
        return "hours", round(minutes / 60)
    return "days", round(minutes / (24 * 60))


def customer_departments(departments: list[dict], agents: list[dict],
                         preferred: str) -> tuple[list[dict], str | None]:
    """What the request form offers: only departments with at least one agent (a new one
    with nobody in it yet would leave its tickets unanswered), and which one is chosen
    before the customer picks: ``preferred`` (the configured default) when offered, else
    "general", else the first offered."""
    staffed = {d for agent in agents for d in agent.get("departments", [])}
    offered = [d for d in departments if d["id"] in staffed]
    ids = [d["id"] for d in offered]
    chosen = next((d for d in (preferred, "general") if d in ids), ids[0] if ids else None)
    return offered, chosen
