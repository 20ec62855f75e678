"""Payloads of the intake service's RPC (also used by the portal's REST API)."""
from __future__ import annotations

import base64
import binascii

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from services.common.events import CHANNELS, CSAT_SCORES, LANGUAGES, PRIORITIES, STATUSES
from services.common.validation import (Strict, StrictBool, WholeNumber, line, organization,
                                        single_line, slug, text)

from . import queue as queue_rules
from . import tags as tag_rules
from .attachments import MAX_ATTACHMENT_BYTES
from .domain import EDITABLE_FIELDS, ROLES

# This module is intake's public contract: its RPC payload schemas, and (re-exported "as"
# themselves) what other services and the portal may use besides.  They import nothing else
# of intake: import-linter holds them to it (pyproject.toml).
from .attachments import ALLOWED_TYPES as ALLOWED_TYPES
from .attachments import MAX_ATTACHMENTS_PER_TICKET as MAX_ATTACHMENTS_PER_TICKET
from .canned import PLACEHOLDERS as PLACEHOLDERS
from .domain import STAFF as STAFF
from .domain import allowed_targets as allowed_targets


class Tag(fields.Str):
    """A tag in its one normalised spelling (see tags.normalize_tag)."""

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return tag_rules.normalize_tag(super()._deserialize(value, attr, data, **kwargs))
        except tag_rules.TagError as exc:
            raise ValidationError(str(exc)) from None


class TagList(fields.List):
    """At most 20 tags as sent (checked before duplicates collapse), normalised, unique."""

    MAX_TAGS = 20

    def __init__(self, **kwargs):
        super().__init__(Tag(), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, list) and len(value) > self.MAX_TAGS:
            raise ValidationError(f"At most {self.MAX_TAGS} tags.")
        return list(dict.fromkeys(super()._deserialize(value, attr, data, **kwargs)))


class TicketCreateSchema(Strict):
    subject = line(200, required=True)
    description = text(20_000, required=True)
    department = slug(load_default="general")
    category = slug(load_default=None, allow_none=True)
    priority = fields.Str(load_default="normal", validate=validate.OneOf(PRIORITIES))
    language = fields.Str(load_default="en", validate=validate.OneOf(LANGUAGES))
    tags = TagList(load_default=list)
    requester_email = fields.Email(load_default=None, allow_none=True,
                                   validate=validate.Length(max=254))
    requester_name = line(120, load_default=None, allow_none=True)


class ActorSchema(Strict):
    id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    role = fields.Str(required=True, validate=validate.OneOf(ROLES))
    name = fields.Str(load_default=None, allow_none=True)
    # A department-scoped agent: only tickets of these departments (None: no such limit).
    departments = fields.List(slug(), load_default=None, allow_none=True)


class ColleagueSchema(Strict):
    """A staff member to notify (a mentioned colleague, a follower): the portal resolves
    them from routing's agent profiles."""

    id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    name = line(120, required=True)
    email = fields.Email(required=True, validate=validate.Length(max=254))
    language = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(LANGUAGES))


class MergeSchema(Strict):
    into = WholeNumber(required=True, validate=validate.Range(min=1, max=2**31 - 1),
                       metadata={"description": "the surviving ticket's number"})


class LinkSchema(Strict):
    other = WholeNumber(required=True, validate=validate.Range(min=1, max=2**31 - 1),
                        metadata={"description": "the related ticket's number"})
    linked = StrictBool(load_default=True, metadata={"description": "false removes the link"})


class RequesterSchema(ActorSchema):
    """Who files a ticket, with their customer account's organization and plan (the portal
    reads them from the account; the request body cannot choose them)."""

    organization = organization(load_default=None, allow_none=True)
    plan = slug(load_default=None, allow_none=True)


class CreateTicketCommand(Strict):
    ticket = fields.Nested(TicketCreateSchema, required=True)
    requester = fields.Nested(RequesterSchema, required=True)
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    idempotency_key = fields.Str(load_default=None, allow_none=True,
                                 validate=validate.Length(min=1, max=128))
    # False when filed without signing in: the requester's account (organization, plan)
    # applies only after the sender confirms the address (verify_requester).
    verified = fields.Bool(load_default=True)


