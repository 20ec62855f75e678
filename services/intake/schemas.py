"""Payloads of the intake service's RPC (also used by the portal's REST API)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.events import CHANNELS, LANGUAGES, PRIORITIES, STATUSES
from services.common.validation import Strict, slug, text

from .domain import ROLES


class TicketCreateSchema(Strict):
    subject = text(200, required=True)
    description = text(20_000, required=True)
    department = slug(load_default="general")
    category = slug(load_default=None, allow_none=True)
    priority = fields.Str(load_default="normal", validate=validate.OneOf(PRIORITIES))
    language = fields.Str(load_default="en", validate=validate.OneOf(LANGUAGES))
    tags = fields.List(text(50), load_default=list, validate=validate.Length(max=20))
    requester_email = fields.Email(load_default=None, allow_none=True,
                                   validate=validate.Length(max=254))
    requester_name = text(120, load_default=None, allow_none=True)


class ActorSchema(Strict):
    id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    role = fields.Str(required=True, validate=validate.OneOf(ROLES))
    name = fields.Str(load_default=None, allow_none=True)


class CreateTicketCommand(Strict):
    ticket = fields.Nested(TicketCreateSchema, required=True)
    requester = fields.Nested(ActorSchema, required=True)
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    idempotency_key = fields.Str(load_default=None, allow_none=True,
                                 validate=validate.Length(min=1, max=128))


class StatusChangeSchema(Strict):
    status = fields.Str(required=True, validate=validate.OneOf(STATUSES))


class MessageCreateSchema(Strict):
    body = text(20_000, required=True)
    public = fields.Bool(load_default=True)


class TicketQuerySchema(Strict):
    status = fields.Str(validate=validate.OneOf(STATUSES))
    department = slug()
    assignee_id = fields.Str(validate=validate.Length(max=64))
    requester_id = fields.Str(validate=validate.Length(max=64))
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))


class MessageSchema(Schema):
    id = fields.Str()
    author_id = fields.Str()
    author_role = fields.Str()
    author_name = fields.Str(allow_none=True)
    body = fields.Str()
    public = fields.Bool()
    created_at = fields.AwareDateTime()


class SlaSchema(Schema):
    policy_id = fields.Str()
    first_response_due = fields.AwareDateTime(allow_none=True)
    resolution_due = fields.AwareDateTime(allow_none=True)
    breached = fields.List(fields.Str())


class TicketSchema(Schema):
    """A ticket as the outside world sees it (internal notes filtered by the caller)."""

    id = fields.Str(attribute="_id")
    number = fields.Int()
    subject = fields.Str()
    description = fields.Str()
    department = fields.Str()
    category = fields.Str(allow_none=True)
    priority = fields.Str()
    language = fields.Str()
    tags = fields.List(fields.Str())
    channel = fields.Str()
    status = fields.Str()
    requester_id = fields.Str()
    requester_email = fields.Str(allow_none=True)
    requester_name = fields.Str(allow_none=True)
    assignee_id = fields.Str(allow_none=True)
    assignee_name = fields.Str(allow_none=True)
    sla = fields.Nested(SlaSchema, allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    first_response_at = fields.AwareDateTime(allow_none=True)
    solved_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    messages = fields.List(fields.Nested(MessageSchema))


class ReportQuerySchema(Strict):
    since = fields.AwareDateTime(load_default=None, allow_none=True)
    until = fields.AwareDateTime(load_default=None, allow_none=True)
    department = slug(load_default=None, allow_none=True)
