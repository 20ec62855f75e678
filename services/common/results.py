"""RPC replies for commands that can be refused: callers get field messages and an HTTP-like
status instead of a remote traceback."""
from __future__ import annotations

from typing import Any


def ok(**body: Any) -> dict[str, Any]:
    return {"ok": True, **body}


def fail(status: int, errors: dict[str, Any]) -> dict[str, Any]:
    return {"ok": False, "status": status, "errors": errors}


def not_found(what: str) -> dict[str, Any]:
    return fail(404, {"_schema": [f"{what} not found"]})
