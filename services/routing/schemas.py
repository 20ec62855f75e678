"""Payloads of the routing service's RPC."""
from __future__ import annotations

from marshmallow import Schema, fields, validate, validates_schema, ValidationError

from services.common.events import CHANNELS, LANGUAGES, PRIORITIES, ActorRef
from services.common.validation import Strict, StrictBool, organization, slug, text

from .domain import (ACTIONS, AVAILABILITY, DEFAULT_INCIDENT_SETTINGS, INCIDENT_CANDIDATES,
                     QUEUE_MODES)

# This module is routing's public contract: its RPC payload schemas, and (re-exported "as"
# themselves) what other services and the portal may use besides.  They import nothing else
# of routing: import-linter holds them to it (pyproject.toml).
from .domain import CAPACITY_OVERRIDERS as CAPACITY_OVERRIDERS
from .domain import LIST_OPERATORS as LIST_OPERATORS


class DepartmentSchema(Strict):
    id = slug(required=True)
    name = text(100, required=True)
    name_ru = text(100, load_default=None, allow_none=True)
    queue_mode = fields.Str(load_default="fifo", validate=validate.OneOf(QUEUE_MODES))
    incident_threshold = fields.Int(
        load_default=DEFAULT_INCIDENT_SETTINGS["incident_threshold"],
        validate=validate.Range(min=2, max=INCIDENT_CANDIDATES))
    incident_window_minutes = fields.Int(
        load_default=DEFAULT_INCIDENT_SETTINGS["incident_window_minutes"],
        validate=validate.Range(min=1, max=7 * 24 * 60))
    incident_similarity = fields.Float(
        load_default=DEFAULT_INCIDENT_SETTINGS["incident_similarity"],
        validate=validate.Range(min=0.05, max=1.0))
    incident_detection = StrictBool(load_default=True)


class AgentSchema(Strict):
    id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    name = text(120, required=True)
    email = fields.Email(required=True)
    departments = fields.List(slug(), required=True, validate=validate.Length(min=1))
    skills = fields.List(text(50), load_default=list)
    categories = fields.List(slug(), load_default=list)
    products = fields.List(text(50), load_default=list)
    # Empty skill lists mean "any": a generalist.
    languages = fields.List(fields.Str(validate=validate.OneOf(LANGUAGES)), load_default=list)
    capacity = fields.Int(load_default=10, validate=validate.Range(min=0, max=1000))
    status = fields.Str(load_default="online", validate=validate.OneOf(AVAILABILITY))
    vacation_until = fields.AwareDateTime(load_default=None, allow_none=True)


class AvailabilitySchema(Strict):
    status = fields.Str(required=True, validate=validate.OneOf(AVAILABILITY))
    vacation_until = fields.AwareDateTime(load_default=None, allow_none=True)

    @validates_schema
    def vacation_needs_an_end(self, data, **kwargs):
        if data["status"] == "vacation" and data.get("vacation_until") is None:
            raise ValidationError("Say until when (vacation_until).", "vacation_until")


class AgentView(Schema):
    id = fields.Str(attribute="_id")
    name = fields.Str()
    email = fields.Str()
    departments = fields.List(fields.Str())
    skills = fields.List(fields.Str())
    categories = fields.List(fields.Str())
    products = fields.List(fields.Str())
    languages = fields.List(fields.Str())
    capacity = fields.Int()
    load = fields.Int()
    status = fields.Str()
    vacation_until = fields.AwareDateTime(allow_none=True)


class ConditionSchema(Strict):
    # field and op are checked against the domain's table so the message can list choices.
    field = fields.Str(required=True)
    op = fields.Str(required=True)
    value = fields.Raw(required=True)


class RuleActionsSchema(Strict):
    department = slug()
    category = slug()
    priority = fields.Str(validate=validate.OneOf(PRIORITIES))
    add_tags = fields.List(slug(), validate=validate.Length(min=1, max=20))


assert set(RuleActionsSchema._declared_fields) == set(ACTIONS)


class RuleSchema(Strict):
    id = slug(required=True)
    name = text(120, required=True)
    position = fields.Int(required=True, validate=validate.Range(min=0, max=100_000))
    enabled = StrictBool(load_default=True)
    match = fields.Str(load_default="all", validate=validate.OneOf(("all", "any")))
    stop = StrictBool(load_default=False)
    conditions = fields.List(fields.Nested(ConditionSchema), required=True,
                             validate=validate.Length(max=20))
    actions = fields.Nested(RuleActionsSchema, required=True)


class RuleView(RuleSchema):
    class Meta:
        unknown = "exclude"

    id = fields.Str(attribute="_id")


class DryRunTicketSchema(Strict):
    """A ticket as routing sees it on arrival; everything but the text is optional."""

    subject = fields.Str(required=True, validate=validate.Length(max=500))
    description = fields.Str(load_default="", validate=validate.Length(max=20_000))
    department = slug(load_default=None, allow_none=True)
    category = slug(load_default=None, allow_none=True)
    priority = fields.Str(load_default="normal", validate=validate.OneOf(PRIORITIES))
    channel = fields.Str(load_default="portal", validate=validate.OneOf(CHANNELS))
    language = fields.Str(load_default="en", validate=validate.OneOf(LANGUAGES))
    organization = organization(load_default=None, allow_none=True)
    plan = slug(load_default=None, allow_none=True)
    tags = fields.List(fields.Str(), load_default=list)


class QueueEntryView(Schema):
    ticket_id = fields.Str(attribute="_id")
    number = fields.Int()
    department = fields.Str()
    priority = fields.Str()
    sla_due = fields.AwareDateTime(allow_none=True)
    queued_at = fields.AwareDateTime()


class AlertView(Schema):
    id = fields.Str(attribute="_id")
    kind = fields.Str()
    ticket_ids = fields.List(fields.Str())
    numbers = fields.List(fields.Int(), dump_default=list)
    department = fields.Str(allow_none=True)
    message = fields.Str()
    raised_at = fields.AwareDateTime()


class AssignRequestSchema(Strict):
    """Hand a ticket to this agent (see domain.reassign_refusal for who may)."""

    agent_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    override_capacity = StrictBool(load_default=False, metadata={
        "description": "supervisors and admins: assign even over the agent's capacity"})


class ReassignSchema(AssignRequestSchema):
    actor = fields.Nested(ActorRef, required=True)
