"""Payloads of the routing service's RPC."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.validation import Strict, slug, text

from .domain import AVAILABILITY


class DepartmentSchema(Strict):
    id = slug(required=True)
    name = text(100, required=True)
    name_ru = text(100, load_default=None, allow_none=True)


class AgentSchema(Strict):
    id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    name = text(120, required=True)
    email = fields.Email(required=True)
    departments = fields.List(slug(), required=True, validate=validate.Length(min=1))
    skills = fields.List(text(50), load_default=list)
    languages = fields.List(fields.Str(validate=validate.OneOf(("en", "ru"))),
                            load_default=lambda: ["en"])
    capacity = fields.Int(load_default=10, validate=validate.Range(min=0, max=1000))
    status = fields.Str(load_default="online", validate=validate.OneOf(AVAILABILITY))


class AgentView(Schema):
    id = fields.Str(attribute="_id")
    name = fields.Str()
    email = fields.Str()
    departments = fields.List(fields.Str())
    skills = fields.List(fields.Str())
    languages = fields.List(fields.Str())
    capacity = fields.Int()
    load = fields.Int()
    status = fields.Str()
