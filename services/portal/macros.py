"""Macros of the agent console: one click applies a canned reply (or internal note), a
status, a priority, tags and "assign to me" to a ticket.  Agents keep personal macros;
supervisors and admins also shared ones (the team's).  Stored in the portal's own database
(collection ``macros``); every step is done by the owning service's RPC, which checks it.

``plan`` is the pure part: which steps a macro takes for a ticket as it is now."""
from __future__ import annotations

import uuid
from typing import TypedDict

from marshmallow import fields, validate, validates_schema, ValidationError

from services.common.events import PRIORITIES, STATUSES
from services.common.validation import Strict, line
from services.intake.schemas import TagList

SCOPES = ("personal", "shared")
SHARING_ROLES = ("supervisor", "admin")


class MacroSchema(Strict):
    title = line(80, required=True)
    scope = fields.Str(load_default="personal", validate=validate.OneOf(SCOPES))
    canned_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=64))
    visibility = fields.Str(load_default="public", validate=validate.OneOf(("public", "internal")))
    status = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(STATUSES))
    priority = fields.Str(load_default=None, allow_none=True,
                          validate=validate.OneOf(PRIORITIES))
    tags = TagList(load_default=list)
    assign_to_me = fields.Bool(load_default=False)

    @validates_schema
    def does_something(self, data, **kwargs):
        if not (data.get("canned_id") or data.get("status") or data.get("priority")
                or data.get("tags") or data.get("assign_to_me")):
            raise ValidationError("A macro must do at least one thing.", "_schema")


class Step(TypedDict, total=False):
    kind: str            # "fields", "status", "assign"
    changes: dict
    status: str


def plan(macro: dict, ticket: dict, me: str) -> list[Step]:
    """The steps after the reply (which goes first, so a "solved" macro answers before it
    solves, and may move the status itself: plan on the ticket as it is after it): fields,
    status, assignee; steps that would change nothing are left out."""
    steps: list[Step] = []
    changes: dict = {}
    if macro.get("priority") and macro["priority"] != ticket.get("priority"):
        changes["priority"] = macro["priority"]
    tags = list(ticket.get("tags") or [])
    added = [t for t in macro.get("tags") or [] if t not in tags]
    if added:
        changes["tags"] = tags + added
    if changes:
        steps.append(Step(kind="fields", changes=changes))
    if macro.get("status") and macro["status"] != ticket.get("status"):
        steps.append(Step(kind="status", status=macro["status"]))
    if macro.get("assign_to_me") and ticket.get("assignee_id") != me:
        steps.append(Step(kind="assign"))
    return steps


def visible_to(item: dict, user: dict) -> bool:
    """Macros and saved views alike: shared ones are everyone's, personal ones their owner's."""
    return item["scope"] == "shared" or item["owner_id"] == user["_id"]


def may_manage(item: dict, user: dict) -> bool:
    if item["scope"] == "shared":
        return user["role"] in SHARING_ROLES
    return item["owner_id"] == user["_id"]


class OwnedStore:
    """A portal collection of personal and shared documents (``macros``, ``views``)."""

    def __init__(self, db, name: str):
        self.collection = db[name]
        self.collection.create_index([("scope", 1), ("owner_id", 1)])

    def for_user(self, user: dict, sort: str = "title") -> list[dict]:
        return list(self.collection.find({"$or": [{"scope": "shared"},
                                                  {"owner_id": user["_id"]}]}).sort(sort, 1))

    def get(self, item_id: str) -> dict | None:
        return self.collection.find_one({"_id": item_id})

    def create(self, item: dict, user: dict) -> dict:
        doc = dict(item, _id=uuid.uuid4().hex, owner_id=user["_id"])
        self.collection.insert_one(doc)
        return doc

    def delete(self, item_id: str) -> None:
        self.collection.delete_one({"_id": item_id})


class SavedViewSchema(Strict):
    """A queue view with its filters, saved under a name (the query string as the form sent
    it; the queue page checks it again on every use)."""

    title = line(80, required=True)
    scope = fields.Str(load_default="personal", validate=validate.OneOf(SCOPES))
    queue = fields.Str(required=True, validate=validate.Length(max=20))
    query = fields.Str(load_default="", validate=validate.Length(max=2000))
