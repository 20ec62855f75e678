"""The automation service's public contract: the payloads other services (the portal, and
intake for trigger mails) send and receive over RPC, and the names they use.  Other services
import only this module of the automation service; it imports nothing else of it."""
from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import ValidationError, fields, validate, validates, validates_schema

from services.common import events as ev
from services.common.events import PRIORITIES
from services.common.validation import Strict, line, slug, text

# The ticket events a webhook can subscribe to (all carry public content only).
TICKET_EVENTS = (ev.TICKET_CREATED, ev.MESSAGE_ADDED, ev.STATUS_CHANGED, ev.TICKET_SOLVED,
                 ev.TICKET_CLOSED, ev.TICKET_REOPENED, ev.TICKET_UPDATED, ev.TICKET_RATED,
                 ev.TICKET_ASSIGNED)
# Triggers: when they listen (see triggers.MOMENTS), what they read, compare and do.
MOMENT_NAMES = ("created", "updated", "replied", "rated")
CONDITION_FIELDS = ("status", "priority", "department", "category", "channel", "language",
                    "organization", "plan", "requester_email", "assignee_id", "tags",
                    "subject", "requester_verified")
OPERATORS = ("is", "is_not", "in", "not_in", "contains", "not_contains")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EDITABLE = ("priority", "category", "department")
ACTIONS = ("set_field", "add_tags", "assign", "add_note", "email", "webhook")

DAYS = validate.Range(min=1, max=365, error="Must be a whole number of days from {min} to {max}.")
MINUTES = validate.Range(min=1, max=10_080,
                         error="Must be a whole number of minutes from {min} to {max}.")


def _days(**kwargs):
    return fields.Int(strict=True, allow_none=True, validate=DAYS, **kwargs)


class TimeRulesSchema(Strict):
    """The admin's time rules; null switches a rule off."""

    close_solved_after_days = _days(required=True, metadata={
        "description": "a solved ticket is closed this many days later"})
    remind_pending_after_days = _days(required=True, metadata={
        "description": "a pending ticket's silent requester is reminded after this many days"})
    solve_reminded_after_days = _days(required=True, metadata={
        "description": "a reminded pending ticket is solved this many days after the reminder"})
    escalate_unassigned_after_minutes = fields.Int(
        strict=True, allow_none=True, required=True, validate=MINUTES, metadata={
            "description": "a new ticket nobody took is escalated (priority one step up, tag "
                           "'escalated') after this many minutes"})


class WebhookSchema(Strict):
    """A URL that receives signed JSON deliveries of the ticket events it subscribes to (and
    of the triggers that call it).  The secret is write-only."""

    id = slug(required=True)
    url = fields.Url(required=True, schemes={"http", "https"}, require_tld=False,
                     validate=validate.Length(max=2000))
    secret = fields.Str(load_only=True, validate=validate.Length(min=16, max=200),
                        metadata={"description": "HMAC-SHA256 key of X-Helpdesk-Signature; "
                                                 "required for a new webhook, left out to "
                                                 "keep an existing one's"})
    events = fields.List(fields.Str(validate=validate.OneOf(TICKET_EVENTS)),
                         load_default=list, validate=validate.Length(max=len(TICKET_EVENTS)))
    active = fields.Bool(load_default=True)


class DeliveryView(Strict):
    """One delivery of one event (or trigger firing) to one webhook."""

    id = fields.Str(attribute="_id")
    webhook_id = fields.Str()
    url = fields.Str()
    event_type = fields.Str()
    status = fields.Str(metadata={"description": "pending, delivered or dead"})
    attempts = fields.Int()
    last_error = fields.Str(allow_none=True)
    created_at = fields.AwareDateTime()
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    delivered_at = fields.AwareDateTime(allow_none=True)


class DeadLetterView(DeliveryView):
    """A dead letter with the JSON body it kept failing to deliver."""

    body = fields.Str(metadata={"description": "the JSON sent (the same on every attempt)"})


TIME = validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use HH:MM (00:00-23:59).")
TAG = validate.Regexp(r"^[^\s,]{1,50}$", error="A tag is 1-50 characters, no spaces or commas.")


class TriggerConditionSchema(Strict):
    field = fields.Str(required=True, validate=validate.OneOf(CONDITION_FIELDS))
    op = fields.Str(required=True, validate=validate.OneOf(OPERATORS))
    value = fields.Raw(required=True, metadata={
        "description": "a string, true/false (requester_verified), or a list of strings for "
                       "in / not_in (and for 'is' on tags)"})

    @validates("value")
    def _value(self, value, **_):
        items = value if isinstance(value, list) else [value]
        if not 1 <= len(items) <= 50 or not all(
                isinstance(v, (str, bool)) and len(str(v)) <= 200 for v in items):
            raise ValidationError("A string, true/false, or a list of 1-50 strings.")


