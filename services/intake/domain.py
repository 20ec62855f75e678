"""Ticket rules with no I/O: creation, the lifecycle state machine and who may move it."""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.common.events import CSAT_SATISFIED_FROM, CSAT_SCORES
from services.common.results import Refusal  # noqa: F401 - re-exported for intake rules

ROLES = ("customer", "agent", "supervisor", "admin", "system")
STAFF = frozenset({"agent", "supervisor", "admin"})
ANYONE = frozenset(ROLES)

# (from, to) -> roles allowed to make that move.  Reopening is solved/closed -> open.
TRANSITIONS: dict[tuple[str, str], frozenset[str]] = {
    ("new", "open"): STAFF | {"system"},
    ("new", "pending"): STAFF,
    ("new", "on_hold"): STAFF,
    ("new", "solved"): STAFF | {"customer"},
    ("open", "pending"): STAFF,
    ("open", "on_hold"): STAFF,
    ("open", "solved"): STAFF | {"customer"},
    ("pending", "open"): ANYONE,  # a customer reply reopens the conversation
    ("pending", "on_hold"): STAFF,
    ("pending", "solved"): STAFF | {"customer", "system"},
    ("on_hold", "open"): STAFF | {"system"},
    ("on_hold", "pending"): STAFF,
    ("on_hold", "solved"): STAFF | {"customer"},
    ("solved", "closed"): ANYONE,
    ("solved", "open"): STAFF | {"customer"},
    ("closed", "open"): STAFF | {"customer"},
}

DEFAULT_REOPEN_WINDOW = timedelta(days=14)

# Everything a role may do besides moving the status, in one place so reviews can read it.
PERMISSIONS: dict[str, frozenset[str]] = {
    "write_internal_note": STAFF | {"system"},  # system: the automation's trigger notes
    # priority, category, department, tags, organization; system: the automation's rules
    "edit_fields": STAFF | {"system"},
    "read_audit": STAFF,
    "rate": frozenset({"customer"}),  # only the requester, checked against the ticket too
    "file_follow_up": STAFF | {"customer"},
    "attach": STAFF | {"customer"},
    "manage_tags": frozenset({"supervisor", "admin"}),
    "share_canned": frozenset({"supervisor", "admin"}),
    "use_canned": STAFF,
}


def may(role: str, action: str) -> bool:
    return role in PERMISSIONS[action]


def may_see(ticket: dict, actor: dict) -> bool:
    """Who may read and act on a ticket: the requester; staff, a department-scoped agent
    (``departments`` given) only in those departments; intake's own system actor."""
    if actor["role"] == "system":
        return True
    if actor["role"] in STAFF:
        scope = actor.get("departments")
        return scope is None or ticket["department"] in scope
    return ticket["requester_id"] == actor["id"]


def visible_filters(filters: dict, actor: dict) -> dict | None:
    """The ticket list filters narrowed to what ``actor`` may see (see may_see); None when
    nothing they asked for can be theirs."""
    if actor["role"] not in STAFF:
        return dict(filters, requester_id=actor["id"])  # customers: their own tickets
    scope = actor.get("departments")
    if scope is None:
        return filters
    if "department" in filters:
        return filters if filters["department"] in scope else None
    return dict(filters, department={"$in": sorted(scope)})


def scoped_queue(query: dict, actor: dict) -> dict:
    """The queue query narrowed to a department-scoped agent's departments (see may_see): the
    ones asked for that are theirs, all of theirs when none were asked for."""
    scope = actor.get("departments")
    if scope is None:
        return query
    asked = query.get("departments")
    allowed = sorted(scope) if asked is None else [d for d in asked if d in scope]
    return dict(query, departments=allowed)


class TransitionError(Exception):
    """An illegal move; carries the moves that are allowed from here for this role."""

    def __init__(self, current: str, requested: str, allowed: list[str], reason: str):
        super().__init__(reason)
        self.current, self.requested, self.allowed, self.reason = (
            current, requested, allowed, reason)


