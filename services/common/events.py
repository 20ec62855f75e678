"""Event contracts: the one place that says which events exist, who publishes them, and what
they carry.  Every event travels as an envelope (event id, type, occurrence time, schema
version) with a type-specific ``data`` body validated by the schemas below, on both sides.

Events are facts in the past tense.  Consumers must be idempotent: delivery is at-least-once.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, TypedDict

from marshmallow import Schema, ValidationError, fields, validate

from .validation import Strict, WholeNumber, shared

SCHEMA_VERSION = 1

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
CHANNELS = ("portal", "api", "email")
LANGUAGES = ("en", "ru")
# CSAT: a score from 1 (very dissatisfied) to 5 (very satisfied); 4 and 5 count as satisfied.
CSAT_SCORES = (1, 2, 3, 4, 5)
CSAT_SATISFIED_FROM = 4

# event type -> publishing service (nameko publishes on the "<service>.events" exchange)
TICKET_CREATED = "ticket_created"
MESSAGE_ADDED = "message_added"
STATUS_CHANGED = "status_changed"
TICKET_SOLVED = "ticket_solved"
TICKET_CLOSED = "ticket_closed"
TICKET_REOPENED = "ticket_reopened"
TICKET_UPDATED = "ticket_updated"
ATTACHMENT_ADDED = "attachment_added"
TICKET_ASSIGNED = "ticket_assigned"
TICKET_UNASSIGNABLE = "ticket_unassignable"
TICKET_RELEASED = "ticket_released"
PRIORITY_CHANGED = "priority_changed"
TICKET_CLASSIFIED = "ticket_classified"
INCIDENT_DECLARED = "incident_declared"
SLA_DEADLINES_SET = "sla_deadlines_set"
SLA_WARNING = "sla_warning"
SLA_BREACHED = "sla_breached"
TICKET_RATED = "ticket_rated"
TICKET_MERGED = "ticket_merged"

EVENT_SOURCE = {
    TICKET_CREATED: "intake", MESSAGE_ADDED: "intake", STATUS_CHANGED: "intake",
    TICKET_SOLVED: "intake", TICKET_CLOSED: "intake", TICKET_REOPENED: "intake",
    TICKET_UPDATED: "intake", ATTACHMENT_ADDED: "intake",
    TICKET_ASSIGNED: "routing", TICKET_UNASSIGNABLE: "routing", TICKET_RELEASED: "routing",
    PRIORITY_CHANGED: "routing",
    TICKET_CLASSIFIED: "routing", INCIDENT_DECLARED: "routing",
    SLA_DEADLINES_SET: "sla", SLA_WARNING: "sla", SLA_BREACHED: "sla",
    TICKET_RATED: "intake", TICKET_MERGED: "intake",
}


class TicketRef(Strict):
    ticket_id = fields.Str(required=True)
    number = fields.Int(required=True)


class TicketState(Strict):
    """A ticket as it stands after the change an intake event announces, public content only
    (no internal notes, no requester contact details): what consumers keep copies of (search
    indexes it), so that no handler calls intake back.  Keep the newest by ``updated_at``."""

    subject = fields.Str(required=True)
    description = fields.Str(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    department = fields.Str(required=True)
    category = fields.Str(load_default=None, allow_none=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    tags = fields.List(fields.Str(), load_default=list)
    language = fields.Str(required=True, validate=validate.OneOf(LANGUAGES))
    requester_id = fields.Str(required=True)
    assignee_id = fields.Str(load_default=None, allow_none=True)
    # The bodies of the public messages, oldest first, and the latest public staff reply
    # (a solved ticket's resolution; "" if there is none).
    conversation = fields.List(fields.Str(), load_default=list)
    last_public_reply = fields.Str(load_default="")
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
    solved_at = fields.AwareDateTime(load_default=None, allow_none=True)


class TicketChange(TicketRef):
    """An intake event about one ticket: it carries the ticket's state after the change."""

    ticket = fields.Nested(TicketState, required=True)


