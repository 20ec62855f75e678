"""Correlation ids: one id follows a request from the portal's HTTP request (``X-Request-ID``,
accepted from the client or made here, and returned) through nameko's RPC and event headers
(``context_data``, sent as the AMQP header ``nameko.correlation_id``) into every log line and
outgoing mail of every service that works on it.

The current id and ticket number live in context variables: each eventlet green thread (a
portal request, a nameko worker) has its own context, so concurrent work never mixes them.
"""
from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from typing import Any

HEADER = "X-Request-ID"
# Key in nameko's context_data; nameko sends it as the AMQP header "nameko.correlation_id".
CONTEXT_KEY = "correlation_id"
# Ids a client may choose: short, printable, safe in a header and a log line.
_ACCEPTED = re.compile(r"[A-Za-z0-9._:-]{1,128}")

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
_ticket_number: ContextVar[int | None] = ContextVar("ticket_number", default=None)
_service: ContextVar[str | None] = ContextVar("service", default=None)


def new_id() -> str:
    return uuid.uuid4().hex


def accept(value: str | None) -> str:
    """The client's id if it is an acceptable one, else a new id."""
    return value if value and _ACCEPTED.fullmatch(value) else new_id()


def bind(correlation_id: str | None, *, ticket: int | None = None,
         service: str | None = None) -> None:
    """Make these the current green thread's ids (a worker or request starts with none)."""
    _correlation_id.set(correlation_id)
    _ticket_number.set(ticket)
    if service is not None:
        _service.set(service)


def note_ticket(number: int | None) -> None:
    """The ticket the current work is about, once it is known (e.g. just filed)."""
    if isinstance(number, int) and not isinstance(number, bool):
        _ticket_number.set(number)


def current() -> str | None:
    return _correlation_id.get()


def ticket() -> int | None:
    return _ticket_number.get()


def service() -> str | None:
    return _service.get()


def ticket_in(arguments: dict[str, Any]) -> int | None:
    """The ticket number an entrypoint's arguments (by parameter name) name: an RPC's
    ``number``, or ``number`` in a payload dict or an event envelope's ``data``."""
    candidates = [arguments.get("number")]
    for arg in arguments.values():
        if isinstance(arg, dict):
            data = arg.get("data")
            candidates += [arg.get("number"), data.get("number") if isinstance(data, dict) else None]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def stamp(message, correlation_id: str | None = None) -> None:
    """Put the correlation id (by default the current one) on an outgoing mail
    (``X-Request-ID``), so a delivery problem can be traced back to the request that caused
    the mail."""
    correlation_id = correlation_id or current()
    if correlation_id and HEADER not in message:
        message[HEADER] = correlation_id
