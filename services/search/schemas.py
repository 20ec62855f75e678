"""Payloads of the search service's RPC."""
from __future__ import annotations

from marshmallow import fields, validate

from services.common.events import LANGUAGES
from services.common.validation import Strict, slug, text


class SuggestQuerySchema(Strict):
    q = text(500, required=True)
    language = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(LANGUAGES))
    limit = fields.Int(load_default=5, validate=validate.Range(min=1, max=20))


class ArticleSchema(Strict):
    id = slug(required=True)
    title = text(200, required=True)
    body = text(50_000, required=True)
    language = fields.Str(required=True, validate=validate.OneOf(LANGUAGES))
    category = slug(load_default=None, allow_none=True)
    tags = fields.List(text(50), load_default=list)
    published = fields.Bool(load_default=True)
    translation_of = slug(load_default=None, allow_none=True)
