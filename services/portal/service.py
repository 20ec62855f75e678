"""The portal: the public REST API and the self-service web pages.  Views (in routes/) are
thin: parse with marshmallow, call a service by RPC, shape the reply."""
from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from services.common.clock import Clock

from .repository import UserRepository
from .routes import MODULES
from .rpc import RpcPool
from .web import ApiError, Portal

MAX_BODY_BYTES = 2 * 1024 * 1024
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'")


def create_app(rpc: RpcPool, users: UserRepository, clock: Clock) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.ensure_ascii = False

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return jsonify({"errors": exc.errors}), exc.status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/api/") or request.path == "/healthz":
            return jsonify({"errors": {"_schema": [exc.description]}}), exc.code
        return exc

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    portal = Portal(rpc, users, clock)
    for module in MODULES:
        module.register(app, portal)
    return app
