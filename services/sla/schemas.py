"""Payloads of the SLA service's RPC."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.events import PRIORITIES
from services.common.validation import Strict, slug, text


class TargetsSchema(Strict):
    first_response = fields.Int(required=True, validate=validate.Range(min=1, max=525_600))
    resolution = fields.Int(required=True, validate=validate.Range(min=1, max=525_600))


class PolicySchema(Strict):
    id = slug(required=True)
    name = text(100, required=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    targets = fields.Nested(TargetsSchema, required=True, metadata={"description": "minutes"})


class ClockView(Schema):
    ticket_id = fields.Str(attribute="_id")
    number = fields.Int()
    policy_id = fields.Str()
    due = fields.Dict(keys=fields.Str(), values=fields.AwareDateTime())
    met = fields.Dict(keys=fields.Str(), values=fields.AwareDateTime())
    breached = fields.List(fields.Str())
    next_due = fields.AwareDateTime(allow_none=True)
