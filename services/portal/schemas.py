"""Payloads of the portal's own endpoints (tickets reuse intake's schemas)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.events import LANGUAGES
from services.common.validation import Strict, text


class LoginSchema(Strict):
    email = fields.Email(required=True)
    password = fields.Str(required=True, validate=validate.Length(min=1, max=256))


class SignupSchema(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.Str(required=True, validate=validate.Length(min=10, max=256))
    name = text(120, required=True)
    language = fields.Str(load_default="en", validate=validate.OneOf(LANGUAGES))


class UserView(Schema):
    id = fields.Str(attribute="_id")
    email = fields.Str()
    name = fields.Str()
    role = fields.Str()
    language = fields.Str()


class TokenView(Schema):
    token = fields.Str()
    user = fields.Nested(UserView)


class ErrorView(Schema):
    errors = fields.Dict(keys=fields.Str(), values=fields.Raw())
