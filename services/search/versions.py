"""Article versions, with no I/O: every edit of an article is a version (who, when, the whole
text); agents propose, editors publish (now or at a set time); restoring an old version makes a
new one equal to it; a diff shows what changed.

The article record (``articles``) always holds the text the public is served (or, while it
is unpublished, the editors' latest draft); versions waiting for review or for their time live
only in ``article_versions`` and never reach the index."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypedDict

from services.common.results import Refusal

# The versioned text of an article.  The translation link (``translation_of``) is the
# article's, not a version's: restoring an old text never unlinks a translation.
CONTENT = ("title", "body", "language", "category", "tags")

# Who publishes: editors.  Agents propose edits that wait for one.
EDITORS = frozenset({"supervisor", "admin"})
# Internal callers (demo loading, maintenance scripts) act as an editor named "system".
SYSTEM = {"id": "system", "role": "admin", "name": "system"}

Status = Literal["pending", "scheduled", "accepted", "rejected"]
PENDING: Status = "pending"      # proposed by an agent, waiting for an editor
SCHEDULED: Status = "scheduled"  # approved by an editor, published when ``publish_at`` comes
ACCEPTED: Status = "accepted"    # became the article's text (it may have moved on since)
REJECTED: Status = "rejected"    # an editor turned it down
REVIEWABLE = (PENDING, SCHEDULED)


class Version(TypedDict, total=False):
    _id: str
    article_id: str
    number: int
    title: str
    body: str
    language: str
    category: str | None
    tags: list[str]
    status: Status
    author_id: str
    author_name: str | None
    created_at: datetime
    publish_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    restored_from: int | None


def is_editor(actor: dict) -> bool:
    return actor.get("role") in EDITORS


def content_of(doc: dict) -> dict:
    return {name: doc.get(name, [] if name == "tags" else None) for name in CONTENT}


def version_id(article_id: str, number: int) -> str:
    return f"{article_id}@{number}"


def new_version(article_id: str, number: int, content: dict, actor: dict, now: datetime,
                status: Status, publish_at: datetime | None = None,
                restored_from: int | None = None) -> Version:
    decided = status != PENDING
    return Version(_id=version_id(article_id, number), article_id=article_id, number=number,
                   **content_of(content), status=status, author_id=actor["id"],
                   author_name=actor.get("name"), created_at=now, publish_at=publish_at,
                   decided_by=actor["id"] if decided else None,
                   decided_at=now if decided else None, note=None,
                   restored_from=restored_from)


@dataclass(frozen=True)
class Outcome:
    """What a decision does: the version's status, and whether the article takes its text
    now (``apply``), and with it becomes published (``publish``: True, or None to keep the
    article's published flag as it is)."""
    status: Status
    apply: bool
    publish: bool | None = None


def edit_outcome(actor: dict, publish_at: datetime | None, now: datetime) -> Outcome:
    """An edit (or a restore): an agent's waits for review; an editor's is the article's text
    at once (published or draft, as the article was) or at ``publish_at``."""
    if not is_editor(actor):
        if publish_at is not None:
            raise Refusal(403, {"publish_at": ["Only an editor can schedule publishing."]})
        return Outcome(PENDING, apply=False)
    if publish_at is not None and publish_at > now:
        return Outcome(SCHEDULED, apply=False)
    return Outcome(ACCEPTED, apply=True)


def publish_outcome(actor: dict, version: Version, current: int | None,
                    publish_at: datetime | None, now: datetime) -> Outcome:
    """An editor publishes a version waiting for review (or the article's current text, a
    draft): now, or at ``publish_at`` (the timer does it then).  An older text comes back
    by a restore, as a new version."""
    if not is_editor(actor):
        raise Refusal(403, {"_schema": ["Only an editor can publish."]})
    if version["status"] == REJECTED:
        raise Refusal(409, {"_schema": ["This version was rejected; restore it to propose "
                                        "it again."]})
    if version["status"] not in REVIEWABLE and version["number"] != current:
        raise Refusal(409, {"_schema": ["An older version comes back by a restore."]})
    if publish_at is not None and publish_at > now:
        return Outcome(SCHEDULED, apply=False)
    return Outcome(ACCEPTED, apply=True, publish=True)


def reject_check(actor: dict, version: Version) -> None:
    if not is_editor(actor):
        raise Refusal(403, {"_schema": ["Only an editor can reject a version."]})
    if version["status"] not in REVIEWABLE:
        raise Refusal(409, {"_schema": ["Only a pending or scheduled version can be "
                                        "rejected."]})


def decided(outcome: Outcome, actor: dict, now: datetime,
            publish_at: datetime | None) -> dict:
    """The fields a decision sets on a version."""
    return {"status": outcome.status, "decided_by": actor["id"], "decided_at": now,
            "publish_at": publish_at if outcome.status == SCHEDULED else None}


def applied(article: dict, version: Version, outcome: Outcome) -> dict:
    """The article record once it takes ``version``'s text."""
    published = article.get("published", False) if outcome.publish is None else outcome.publish
    return dict(article, **content_of(version), version=version["number"], published=published)


# ---------------------------------------------------------------------------- views

def version_view(version: Version, current: int | None, summary: bool = False) -> dict:
    view = {"number": version["number"], "status": version["status"],
            "current": version["number"] == current,
            "author_id": version["author_id"], "author_name": version.get("author_name"),
            "created_at": version["created_at"].isoformat(),
            "publish_at": _iso(version.get("publish_at")),
            "decided_by": version.get("decided_by"),
            "decided_at": _iso(version.get("decided_at")),
            "restored_from": version.get("restored_from"), "title": version["title"]}
    if not summary:
        view.update({name: version.get(name) for name in CONTENT})
    return view


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# ---------------------------------------------------------------------------- diff

class DiffLine(TypedDict):
    op: Literal["same", "removed", "added"]
    text: str


class FieldDiff(TypedDict):
    field: str
    changed: bool
    lines: list[DiffLine]


def _lines(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [", ".join(value)] if value else []
    return str(value).splitlines()


def diff(old: dict, new: dict) -> list[FieldDiff]:
    """Field by field, line by line (difflib): what ``new`` removed from and added to
    ``old``.  Plain text: whoever shows it escapes it (the templates do)."""
    fields: list[FieldDiff] = []
    for name in CONTENT:
        before, after = _lines(old.get(name)), _lines(new.get(name))
        lines: list[DiffLine] = []
        matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                lines += [DiffLine(op="same", text=t) for t in before[i1:i2]]
                continue
            lines += [DiffLine(op="removed", text=t) for t in before[i1:i2]]
            lines += [DiffLine(op="added", text=t) for t in after[j1:j2]]
        fields.append(FieldDiff(field=name, changed=before != after, lines=lines))
    return fields


# ---------------------------------------------------------------------------- answers

def article_from_answer(answer: dict, article_id: str) -> dict:
    """A draft article from an approved answer (already redacted when it was approved)."""
    return {"_id": article_id, "title": answer["title"], "body": answer["body"],
            "language": answer["language"], "category": None, "tags": [],
            "published": False, "translation_of": None, "from_answer": answer["_id"]}


def promoted_article_id(answer_id: str) -> str:
    """The default id of the article made from an answer: one per answer."""
    return "from-" + answer_id.removeprefix("answer-")[:16]
