"""Payloads of the portal's own endpoints (tickets reuse intake's schemas)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from services.common.events import LANGUAGES
from services.common.validation import Strict, line, organization, slug, text
from services.intake.schemas import TicketSchema
from services.search.schemas import suggest_session

from .domain import ROLES


class LoginSchema(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.Str(required=True, validate=validate.Length(min=1, max=256))


class SignupSchema(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.Str(required=True, validate=validate.Length(min=10, max=256))
    name = line(120, required=True)
    language = fields.Str(load_default="en", validate=validate.OneOf(LANGUAGES))


class SignupConfirmSchema(Strict):
    token = fields.Str(required=True, validate=validate.Length(min=1, max=512))


class ResetRequestSchema(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class ResetConfirmSchema(Strict):
    token = fields.Str(required=True, validate=validate.Length(min=1, max=512))
    password = fields.Str(required=True, validate=validate.Length(min=10, max=256))


class PageQuerySchema(Strict):
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))


class UserQuerySchema(PageQuerySchema):
    role = fields.Str(validate=validate.OneOf(ROLES))


class ArticleQuerySchema(PageQuerySchema):
    language = fields.Str(validate=validate.OneOf(LANGUAGES))


class RoleChangeSchema(Strict):
    role = fields.Str(required=True, validate=validate.OneOf(ROLES))


class CustomerAccountSchema(Strict):
    """A customer's organization (any name; kept as the slug SLA policies and routing rules
    use) and plan; null clears either."""

    organization = organization(required=True, allow_none=True)
    plan = slug(required=True, allow_none=True)


class FeedbackSchema(Strict):
    """"This solved it" on a suggested article or solved ticket."""

    kind = fields.Str(required=True, validate=validate.OneOf(("article", "ticket", "answer")))
    id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    query = text(500, load_default=None, allow_none=True)
    session = suggest_session(load_default=None, allow_none=True)  # the funnel's visit id


class UserView(Schema):
    id = fields.Str(attribute="_id")
    email = fields.Str()
    name = fields.Str()
    role = fields.Str()
    language = fields.Str()
    organization = fields.Str(allow_none=True)
    plan = fields.Str(allow_none=True)


class TokenView(Schema):
    token = fields.Str()
    user = fields.Nested(UserView)


class AcceptedView(Schema):
    status = fields.Str()


class DepartmentView(Schema):
    id = fields.Str()
    name = fields.Str()
    name_ru = fields.Str(allow_none=True)


class DepartmentsView(Schema):
    departments = fields.List(fields.Nested(DepartmentView))


class TranslationView(Schema):
    id = fields.Str()
    language = fields.Str()
    published = fields.Bool()


class ArticleView(Schema):
    id = fields.Str()
    title = fields.Str()
    body = fields.Str()
    language = fields.Str()
    category = fields.Str(allow_none=True)
    tags = fields.List(fields.Str())
    published = fields.Bool()
    translation_of = fields.Str(allow_none=True)
    translations = fields.List(fields.Nested(TranslationView), metadata={
        "description": "the article in other languages (one article only, not in lists)"})
    version = fields.Int(allow_none=True, metadata={
        "description": "the number of the version whose text this is (see the versions API)"})
    from_answer = fields.Str(allow_none=True, metadata={
        "description": "the approved answer this article was made from, if any"})
    updated_at = fields.Str()


class AnswerView(Schema):
    """An approved answer: a solved ticket's reply an agent approved for reuse, personal data
    removed; nothing links it to the ticket or its requester."""
    id = fields.Str()
    title = fields.Str()
    body = fields.Str()
    language = fields.Str()
    updated_at = fields.Str()


class SuggestionView(Schema):
    kind = fields.Str()
    id = fields.Str()
    number = fields.Int(allow_none=True)
    title = fields.Str()
    snippet = fields.Str(metadata={"description": "HTML-escaped text with <mark> highlights"})
    language = fields.Str(allow_none=True)
    status = fields.Str(allow_none=True, metadata={"description": "tickets only"})
    score = fields.Float(allow_none=True)


class SuggestionsView(Schema):
    results = fields.List(fields.Nested(SuggestionView))
    degraded = fields.Bool()


def page_of(key: str, item: fields.Field, name: str) -> type[Schema]:
    """The paging envelope every list endpoint answers with (see web.paged)."""
    return Schema.from_dict({key: fields.List(item), "total": fields.Int(), "page": fields.Int(),
                             "per_page": fields.Int()}, name=name)


def reply_of(name: str, **fields_: fields.Field) -> type[Schema]:
    """The body web.reply answers with: a service result's fields other than ``ok``."""
    return Schema.from_dict(fields_, name=name)


UserPageView = page_of("users", fields.Nested(UserView), "UserPageView")
ArticlePageView = page_of("articles", fields.Nested(ArticleView), "ArticlePageView")
TicketPageView = page_of("tickets", fields.Nested(TicketSchema), "TicketPageView")


class ErrorView(Schema):
    errors = fields.Dict(keys=fields.Str(), values=fields.Raw())


class AccessSettingsSchema(Strict):
    """Desk-wide access rules an admin sets."""

    department_scoped_agents = fields.Bool(required=True, metadata={
        "description": "agents read and write only tickets of their own departments "
                       "(supervisors and admins: all); on by default"})