# The most filings one create_tickets request carries (a portal process has fewer under way).
FILINGS_PER_REQUEST = 64


class FilingSchema(Strict):
    """One filing of a create_tickets request: a create_ticket command, checked on its own
    (a refused one is that filing's answer), and the correlation id of the request that
    filed it."""

    command = fields.Dict(required=True)
    correlation_id = fields.Str(load_default=None, allow_none=True,
                                validate=validate.Length(min=1, max=128))


class CreateTicketsCommand(Strict):
    filings = fields.List(fields.Nested(FilingSchema), required=True,
                          validate=validate.Length(min=1, max=FILINGS_PER_REQUEST))


class RequesterAccountSchema(Strict):
    """The account a ticket's sender turned out to own, once verified."""

    requester_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    organization = organization(load_default=None, allow_none=True)
    plan = slug(load_default=None, allow_none=True)


class StatusChangeSchema(Strict):
    status = fields.Str(required=True, validate=validate.OneOf(STATUSES))


class MessageCreateSchema(Strict):
    body = text(20_000, required=True)
    public = StrictBool(load_default=True)


class TicketUpdateSchema(Strict):
    """Staff edits; at least one field."""

    priority = fields.Str(validate=validate.OneOf(PRIORITIES))
    category = slug(allow_none=True)
    department = slug()
    tags = TagList()
    organization = organization(allow_none=True)

    @validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError(f"Send at least one of: {', '.join(EDITABLE_FIELDS)}.")


CSAT_COMMENT_MAX = 2000


class CsatSchema(Strict):
    """A satisfaction rating: a whole number 1..5 (5: very satisfied) and an optional comment."""

    score = WholeNumber(required=True, validate=validate.Range(
        min=CSAT_SCORES[0], max=CSAT_SCORES[-1],
        error=f"Must be a whole number from {CSAT_SCORES[0]} to {CSAT_SCORES[-1]}."),
        metadata={"description": "1 (very dissatisfied) .. 5 (very satisfied)"})
    comment = text(CSAT_COMMENT_MAX, load_default=None, allow_none=True)


class Base64Bytes(fields.Str):
    """Base64 text in, bytes out; refuses more than the attachment limit before decoding."""

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) > (MAX_ATTACHMENT_BYTES * 4) // 3 + 8:
            raise ValidationError(f"at most {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB per file")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("Not valid base64.") from None


class AttachmentUploadSchema(Strict):
    filename = text(255, required=True)
    content_type = fields.Str(required=True, validate=validate.Length(min=3, max=100))
    data = Base64Bytes(required=True)
    public = StrictBool(load_default=True)


class CannedCreateSchema(Strict):
    title = line(120, required=True)
    body = text(10_000, required=True)
    language = fields.Str(load_default="en", validate=validate.OneOf(LANGUAGES))
    scope = fields.Str(load_default="personal", validate=validate.OneOf(("personal", "shared")))


class CannedQuerySchema(Strict):
    language = fields.Str(validate=validate.OneOf(LANGUAGES))


class TagRenameSchema(Strict):
    old = Tag(required=True)
    new = Tag(required=True)


class TagQuerySchema(Strict):
    prefix = fields.Str(load_default="", validate=validate.Length(max=50))
    limit = fields.Int(load_default=10, validate=validate.Range(min=1, max=50))


class BounceSchema(Strict):
    """A delivery status notification about a mail the desk sent (mail_trust.Bounce)."""

    recipient = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=320))
    action = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=40))
    status = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=40))
    diagnostic = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=500))
    original_message_id = fields.Str(load_default=None, allow_none=True,
                                     validate=validate.Length(max=998))