class TicketCreatedData(TicketChange):
    subject = fields.Str(required=True)
    description = fields.Str(required=True)
    department = fields.Str(required=True)
    category = fields.Str(load_default=None, allow_none=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    language = fields.Str(required=True, validate=validate.OneOf(LANGUAGES))
    tags = fields.List(fields.Str(), load_default=list)
    requester_id = fields.Str(required=True)
    created_at = fields.AwareDateTime(required=True)
    # The requester's customer organization and plan, when known: SLA policies can target them.
    organization = fields.Str(load_default=None, allow_none=True)
    plan = fields.Str(load_default=None, allow_none=True)
    # A follow-up of a closed ticket names that ticket's agent: routing prefers them.
    previous_assignee_id = fields.Str(load_default=None, allow_none=True)


class MessageAddedData(TicketChange):
    message_id = fields.Str(required=True)
    author_role = fields.Str(required=True)
    author_id = fields.Str(load_default=None, allow_none=True)
    public = fields.Bool(required=True)
    added_at = fields.AwareDateTime(required=True)
    # Colleagues named with @ in an internal note (the console tells them live).
    mentioned_ids = fields.List(fields.Str(), load_default=list)


class TicketMergedData(TicketChange):
    """Ticket ``merged_number`` was merged into this one (``number``, the survivor): its
    thread and files joined the survivor's, ``ticket`` is the survivor's state after that,
    ``merged_ticket`` the merged one's (closed, also announced by status_changed and
    ticket_closed so clocks stop and assignments end as for any close)."""

    merged_ticket_id = fields.Str(required=True)
    merged_number = fields.Int(required=True)
    merged_ticket = fields.Nested(TicketState, required=True)
    actor_role = fields.Str(required=True)
    merged_at = fields.AwareDateTime(required=True)


class StatusChangedData(TicketChange):
    old_status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    new_status = fields.Str(required=True, validate=validate.OneOf(STATUSES))
    actor_role = fields.Str(required=True)
    department = fields.Str(required=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    assignee_id = fields.Str(load_default=None, allow_none=True)
    changed_at = fields.AwareDateTime(required=True)


class TicketSolvedData(TicketChange):
    """Public content only: internal notes never leave intake in this event."""

    subject = fields.Str(required=True)
    description = fields.Str(required=True)
    resolution = fields.Str(required=True)
    department = fields.Str(required=True)
    category = fields.Str(load_default=None, allow_none=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    language = fields.Str(required=True, validate=validate.OneOf(LANGUAGES))
    tags = fields.List(fields.Str(), load_default=list)
    requester_id = fields.Str(required=True)
    assignee_id = fields.Str(load_default=None, allow_none=True)
    solved_at = fields.AwareDateTime(required=True)


class TicketClosedData(TicketChange):
    closed_at = fields.AwareDateTime(required=True)


class TicketReopenedData(TicketChange):
    department = fields.Str(required=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    previous_assignee_id = fields.Str(load_default=None, allow_none=True)
    reopened_at = fields.AwareDateTime(required=True)


class TicketUpdatedData(TicketChange):
    """Staff edited fields; ``changes`` maps each field to {"old": ..., "new": ...}."""

    changes = fields.Dict(keys=fields.Str(), values=fields.Dict(), required=True)
    actor_role = fields.Str(required=True)
    department = fields.Str(required=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    updated_at = fields.AwareDateTime(required=True)


class AttachmentAddedData(TicketChange):
    """A file attached to a ticket on its own (files sent with a reply or a new ticket come
    with message_added / ticket_created).  No file name: it can be personal, and nobody
    downstream needs it; ``public`` False is a staff-only file."""

    attachment_id = fields.Str(required=True)
    content_type = fields.Str(required=True)
    size = fields.Int(required=True)
    public = fields.Bool(required=True)
    author_role = fields.Str(required=True)
    added_at = fields.AwareDateTime(required=True)


class ActorRef(Strict):
    """A person who made a decision another service records (e.g. in the audit history)."""

    id = fields.Str(required=True)
    role = fields.Str(required=True)
    name = fields.Str(load_default=None, allow_none=True)


class TicketAssignedData(TicketRef):
    agent_id = fields.Str(required=True)
    agent_name = fields.Str(required=True)
    department = fields.Str(required=True)
    assigned_at = fields.AwareDateTime(required=True)
    # None when routing chose the agent; the supervisor or agent who reassigned by hand.
    assigned_by = fields.Nested(ActorRef, load_default=None, allow_none=True)
    # Where and in which language intake mails the assignee notices about this ticket (SLA
    # warnings): the agent's address and the first language of their routing profile (None:
    # no preference, intake's fallback language).
    agent_email = fields.Email(load_default=None, allow_none=True)
    agent_language = fields.Str(load_default=None, allow_none=True,
                                validate=validate.OneOf(LANGUAGES))


class TicketUnassignableData(TicketRef):
    department = fields.Str(required=True)
    reason = fields.Str(required=True)


class TicketReleasedData(TicketRef):
    """The ticket left its agent (it moved to a department where it waits): intake clears its
    assignee if that is still who it records.  Its own event, not a field of
    ``ticket_unassignable``: every new ticket that waits is announced, and only these few
    concern intake."""
    department = fields.Str(required=True)
    previous_agent_id = fields.Str(required=True)


class PriorityChangedData(TicketRef):
    old_priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    new_priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    reason = fields.Str(required=True)


class TicketClassifiedData(TicketRef):
    """Routing rules set these on arrival; intake records them on the ticket."""

    department = fields.Str(required=True)
    category = fields.Str(load_default=None, allow_none=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    tags = fields.List(fields.Str(), load_default=list)
    rule_ids = fields.List(fields.Str(), load_default=list)


class IncidentDeclaredData(Strict):
    """Many similar tickets in a short window: one incident links them."""

    incident_id = fields.Str(required=True)
    ticket_ids = fields.List(fields.Str(), required=True)
    numbers = fields.List(fields.Int(), required=True)
    department = fields.Str(required=True)
    priority = fields.Str(required=True, validate=validate.OneOf(PRIORITIES))
    summary = fields.Str(required=True)
    declared_at = fields.AwareDateTime(required=True)


class SlaDeadlinesSetData(TicketRef):
    """Sent when the clock starts and again whenever a deadline moves (pause and resume,
    priority or policy change); None while paused, met or not owed.  ``version`` grows with
    every change of the ticket's clock: keep the highest seen, ignore older ones."""

    policy_id = fields.Str(required=True)
    first_response_due = fields.AwareDateTime(load_default=None, allow_none=True)
    resolution_due = fields.AwareDateTime(load_default=None, allow_none=True)
    version = fields.Int(load_default=0, validate=validate.Range(min=0))


SLA_TARGETS = ("first_response", "next_response", "resolution")


class SlaAlertData(TicketRef):
    target = fields.Str(required=True, validate=validate.OneOf(SLA_TARGETS))
    due_at = fields.AwareDateTime(required=True)
    policy_id = fields.Str(required=True)
    department = fields.Str(load_default=None, allow_none=True)
    priority = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(PRIORITIES))
    # Escalation the policy asks for: "notify_supervisor", "raise_priority", "reassign".
    actions = fields.List(fields.Str(), load_default=list)


class TicketRatedData(TicketRef):
    """The requester's satisfaction rating (CSAT), given once after solving; feeds reports."""

    score = WholeNumber(required=True, validate=validate.OneOf(CSAT_SCORES))
    satisfied = fields.Bool(required=True)  # score >= CSAT_SATISFIED_FROM
    comment = fields.Str(load_default=None, allow_none=True)
    department = fields.Str(required=True)
    assignee_id = fields.Str(load_default=None, allow_none=True)
    rated_at = fields.AwareDateTime(required=True)


EVENT_SCHEMAS: dict[str, type[Schema]] = {
    TICKET_CREATED: TicketCreatedData, MESSAGE_ADDED: MessageAddedData,
    STATUS_CHANGED: StatusChangedData, TICKET_SOLVED: TicketSolvedData,
    TICKET_CLOSED: TicketClosedData, TICKET_REOPENED: TicketReopenedData,
    TICKET_ASSIGNED: TicketAssignedData, TICKET_UNASSIGNABLE: TicketUnassignableData,
    TICKET_RELEASED: TicketReleasedData,
    PRIORITY_CHANGED: PriorityChangedData, SLA_DEADLINES_SET: SlaDeadlinesSetData,
    TICKET_UPDATED: TicketUpdatedData, TICKET_CLASSIFIED: TicketClassifiedData,
    ATTACHMENT_ADDED: AttachmentAddedData,
    INCIDENT_DECLARED: IncidentDeclaredData,
    SLA_WARNING: SlaAlertData, SLA_BREACHED: SlaAlertData,
    TICKET_RATED: TicketRatedData, TICKET_MERGED: TicketMergedData,
}


class EnvelopeSchema(Strict):
    event_id = fields.Str(required=True)
    event_type = fields.Str(required=True, validate=validate.OneOf(tuple(EVENT_SCHEMAS)))
    version = fields.Int(required=True, validate=validate.Equal(SCHEMA_VERSION))
    occurred_at = fields.AwareDateTime(required=True)
    data = fields.Dict(required=True)


def _schema(event_type: str) -> Schema:
    return shared(EVENT_SCHEMAS[event_type])


_ENVELOPE = EnvelopeSchema()


def new_event(event_type: str, data: dict[str, Any], occurred_at: datetime | None = None,
              event_id: str | None = None) -> dict[str, Any]:
    """Build a JSON-ready envelope; raises ValidationError if ``data`` breaks the contract."""
    schema = _schema(event_type)
    unknown = sorted(set(data) - set(schema.fields))
    if unknown:  # dump() would silently drop them; a misspelt field must fail loudly
        raise ValidationError({name: ["Unknown field."] for name in unknown})
    body = schema.dump(schema.load(schema.dump(data)))
    return {
        "event_id": event_id or uuid.uuid4().hex,
        "event_type": event_type,
        "version": SCHEMA_VERSION,
        "occurred_at": _aware(occurred_at or datetime.now(timezone.utc)).isoformat(),
        "data": body,
    }


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValidationError({"occurred_at": ["Must carry a time zone."]})
    return moment


# Several events of one type published together travel as one message, a bundle:
# ``{"bundle": [envelope, ...], "correlation_ids": [id or None, ...]}``.  RabbitMQ's work is per
# message and per queue it reaches, so a ticket_created fanned out to five queues cost it 2.4
# CPU-ms per event one by one and 0.85 in bundles of four (BENCHMARKS.md, seventeenth round).
# Every consumer takes both forms (``unbundled``); the correlation ids keep each event's trace.
BUNDLE = "bundle"


class Bundle(TypedDict):
    bundle: list[dict[str, Any]]
    correlation_ids: list[str | None]


def bundle(envelopes: list[dict[str, Any]], correlation_ids: list[str | None]) -> Bundle:
    return {BUNDLE: envelopes, "correlation_ids": correlation_ids}


def unbundled(body: Any, correlation_id: str | None) -> list[tuple[Any, str | None]]:
    """A message body's events with their correlation ids (the message's where the bundle
    names none), or the body itself with the message's id.  A body that is no bundle, or a
    malformed one, is handed on whole, to fail validation."""
    if isinstance(body, dict) and isinstance(body.get(BUNDLE), list):
        ids = body.get("correlation_ids")
        if not isinstance(ids, list) or len(ids) != len(body[BUNDLE]):
            ids = [None] * len(body[BUNDLE])
        return [(event, own or correlation_id) for event, own in zip(body[BUNDLE], ids)]
    return [(body, correlation_id)]


def released_of_unassignable(body: bytes) -> bytes | None:
    """An earlier version's ``ticket_unassignable`` envelope that named the agent who held the
    ticket (``previous_agent_id``) as the ``ticket_released`` that says so now; None for any
    other (the ticket simply waits: no business of intake's)."""
    try:
        envelope = json.loads(body)
        data = envelope["data"]
        if envelope["event_type"] != TICKET_UNASSIGNABLE or not data.get("previous_agent_id"):
            return None
        return json.dumps(new_event(
            TICKET_RELEASED, {k: data[k] for k in ("ticket_id", "number", "department",
                                                   "previous_agent_id")},
            datetime.fromisoformat(envelope["occurred_at"]), event_id=envelope["event_id"])
        ).encode()
    except (ValueError, KeyError, TypeError):  # ValidationError is a ValueError
        return None  # broken: its handler would have dropped it too


class Event:
    """A received event: envelope fields plus the validated, typed ``data``, and the
    correlation id it came with (set for the events of a batch, whose worker runs under the
    first one's)."""

    __slots__ = ("event_id", "event_type", "occurred_at", "data", "correlation_id")

    def __init__(self, event_id: str, event_type: str, occurred_at: datetime,
                 data: dict[str, Any]):
        self.event_id, self.event_type = event_id, event_type
        self.occurred_at, self.data = occurred_at, data
        self.correlation_id: str | None = None


def parse_event(event_type: str, payload: dict[str, Any]) -> Event:
    envelope = _ENVELOPE.load(payload)
    if envelope["event_type"] != event_type:
        raise ValidationError({"event_type": [f"expected {event_type}"]})
    data = _schema(event_type).load(envelope["data"])
    return Event(envelope["event_id"], event_type, envelope["occurred_at"], data)
