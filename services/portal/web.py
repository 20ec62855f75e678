"""What every portal view needs: error type, payload parsing, auth, and the RPC pool."""
from __future__ import annotations

import functools
from typing import Any, Callable

from flask import g, jsonify, request
from marshmallow import Schema, ValidationError

from services.common.clock import Clock

from . import domain
from .repository import UserRepository
from .rpc import RpcPool


class ApiError(Exception):
    def __init__(self, status: int, errors: dict[str, Any]):
        super().__init__(status)
        self.status, self.errors = status, errors


def load(schema: Schema, data: Any) -> dict:
    if not isinstance(data, dict):
        raise ApiError(400, {"_schema": ["Expected a JSON object."]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ApiError(400, exc.messages) from None


def json_body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, {"_schema": ["Send a JSON object with Content-Type: application/json."]})
    return data


def query_args(schema: Schema) -> dict:
    return load(schema, {k: v for k, v in request.args.items()})


def reply(result: dict, success_status: int = 200, key: str | None = None):
    """Turn an RPC command result (see services.common.results) into an HTTP response."""
    if not result["ok"]:
        raise ApiError(result["status"], result["errors"])
    body = {k: v for k, v in result.items() if k != "ok"}
    return jsonify(body[key] if key else body), success_status


class Portal:
    """Shared collaborators of the views, built once per process."""

    def __init__(self, rpc: RpcPool, users: UserRepository, clock: Clock):
        self.rpc, self.users, self.clock = rpc, users, clock

    def authenticate(self) -> dict | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        user = self.users.user_for_token(domain.token_digest(header[7:].strip()),
                                         self.clock.now())
        if user is None:
            raise ApiError(401, {"_schema": ["Invalid or expired token."]})
        return user

    def requires(self, *roles: str) -> Callable:
        """Signed in (with one of ``roles`` if given); the user is then ``flask.g.user``."""
        def decorator(view):
            @functools.wraps(view)
            def wrapped(*args, **kwargs):
                user = self.authenticate()
                if user is None:
                    raise ApiError(401, {"_schema": ["Sign in first (Authorization: Bearer ...)."]})
                if roles and user["role"] not in roles:
                    raise ApiError(403, {"_schema": ["Your role cannot do this."]})
                g.user = user
                return view(*args, **kwargs)
            return wrapped
        return decorator

    @staticmethod
    def actor(user: dict) -> dict:
        """How the services know who is acting."""
        return {"id": user["_id"], "role": user["role"], "name": user["name"]}
