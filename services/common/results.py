"""RPC replies for commands that can be refused: callers get field messages and an HTTP-like
status instead of a remote traceback."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError


def ok(**body: Any) -> dict[str, Any]:
    return {"ok": True, **body}


def fail(status: int, errors: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "status": status, "errors": errors}


def not_found(what: str) -> dict[str, Any]:
    return fail(404, {"_schema": [f"{what} not found"]})


class Refusal(Exception):
    """A command refused with an HTTP-like status and field messages; ``command`` RPCs turn
    it into a ``fail`` result.  Pure code may raise it (no I/O here)."""

    def __init__(self, status: int, errors: dict[str, Any]):
        super().__init__(errors)
        self.status, self.errors = status, errors


def parsed(schema, payload: Any) -> dict:
    """Load a payload or refuse with the schema's field messages (400)."""
    try:
        return schema.load(payload if payload is not None else {})
    except ValidationError as exc:
        raise Refusal(400, exc.messages) from None