def allowed_targets(current: str, role: str) -> list[str]:
    return sorted(to for (frm, to), roles in TRANSITIONS.items()
                  if frm == current and role in roles)


@dataclass(frozen=True)
class Transition:
    old: str
    new: str
    is_reopen: bool


def plan_transition(current: str, requested: str, role: str, *, closed_at: datetime | None,
                    now: datetime, reopen_window: timedelta = DEFAULT_REOPEN_WINDOW
                    ) -> Transition:
    """Decide whether ``role`` may move a ticket from ``current`` to ``requested``."""
    allowed = allowed_targets(current, role)
    if requested == current:
        raise TransitionError(current, requested, allowed, f"ticket is already {current}")
    if requested not in allowed:
        raise TransitionError(current, requested, allowed,
                              f"a {role} cannot move a ticket from {current} to {requested}")
    if current == "closed" and closed_at is not None and now - closed_at > reopen_window:
        raise TransitionError(current, requested, [],
                              "closed too long ago to reopen; file a follow-up ticket")
    return Transition(current, requested,
                      is_reopen=current in ("solved", "closed") and requested == "open")


def format_number(number: int) -> str:
    """Human-friendly ticket reference used in subjects and the UI."""
    return f"#{number}"


def request_digest(fields: dict) -> str:
    """What a retry under the same Idempotency-Key must repeat: the filed fields, canonical."""
    canonical = json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_replay_of(existing: dict, fields: dict) -> bool:
    """True when ``fields`` repeat the request that filed ``existing`` under the same key (a
    retry); False when the key is reused for something else.  Tickets filed before requests
    were remembered count as repeated."""
    return existing.get("idempotency_digest") in (None, request_digest(fields))


def new_ticket(*, ticket_id: str, number: int, fields: dict, requester_id: str, channel: str,
               now: datetime, idempotency_key: str | None, requester_verified: bool = True
               ) -> dict:
    """The stored shape of a freshly filed ticket.  ``requester_verified`` False: filed
    without signing in, so nobody has shown yet that the sender owns the address."""
    return {
        "_id": ticket_id,
        "number": number,
        "subject": fields["subject"],
        "description": fields["description"],
        "department": fields["department"],
        "category": fields.get("category"),
        "priority": fields["priority"],
        "language": fields["language"],
        "tags": fields.get("tags", []),
        "organization": fields.get("organization"),
        "plan": fields.get("plan"),
        "channel": channel,
        "requester_id": requester_id,
        "requester_email": fields.get("requester_email"),
        "requester_name": fields.get("requester_name"),
        "requester_verified": requester_verified,
        "status": "new",
        "assignee_id": None,
        "assignee_name": None,
        "sla": None,
        "idempotency_key": idempotency_key,
        "idempotency_digest": request_digest(fields) if idempotency_key else None,
        "created_at": now,
        "updated_at": now,
        "first_response_at": None,
        "solved_at": None,
        "closed_at": None,
        "reopened_at": None,
        "csat": None,
        "follow_up_of": fields.get("follow_up_of"),
        "follow_ups": [],
        "attachments": [],
        "email_message_ids": fields.get("email_message_ids", []),
        "followers": fields.get("followers", []),
        "messages": [],
    }


def latest_public_reply(ticket: dict) -> str:
    """What a solved ticket's resolution looks like to search: the last public staff reply."""
    for message in reversed(ticket.get("messages", [])):
        if message["public"] and message["author_role"] in STAFF:
            return message["body"]
    return ""


STATE_FIELDS = ("subject", "description", "status", "department", "category", "priority", "tags",
                "language", "requester_id", "assignee_id", "created_at", "updated_at",
                "solved_at")


def ticket_state(ticket: dict) -> dict:
    """The ticket as intake's events carry it (events.TicketState): public messages only, no
    contact details."""
    return {**{name: ticket.get(name) for name in STATE_FIELDS},
            "tags": ticket.get("tags") or [],
            "conversation": [m["body"] for m in ticket.get("messages", []) if m["public"]],
            "last_public_reply": latest_public_reply(ticket)}