class TriggerHoursSchema(Strict):
    time_zone = fields.Str(required=True, validate=validate.Length(max=64))
    days = fields.List(fields.Str(validate=validate.OneOf(WEEKDAYS)), required=True,
                       validate=validate.Length(min=1, max=7))
    start = fields.Str(required=True, data_key="from", attribute="from", validate=TIME)
    end = fields.Str(required=True, data_key="to", attribute="to", validate=TIME)
    inside = fields.Bool(load_default=True, metadata={
        "description": "true: only within these hours; false: only outside them"})

    @validates("time_zone")
    def _zone(self, value, **_):
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationError("Unknown time zone, e.g. Europe/Moscow.") from None


class LocalizedText(Strict):
    en = fields.Str(required=True, validate=validate.Length(min=1, max=5000))
    ru = fields.Str(validate=validate.Length(min=1, max=5000))


class TriggerMailSchema(Strict):
    """A trigger's email: to whom, and its text in English and optionally Russian, with the
    canned-response placeholders ($customer_name, $ticket_number, $ticket_subject,
    $agent_name, $department).  Intake sends it (RPC ``send_trigger_mail``)."""

    to = fields.Str(required=True, validate=validate.OneOf(("requester", "assignee",
                                                            "followers")))
    subject = fields.Nested(LocalizedText, required=True)
    body = fields.Nested(LocalizedText, required=True)

    @validates_schema
    def _same_languages(self, data, **_):
        if set(data["subject"]) != set(data["body"]):
            raise ValidationError({"body": ["Give the subject and body in the same languages."]})


class TriggerActionSchema(Strict):
    """set_field {field, value}; add_tags {tags}; add_note {body} (an internal note);
    assign {agent_id} (within the agent's capacity, in the ticket's department);
    email {email: {to, subject, body}}; webhook {webhook_id} (a signed delivery of the
    ticket as the trigger saw it)."""

    type = fields.Str(required=True, validate=validate.OneOf(ACTIONS))
    field = fields.Str(validate=validate.OneOf(EDITABLE))
    value = fields.Str(validate=validate.Length(min=1, max=100))
    tags = fields.List(fields.Str(validate=TAG), validate=validate.Length(min=1, max=20))
    body = text(5000)
    email = fields.Nested(TriggerMailSchema)
    agent_id = fields.Str(validate=validate.Length(min=1, max=64))
    webhook_id = slug()

    @validates_schema
    def _shape(self, data, **_):
        needs = {"set_field": ("field", "value"), "add_tags": ("tags",), "add_note": ("body",),
                 "assign": ("agent_id",), "email": ("email",), "webhook": ("webhook_id",)}[data["type"]]
        missing = {name: ["Required for this action."] for name in needs if name not in data}
        if missing:
            raise ValidationError(missing)
        if data["type"] == "set_field" and data["field"] == "priority" and \
                data["value"] not in PRIORITIES:
            raise ValidationError({"value": [f"One of: {', '.join(PRIORITIES)}."]})


class TriggerSchema(Strict):
    id = slug(required=True)
    name = line(100, required=True)
    position = fields.Int(load_default=100, strict=True,
                          validate=validate.Range(min=0, max=10_000),
                          metadata={"description": "lower runs first"})
    active = fields.Bool(load_default=True)
    on = fields.List(fields.Str(validate=validate.OneOf(MOMENT_NAMES)), required=True,
                     validate=validate.Length(min=1, max=len(MOMENT_NAMES)))
    conditions = fields.List(fields.Nested(TriggerConditionSchema), load_default=list,
                             validate=validate.Length(max=20))
    business_hours = fields.Nested(TriggerHoursSchema, load_default=None, allow_none=True)
    actions = fields.List(fields.Nested(TriggerActionSchema), required=True,
                          validate=validate.Length(min=1, max=10))


class DryRunSchema(Strict):
    trigger = fields.Nested(TriggerSchema, required=True)
    number = fields.Int(required=True, strict=True, validate=validate.Range(min=1),
                        metadata={"description": "the sample ticket"})


class DryRunView(Strict):
    matches = fields.Bool()
    conditions = fields.List(fields.Bool())
    business_hours = fields.Bool(allow_none=True)
    edit = fields.Dict(metadata={"description": "the field changes it would make"})
    actions = fields.List(fields.Str(), metadata={"description": "the action types it would run"})
