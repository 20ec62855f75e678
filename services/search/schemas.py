"""Payloads of the search service's RPC (also used by the portal's REST API)."""
from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from services.common.events import LANGUAGES, PRIORITIES, STATUSES
from services.common.validation import Strict, StrictBool, slug, text

from .domain import SORTS, clean_query
from .funnel import SESSION


class _QueryText(fields.Str):
    """Words to match: control characters dropped, must keep something after that."""

    def _deserialize(self, value, attr, data, **kwargs):
        cleaned = clean_query(super()._deserialize(value, attr, data, **kwargs))
        if not cleaned:
            raise ValidationError("Type some words to search for.")
        return cleaned


def query_text(max_length: int, **kwargs) -> fields.Str:
    return _QueryText(validate=validate.Length(max=max_length), **kwargs)


def suggest_session(**kwargs) -> fields.Str:
    """The random id of one visit to the ticket form (see funnel.py)."""
    return fields.Str(validate=validate.Regexp(SESSION, error="Not a suggest session id."),
                      **kwargs)


class SuggestQuerySchema(Strict):
    q = query_text(500, required=True)
    language = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(LANGUAGES))
    limit = fields.Int(load_default=5, validate=validate.Range(min=1, max=20))
    session = suggest_session(load_default=None, allow_none=True)


class SearchQuerySchema(Strict):
    q = query_text(500, load_default=None)
    kind = fields.Str(load_default=None, validate=validate.OneOf(("ticket", "article")))
    status = fields.Str(validate=validate.OneOf(STATUSES))
    priority = fields.Str(validate=validate.OneOf(PRIORITIES))
    department = slug()
    category = slug()
    language = fields.Str(validate=validate.OneOf(LANGUAGES))
    assignee_id = fields.Str(validate=validate.Length(min=1, max=64))
    tags = fields.List(text(50), validate=validate.Length(max=10))
    created_from = fields.AwareDateTime()
    created_to = fields.AwareDateTime()
    sort = fields.Str(load_default="relevance", validate=validate.OneOf(tuple(SORTS)))
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=500))
    per_page = fields.Int(load_default=20, validate=validate.Range(min=1, max=100))

    @validates_schema
    def _deep_pages(self, data, **kwargs):
        if data["page"] * data["per_page"] > 10_000:
            raise ValidationError("Narrow the search: at most 10,000 results can be paged.",
                                  "page")


class SimilarLimitSchema(Strict):
    limit = fields.Int(load_default=5, validate=validate.Range(min=1, max=20))


class SimilarQuerySchema(SimilarLimitSchema):
    ticket_id = fields.Str(load_default=None, validate=validate.Length(min=1, max=64))
    text = query_text(20_000, load_default=None)

    @validates_schema
    def _some_source(self, data, **kwargs):
        if not (data["ticket_id"] or data["text"]):
            raise ValidationError("Give ticket_id, text or both.", "_schema")


class SuggestionFeedbackSchema(Strict):
    """"Did this solve it?" on one suggestion."""

    q = query_text(500, required=True)
    result_kind = fields.Str(required=True,
                             validate=validate.OneOf(("ticket", "article", "answer")))
    result_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    solved = StrictBool(required=True)
    session = suggest_session(load_default=None, allow_none=True)


class AnswerDraftSchema(Strict):
    """A solved ticket to turn into a reusable answer; ``names`` are the people the ticket
    knows (requester, agents), removed from the text with the other personal data."""
    number = fields.Int(required=True, validate=validate.Range(min=1))
    names = fields.List(text(200), load_default=list, validate=validate.Length(max=50))


class AnswerApprovalSchema(AnswerDraftSchema):
    title = text(200, required=True)
    body = text(20_000, required=True)


class ArticleSchema(Strict):
    id = slug(required=True)
    title = text(200, required=True)
    body = text(50_000, required=True)
    language = fields.Str(required=True, validate=validate.OneOf(LANGUAGES))
    category = slug(load_default=None, allow_none=True)
    tags = fields.List(text(50), load_default=list, validate=validate.Length(max=20))
    published = StrictBool(load_default=True)
    translation_of = slug(load_default=None, allow_none=True)


class ArticleEditSchema(Strict):
    """Partial edit: only the fields given change."""

    title = text(200)
    body = text(50_000)
    language = fields.Str(validate=validate.OneOf(LANGUAGES))
    category = slug(allow_none=True)
    tags = fields.List(text(50), validate=validate.Length(max=20))
    translation_of = slug(allow_none=True)
    # Editors only: the edit becomes the article's text at this time instead of now.
    publish_at = fields.AwareDateTime(allow_none=True)


class ArticleListSchema(Strict):
    language = fields.Str(validate=validate.OneOf(LANGUAGES))
    category = slug()
    tag = text(50)
    published = fields.Bool()


# ---------------------------------------------------------------------------- knowledge loop

RESULT_KINDS = ("ticket", "article", "answer")


class SuggestOpenedSchema(Strict):
    """A suggested answer opened from the ticket form (the funnel's "opened" step)."""
    session = suggest_session(required=True)
    result_kind = fields.Str(required=True, validate=validate.OneOf(RESULT_KINDS))
    result_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))


class SuggestFiledSchema(Strict):
    """A ticket filed from the form of a suggest visit (the funnel's last step)."""
    session = suggest_session(required=True)
    number = fields.Int(required=True, validate=validate.Range(min=1))


class FunnelQuerySchema(Strict):
    since = fields.AwareDateTime(required=True)
    until = fields.AwareDateTime(required=True)
    language = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(LANGUAGES))

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data["since"] >= data["until"]:
            raise ValidationError("Must be after since.", "until")


class GapQuerySchema(Strict):
    days = fields.Int(load_default=30, validate=validate.Range(min=1, max=365))
    limit = fields.Int(load_default=20, validate=validate.Range(min=1, max=100))


class GapTicketSchema(Strict):
    number = fields.Int(required=True, validate=validate.Range(min=1))
    names = fields.List(text(200), load_default=list, validate=validate.Length(max=50))


class GapDraftSchema(Strict):
    """A gap group turned into draft articles: its solved tickets (with the names each one
    knows, removed with the other personal data) and its unanswered questions."""
    tickets = fields.List(fields.Nested(GapTicketSchema), required=True,
                          validate=validate.Length(min=1, max=200))
    questions = fields.List(suggest_session(), load_default=list,
                            validate=validate.Length(max=600))


# ---------------------------------------------------------------------------- article versions

class VersionPublishSchema(Strict):
    """An editor publishes a version now, or at ``publish_at`` (a time in the future)."""
    publish_at = fields.AwareDateTime(load_default=None, allow_none=True)


class VersionRestoreSchema(VersionPublishSchema):
    """A restore is an edit back to an old text (an editor may schedule it too)."""


class VersionRejectSchema(Strict):
    note = text(500, load_default=None, allow_none=True)


class VersionDiffSchema(Strict):
    """Compare a version with an older one (default: the one before it)."""
    against = fields.Int(load_default=None, allow_none=True,
                         validate=validate.Range(min=1, max=1_000_000))


class AnswerPromotionSchema(Strict):
    """Make a draft article from an approved answer (``id``: the new article's, optional)."""
    answer_id = fields.Str(required=True, validate=validate.Regexp(
        r"^answer-[0-9a-f]{32}$", error="No such approved answer."))
    id = slug(load_default=None, allow_none=True)
