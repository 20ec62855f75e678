"""Rules of the workspace's ticket operations with no I/O: who an internal note mentions,
the activity log drawn from intake's audit history, and intake's refusals of merge, link,
follow and department moves in the reader's language."""
from __future__ import annotations

import re
from typing import TypedDict

from flask_babel import gettext as _


class Colleague(TypedDict):
    id: str
    name: str
    email: str
    language: str | None


def handles(colleague: dict) -> list[str]:
    """How a note may name a colleague after ``@``: the local part of their address
    (``@anna``), their full name (``@Anna Petrova``) or the name written together."""
    name = " ".join((colleague.get("name") or "").split())
    found = [colleague.get("email", "").partition("@")[0], name, name.replace(" ", "")]
    return [h for h in dict.fromkeys(found) if h]


def find_mentions(text: str, colleagues: list[dict]) -> list[Colleague]:
    """The colleagues an internal note names with ``@``, each once, in the order of the list;
    a handle must stand alone (``me@anna.example`` names nobody, ``@annabel`` is not anna)."""
    found: list[Colleague] = []
    for colleague in colleagues:
        if not colleague.get("email"):
            continue  # nowhere to tell them
        for handle in handles(colleague):
            if re.search(rf"(?<![\w@.])@{re.escape(handle)}(?![\w@])", text, re.IGNORECASE):
                languages = colleague.get("languages") or []
                found.append({"id": colleague["id"], "name": colleague["name"],
                              "email": colleague["email"],
                              "language": languages[0] if languages else None})
                break
    return found


class Activity(TypedDict):
    kind: str     # solved, reopened, rated, merged_into, merged_from, linked, unlinked, ...
    at: str
    actor: str    # the person's name; "" when none was recorded (see actor_role)
    actor_role: str
    detail: str


SHOWN_FIELDS = ("status", "csat", "merged_into", "merged_from", "links", "department",
                "assignee_id", "priority", "tags", "follow_ups", "agent_followers")


def activity(history: list[dict], agent_names: dict[str, str] | None = None
             ) -> list[Activity]:
    """The workspace's activity log, newest first: one line per recorded change of the
    fields a person follows (intake's audit history), with who and when; assignees by name
    (``agent_names``: id -> name) where known."""
    lines: list[Activity] = []
    for row in history:
        if row["field"] not in SHOWN_FIELDS:
            continue
        old, new = row.get("old"), row.get("new")
        kind, detail = row["field"], new
        if row["field"] == "status":
            kind = {"solved": "solved", "closed": "closed"}.get(new, "status")
            if new == "open" and old in ("solved", "closed"):
                kind = "reopened"
        elif row["field"] == "csat":
            kind, detail = "rated", (new or {}).get("score")
        elif row["field"] in ("links", "merged_from", "follow_ups"):
            added = sorted(set(new or []) - set(old or []))
            removed = sorted(set(old or []) - set(new or []))
            kind = {"links": "linked", "merged_from": "merged_from",
                    "follow_ups": "follow_up"}[row["field"]] if added else "unlinked"
            detail = ", ".join(f"#{n}" for n in (added or removed))
        elif row["field"] == "agent_followers":
            before = {f["id"] for f in old or []}
            after = {f["id"] for f in new or []}
            kind = "followed" if after - before else "unfollowed"
            detail = ", ".join(f["name"] for f in (new or []) + (old or [])
                               if f["id"] in after ^ before)
        elif row["field"] == "tags":
            detail = ", ".join(new or [])
        elif row["field"] == "assignee_id":
            detail = (agent_names or {}).get(new, new) if new else "—"
        lines.append({"kind": kind, "at": row["at"], "actor": row.get("actor_name") or "",
                      "actor_role": row.get("actor_role") or "system",
                      "detail": "" if detail is None else str(detail)})
    return sorted(lines, key=lambda line: line["at"], reverse=True)


# Intake's refusals of these operations (services/intake/domain.py), by their fixed start.
def _known_refusals() -> dict[str, str]:
    return {
        "a ticket cannot be merged into itself": _("A ticket cannot be merged into itself."),
        "this ticket was already merged into": _("This ticket was already merged into another "
                                                 "one."),
        "that ticket was merged into": _("That ticket was merged into another one; merge into "
                                         "the ticket it was merged into."),
        "closed tickets cannot be merged": _("Closed tickets cannot be merged."),
        "tickets of different requesters cannot be merged":
            _("Tickets of different requesters cannot be merged; link them instead."),
        "a ticket cannot be linked to itself": _("A ticket cannot be linked to itself."),
        "a ticket changed meanwhile": _("A ticket changed meanwhile; reload and try again."),
        "ticket not found": _("No ticket with this number that you may see."),
        "the ticket is closed": _("The ticket is closed; reopen it or file a follow-up."),
        "nothing would change": _("Nothing would change."),
        "colleagues can be mentioned in internal notes only":
            _("Colleagues can be mentioned in internal notes only."),
        "Must be a whole number": _("Enter a ticket number."),
        "Must be greater than or equal to 1": _("Enter a ticket number."),
    }


def refusal_messages(errors: dict) -> dict:
    """intake's messages in the reader's language where we know them, by field."""
    known = _known_refusals()

    def one(message: str) -> str:
        return next((text for start, text in known.items() if message.startswith(start)),
                    message)

    return {field: [one(str(m)) for m in messages] if isinstance(messages, list) else messages
            for field, messages in errors.items() if field != "allowed"}