# ---------------------------------------------------------------------------- staff edits

EDITABLE_FIELDS = ("priority", "category", "department", "tags", "organization")
# Field changes recorded in the audit history, whatever caused them.
AUDITED_FIELDS = EDITABLE_FIELDS + ("status", "assignee_id", "csat", "follow_ups", "followers",
                                    "merged_into", "merged_from", "links", "agent_followers")


class EditError(Refusal):
    pass


def plan_edit(ticket: dict, changes: dict, role: str) -> dict:
    """The fields that really change: {field: {"old": ..., "new": ...}}; refuses a wrong role,
    a closed ticket, and an edit that changes nothing."""
    if not may(role, "edit_fields"):
        raise EditError(403, {"_schema": [f"a {role} cannot edit ticket fields"]})
    if ticket["status"] == "closed":
        raise EditError(409, {"status": ["the ticket is closed; file a follow-up instead"]})
    diff = field_changes(ticket, changes, EDITABLE_FIELDS)
    if not diff:
        raise EditError(409, {"_schema": ["nothing would change"]})
    return diff


def field_changes(ticket: dict, changes: dict, fields: tuple[str, ...] = AUDITED_FIELDS) -> dict:
    return {name: {"old": ticket.get(name), "new": value} for name, value in changes.items()
            if name in fields and ticket.get(name) != value}


def audit_entries(ticket: dict, diff: dict, actor: dict, at: datetime) -> list[dict]:
    """Append-only history rows, one per changed field."""
    return [{"ticket_id": ticket["_id"], "number": ticket["number"], "field": name,
             "old": change["old"], "new": change["new"], "actor_id": actor["id"],
             "actor_role": actor["role"], "actor_name": actor.get("name"), "at": at}
            for name, change in sorted(diff.items())]


SYSTEM_ACTOR = {"id": "system", "role": "system", "name": None}


def warn_assignee(ticket: dict) -> bool:
    """An SLA warning is mailed to the ticket's assignee while the ticket is still being
    worked on and routing told us where to write."""
    return (ticket["status"] not in ("solved", "closed")
            and ticket.get("assignee_id") is not None and bool(ticket.get("assignee_email")))


# ---------------------------------------------------------------------------- CSAT

class CsatError(EditError):
    pass


def plan_csat(ticket: dict, actor: dict, score: int, comment: str | None,
              now: datetime) -> dict:
    """The requester rates a solved (or closed) ticket once: a score 1..5 (4 and 5 count as
    satisfied) and an optional comment."""
    if type(score) is not int or score not in CSAT_SCORES:  # bool and 5.0 are not scores
        raise CsatError(400, {"score": ["must be a whole number from 1 to 5"]})
    if not may(actor["role"], "rate") or ticket["requester_id"] != actor["id"]:
        raise CsatError(403, {"_schema": ["only the requester can rate this ticket"]})
    if ticket["status"] not in ("solved", "closed"):
        raise CsatError(409, {"status": ["a ticket can be rated once it is solved"]})
    if ticket.get("csat") is not None:
        raise CsatError(409, {"score": ["this ticket has already been rated"]})
    return {"score": score, "comment": comment, "satisfied": score >= CSAT_SATISFIED_FROM,
            "rated_at": now}


# ---------------------------------------------------------------------------- follow-ups

def plan_follow_up(old: dict, actor: dict) -> dict:
    """Fields of a new ticket continuing a closed one (reopening it is no longer possible
    or wanted); the new ticket points back with ``follow_up_of``."""
    if not may(actor["role"], "file_follow_up"):
        raise EditError(403, {"_schema": [f"a {actor['role']} cannot file follow-ups"]})
    if old["status"] != "closed":
        raise EditError(409, {"status": ["only a closed ticket gets a follow-up; reopen it"]})
    return {"subject": f"Follow-up to {format_number(old['number'])}: {old['subject']}"[:200],
            "department": old["department"], "category": old.get("category"),
            "priority": old["priority"], "language": old["language"],
            "tags": list(old.get("tags", [])), "organization": old.get("organization"),
            "plan": old.get("plan"),
            "requester_email": old.get("requester_email"),
            "requester_name": old.get("requester_name"), "follow_up_of": old["number"]}