class InboundEmailSchema(Strict):
    """What the SMTP listener hands intake (see mail.parse_inbound)."""

    message_id = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=998))
    from_email = fields.Email(required=True)
    from_name = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=120))
    subject = fields.Str(required=True, validate=validate.Length(max=998))
    body = fields.Str(required=True, validate=validate.Length(max=100_000))
    references = fields.List(fields.Str(validate=validate.Length(max=998)), load_default=list)
    language = fields.Str(load_default="en", validate=validate.OneOf(LANGUAGES))
    auto = fields.Str(load_default=None, allow_none=True)
    attachments = fields.List(fields.Dict(), load_default=list)
    # Unchecked plus parts of the recipients; intake verifies their signature.
    reply_tokens = fields.List(fields.Str(validate=validate.Length(max=40)), load_default=list)
    cc = fields.List(fields.Str(validate=validate.Length(max=254)), load_default=list)
    # The trusted receiving relay's DKIM/SPF/DMARC verdict for the From domain.
    sender_authenticated = fields.Bool(load_default=False)
    bounce = fields.Nested(BounceSchema, load_default=None, allow_none=True)


class BounceView(Schema):
    recipient = fields.Str(allow_none=True)
    action = fields.Str(allow_none=True)
    status = fields.Str(allow_none=True)
    diagnostic = fields.Str(allow_none=True)
    received_at = fields.AwareDateTime()


class TicketQuerySchema(Strict):
    status = fields.Str(validate=validate.OneOf(STATUSES))
    department = slug()
    assignee_id = fields.Str(validate=validate.Length(max=64))
    requester_id = fields.Str(validate=validate.Length(max=64))
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Int(load_default=25, validate=validate.Range(min=1, max=100))


QUEUE_SLA_STATES = queue_rules.SLA_STATES  # for the console's filter form


class QueueQuerySchema(Strict):
    """The agents' queue (``queue`` RPC, see queue.py): every list is "any of"; tags "all of".
    ``departments`` None means every department; ``assignee`` an agent id or "none"."""

    departments = fields.List(slug(), load_default=None, allow_none=True,
                              validate=validate.Length(max=100))
    statuses = fields.List(fields.Str(validate=validate.OneOf(STATUSES)), load_default=list,
                           validate=validate.Length(max=len(STATUSES)))
    priorities = fields.List(fields.Str(validate=validate.OneOf(PRIORITIES)), load_default=list,
                             validate=validate.Length(max=len(PRIORITIES)))
    assignee = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=64))
    tags = TagList(load_default=list)
    sla_states = fields.List(fields.Str(validate=validate.OneOf(queue_rules.SLA_STATES)),
                             load_default=list, validate=validate.Length(max=4))
    text = fields.Str(load_default="", validate=validate.Length(max=200))
    sort = fields.Str(load_default="due", validate=validate.OneOf(
        [s for name in queue_rules.SORTS for s in (name, "-" + name)]))
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=10_000))
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=100))


class MessageSchema(Schema):
    id = fields.Str()
    author_id = fields.Str()
    author_role = fields.Str()
    author_name = fields.Str(allow_none=True)
    body = fields.Str()
    public = fields.Bool()
    created_at = fields.AwareDateTime()
    merged_from = fields.Int(allow_none=True)  # came with the ticket merged into this one
    mentions = fields.Pluck("ColleagueView", "id", many=True)  # colleagues named with @


class ColleagueView(Schema):
    id = fields.Str()
    name = fields.Str()


class SlaSchema(Schema):
    policy_id = fields.Str()
    first_response_due = fields.AwareDateTime(allow_none=True)
    resolution_due = fields.AwareDateTime(allow_none=True)
    breached = fields.List(fields.Str())


class CsatView(Schema):
    score = fields.Int()
    comment = fields.Str(allow_none=True)
    satisfied = fields.Bool()
    rated_at = fields.AwareDateTime()


class AttachmentView(Schema):
    id = fields.Str()
    filename = fields.Str()
    content_type = fields.Str()
    size = fields.Int()
    public = fields.Bool()
    message_id = fields.Str(allow_none=True)
    uploaded_by = fields.Str()
    created_at = fields.AwareDateTime()
    merged_from = fields.Int(allow_none=True)