# ---------------------------------------------------------------------------- CSAT links

# A mailed rating link works this long; a secret retired by rotation is still accepted this
# long after, so no link mailed before a rotation breaks within its validity.
CSAT_LINK_VALIDITY = timedelta(days=30)
# Links mailed to a requester, by purpose: rating a solved ticket, and confirming that the
# sender of a ticket filed without signing in owns the address (as long as a closed ticket can
# be reopened).
CSAT_LINK, CONFIRM_LINK = "csat", "confirm"
LINK_VALIDITY = {CSAT_LINK: CSAT_LINK_VALIDITY, CONFIRM_LINK: timedelta(days=14)}
# Secrets that must never sign links: this project's old public default, and the like.
KNOWN_DEFAULT_SECRETS = frozenset({"change-me-csat-secret", "change-me-mail-token-secret",
                                   "change-me", "secret", "changeme"})
MIN_SECRET_LENGTH = 16


class UnsafeSecret(ValueError):
    """A configured signing secret is public or too short: intake refuses to start."""


def check_secrets(secrets: list[str], setting: str) -> None:
    for secret in secrets:
        if secret in KNOWN_DEFAULT_SECRETS or len(secret) < MIN_SECRET_LENGTH:
            raise UnsafeSecret(
                f"{setting} is a published default or shorter than {MIN_SECRET_LENGTH} "
                f"characters: anyone could sign links with it. Unset it (intake then "
                f"makes a random one at first start and keeps it) or set a long random value, "
                f"e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`.")