class JsonValue(fields.Raw):
    """Any stored value, with datetimes (also nested, as in a CSAT) as ISO 8601 text."""

    def _serialize(self, value, attr, obj, **kwargs):
        if isinstance(value, dict):
            return {k: self._serialize(v, attr, obj) for k, v in value.items()}
        if isinstance(value, list):
            return [self._serialize(v, attr, obj) for v in value]
        return value.isoformat() if hasattr(value, "isoformat") else value


class AuditView(Schema):
    field = fields.Str()
    old = JsonValue(allow_none=True)
    new = JsonValue(allow_none=True)
    actor_id = fields.Str()
    actor_role = fields.Str()
    actor_name = fields.Str(allow_none=True)
    at = fields.AwareDateTime()


class CannedView(Schema):
    id = fields.Str(attribute="_id")
    title = fields.Str()
    body = fields.Str()
    language = fields.Str()
    scope = fields.Str()
    owner_id = fields.Str()


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
    # False: nothing proved the requester wrote it: filed without signing in and not yet
    # confirmed by the emailed link, or mail without a reply token or a passing relay verdict.
    requester_verified = fields.Bool(dump_default=True)
    assignee_id = fields.Str(allow_none=True)
    assignee_name = fields.Str(allow_none=True)
    sla = fields.Nested(SlaSchema, allow_none=True)
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    first_response_at = fields.AwareDateTime(allow_none=True)
    solved_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    reopened_at = fields.AwareDateTime(allow_none=True)
    organization = fields.Str(allow_none=True)
    plan = fields.Str(allow_none=True)
    csat = fields.Nested(CsatView, allow_none=True)
    follow_up_of = fields.Int(allow_none=True)
    follow_ups = fields.List(fields.Int())
    attachments = fields.List(fields.Nested(AttachmentView))
    messages = fields.List(fields.Nested(MessageSchema))
    followers = fields.List(fields.Str())  # Cc'd people who get the agents' email replies
    bounces = fields.List(fields.Nested(BounceView))  # staff only
    merged_into = fields.Int(allow_none=True)  # closed by a merge: the surviving ticket
    merged_from = fields.List(fields.Int())  # tickets merged into this one
    links = fields.List(fields.Int())  # related tickets (both list each other)
    agent_followers = fields.List(fields.Nested(ColleagueView))  # staff following it


class ReportQuerySchema(Strict):
    since = fields.AwareDateTime(load_default=None, allow_none=True)
    until = fields.AwareDateTime(load_default=None, allow_none=True)
    department = slug(load_default=None, allow_none=True)


class NotificationToggles(Strict):
    """Which emails go out (each kind of mail.TEMPLATES): to the requester, and to the
    assignee when an SLA deadline is near."""

    received = StrictBool(load_default=True, metadata={"description": "request received"})
    replied = StrictBool(load_default=True, metadata={"description": "public staff reply"})
    solved = StrictBool(load_default=True, metadata={"description": "solved, with CSAT link"})
    reminder = StrictBool(load_default=True, metadata={
        "description": "time rule: a pending ticket's silent requester is reminded"})
    sla_warning = StrictBool(load_default=True, metadata={
        "description": "to the assignee: an SLA deadline is near"})
    merged = StrictBool(load_default=True, metadata={
        "description": "the request was merged into another one"})
    mentioned = StrictBool(load_default=True, metadata={
        "description": "to a colleague named with @ in an internal note"})
    followed = StrictBool(load_default=True, metadata={
        "description": "to staff following a ticket: a new message"})


class MailSettingsSchema(Strict):
    """Outbound email as an admin configures it; deployment settings (HELPDESK_MAIL_FROM)
    are the defaults until then.  The SMTP relay itself stays a deployment setting."""

    sender_address = fields.Email(required=True, validate=validate.Length(max=254))
    sender_name = fields.Str(load_default=None, allow_none=True, validate=[
        validate.Length(min=1, max=100), single_line])
    reply_to = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=254))
    notifications = fields.Nested(NotificationToggles,
                                  load_default=lambda: NotificationToggles().load({}))
    default_language = fields.Str(load_default="en", validate=validate.OneOf(LANGUAGES),
                                  metadata={"description": "for tickets whose language has "
                                                           "no template"})