def _day(moment: datetime) -> int:
    return int(moment.timestamp() // 86400)


def _signature(purpose: str, number: int, requester_id: str, expires: int, secret: str) -> str:
    return hmac.new(secret.encode(), f"{purpose}:{number}:{requester_id}:{expires}".encode(),
                    hashlib.sha256).hexdigest()[:32]


def link_token(purpose: str, number: int, requester_id: str, secret: str,
               now: datetime) -> str:
    """A token that stands in for the requester's sign-in for one ``purpose`` (LINK_VALIDITY)
    on one ticket, until the expiry day it carries, signed."""
    expires = _day(now + LINK_VALIDITY[purpose])
    return f"{number}.{expires}.{_signature(purpose, number, requester_id, expires, secret)}"


def link_token_number(purpose: str, token: str, requester_of, secrets: list[str],
                      now: datetime) -> int | None:
    """The ticket number a token is for, or None if it is forged, expired or for another
    purpose; ``secrets`` are the current one and those retired within the validity;
    ``requester_of(number)`` looks the requester up (None for an unknown ticket)."""
    number_text, expires_text, signature = (token.split(".") + ["", ""])[:3]
    # ASCII digits only: str.isdigit() also accepts "¹", which int() refuses (found by the fuzzer).
    if not all(t.isascii() and t.isdigit() and len(t) <= 9 for t in (number_text, expires_text)):
        return None
    number, expires = int(number_text), int(expires_text)
    if expires < _day(now):
        return None
    requester_id = requester_of(number)
    if requester_id is None:
        return None
    return number if any(
        hmac.compare_digest(_signature(purpose, number, requester_id, expires, secret),
                            signature)
        for secret in secrets) else None


def csat_token(number: int, requester_id: str, secret: str, now: datetime) -> str:
    """The rating link's token: the requester rates one ticket without signing in."""
    return link_token(CSAT_LINK, number, requester_id, secret, now)


def csat_token_number(token: str, requester_of, secrets: list[str], now: datetime) -> int | None:
    return link_token_number(CSAT_LINK, token, requester_of, secrets, now)


# ---------------------------------------------------------------------------- merge and links

def plan_merge(source: dict, target: dict, actor: dict) -> bool:
    """May ``source`` be merged into ``target`` by ``actor``?  True: do it; False: it already
    was (a retry, nothing to do); raises a Refusal otherwise.  Rules (docs/console.md,
    "Ticket operations"): staff only; not into itself; not a ticket merged already (into
    another one) nor into a merged ticket (merge into its survivor); nothing closed takes
    part (a closed thread cannot grow; a closed duplicate needs no merge); both of the same
    requester, because the survivor's replies go to them (link the tickets otherwise)."""
    if actor["role"] not in STAFF:
        raise EditError(403, {"_schema": [f"a {actor['role']} cannot merge tickets"]})
    if source["number"] == target["number"]:
        raise EditError(409, {"into": ["a ticket cannot be merged into itself"]})
    if source.get("merged_into") == target["number"]:
        return False
    if source.get("merged_into") is not None:
        raise EditError(409, {"number": [
            f"this ticket was already merged into #{source['merged_into']}"]})
    if target.get("merged_into") is not None:
        raise EditError(409, {"into": [
            f"that ticket was merged into #{target['merged_into']}; merge into that one"]})
    if "closed" in (source["status"], target["status"]):
        raise EditError(409, {"into": ["closed tickets cannot be merged"]})
    if source["requester_id"] != target["requester_id"]:
        raise EditError(409, {"into": [
            "tickets of different requesters cannot be merged; link them instead"]})
    return True


def merged_entries(source: dict) -> tuple[list[dict], list[dict]]:
    """What the merged ticket brings to the survivor: its thread with its description as the
    first message, and its files; each entry says where it came from (``merged_from``)."""
    opening = {"id": f"merged-{source['_id']}", "author_id": source["requester_id"],
               "author_role": "customer", "author_name": source.get("requester_name"),
               "body": f"{source['subject']}\n\n{source['description']}", "public": True,
               "created_at": source["created_at"]}
    return ([dict(m, merged_from=source["number"])
             for m in [opening, *source.get("messages", [])]],
            [dict(a, merged_from=source["number"]) for a in source.get("attachments", [])])


def merged_thread(source: dict, target: dict) -> list[dict]:
    """The survivor's thread after the merge: both threads in time order."""
    return sorted(target.get("messages", []) + merged_entries(source)[0],
                  key=lambda m: m["created_at"])


def merge_changes(source: dict, target: dict, now: datetime) -> tuple[dict, dict, dict]:
    """(survivor's new fields, what is pushed onto the survivor's thread and files, the merged
    ticket's new fields).  The push sorts the thread by time in the same write, so a message
    that arrives meanwhile is never lost."""
    messages, files = merged_entries(source)
    survivor = {"merged_from": sorted({*target.get("merged_from", []), source["number"]}),
                "updated_at": now}
    push = {"messages": {"$each": messages, "$sort": {"created_at": 1}},
            "attachments": {"$each": files}}
    merged = {"status": "closed", "closed_at": now, "merged_into": target["number"],
              "updated_at": now}
    return survivor, push, merged


def plan_link(ticket: dict, other: dict, actor: dict, linked: bool) -> bool:
    """Link (``linked`` True) or unlink two related tickets: True when something changes,
    False when it already is so (a retry).  Links are symmetrical: both tickets list each
    other in ``links``."""
    if actor["role"] not in STAFF:
        raise EditError(403, {"_schema": [f"a {actor['role']} cannot link tickets"]})
    if ticket["number"] == other["number"]:
        raise EditError(409, {"other": ["a ticket cannot be linked to itself"]})
    return (other["number"] in ticket.get("links", [])) != linked


def with_link(links: list[int], number: int, linked: bool) -> list[int]:
    return sorted({*links, number} if linked else set(links) - {number})
