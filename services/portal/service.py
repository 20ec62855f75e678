"""The portal: the public REST API and the self-service web pages.  Views are thin: parse with
marshmallow, call a service by RPC, shape the reply."""
from __future__ import annotations

import functools
from typing import Any, Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, g, jsonify, render_template, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException

from services.common.clock import Clock
from services.intake.schemas import (MessageCreateSchema, StatusChangeSchema, TicketCreateSchema,
                                     TicketQuerySchema)
from services.search.schemas import SuggestQuerySchema

from . import domain
from .i18n import translator
from .openapi import build_spec, docs_page
from .repository import UserRepository
from .rpc import RpcPool
from .schemas import LoginSchema, SignupSchema, TokenView, UserView

MAX_BODY_BYTES = 2 * 1024 * 1024


class ApiError(Exception):
    def __init__(self, status: int, errors: dict[str, Any]):
        super().__init__(status)
        self.status, self.errors = status, errors


def _load(schema: Schema, data: Any) -> dict:
    if not isinstance(data, dict):
        raise ApiError(400, {"_schema": ["Expected a JSON object."]})
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise ApiError(400, exc.messages) from None


def _json_body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, {"_schema": ["Send a JSON object with Content-Type: application/json."]})
    return data


def _query_args(schema: Schema) -> dict:
    return _load(schema, {k: v for k, v in request.args.items()})


def _reply(result: dict, success_status: int = 200, key: str | None = None):
    """Turn an RPC command result into an HTTP response."""
    if not result["ok"]:
        raise ApiError(result["status"], result["errors"])
    body = {k: v for k, v in result.items() if k != "ok"}
    return jsonify(body[key] if key else body), success_status


def create_app(rpc: RpcPool, users: UserRepository, clock: Clock) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.ensure_ascii = False
    hasher = PasswordHasher()
    spec = build_spec()

    # ------------------------------------------------------------------ plumbing

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
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    def authenticate() -> dict | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        user = users.user_for_token(domain.token_digest(header[7:].strip()), clock.now())
        if user is None:
            raise ApiError(401, {"_schema": ["Invalid or expired token."]})
        return user

    def requires(*roles: str) -> Callable:
        def decorator(view):
            @functools.wraps(view)
            def wrapped(*args, **kwargs):
                user = authenticate()
                if user is None:
                    raise ApiError(401, {"_schema": ["Sign in first (Authorization: Bearer ...)."]})
                if roles and user["role"] not in roles:
                    raise ApiError(403, {"_schema": ["Your role cannot do this."]})
                g.user = user
                return view(*args, **kwargs)
            return wrapped
        return decorator

    def actor(user: dict) -> dict:
        return {"id": user["_id"], "role": user["role"], "name": user["name"]}

    # ------------------------------------------------------------------ health and docs

    @app.get("/healthz")
    def healthz():
        problems = {}
        for service in ("intake", "routing", "sla", "search"):
            try:
                rpc.call(service, "ping")
            except Exception as exc:  # noqa: BLE001 - report any failure as unhealthy
                problems[service] = [type(exc).__name__]
        try:
            users.db.command("ping")
        except Exception as exc:  # noqa: BLE001
            problems["mongo"] = [type(exc).__name__]
        if problems:
            return jsonify({"status": "degraded", "errors": problems}), 503
        return jsonify({"status": "ok"})

    @app.get("/api/openapi.json")
    def openapi():
        return jsonify(spec)

    @app.get("/api/docs")
    def api_docs():
        return docs_page(spec)

    # ------------------------------------------------------------------ accounts

    @app.post("/api/auth/signup")
    def signup():
        data = _load(SignupSchema(), _json_body())
        user = users.create(email=data["email"], name=data["name"], role="customer",
                            password_hash=hasher.hash(data["password"]), language=data["language"])
        if user is None:
            existing = users.by_email(data["email"])
            if existing and existing["password_hash"] is None:
                # Filed tickets anonymously before: claim the account with a password now.
                users.set_password(existing["_id"], hasher.hash(data["password"]))
                user = existing
            else:
                raise ApiError(409, {"email": ["An account with this email already exists."]})
        return jsonify(UserView().dump(user)), 201

    @app.post("/api/auth/token")
    def login():
        data = _load(LoginSchema(), _json_body())
        user = users.by_email(data["email"])
        try:
            if user is None or not user["password_hash"]:
                raise VerificationError()
            hasher.verify(user["password_hash"], data["password"])
        except (VerificationError, InvalidHashError):
            raise ApiError(401, {"_schema": ["Wrong email or password."]}) from None
        token, digest = domain.new_token()
        users.save_token(digest, user["_id"], clock.now())
        return jsonify(TokenView().dump({"token": token, "user": user})), 201

    @app.get("/api/me")
    @requires()
    def me():
        return jsonify(UserView().dump(g.user))

    # ------------------------------------------------------------------ tickets

    def file_ticket(data: dict, user: dict | None, channel: str) -> dict:
        """Shared by the API and the web form; anonymous requesters are known by email."""
        if user is None:
            if not data.get("requester_email"):
                raise ApiError(400, {"requester_email": ["Required when not signed in."]})
            email = data["requester_email"]
            user = users.by_email(email) or users.create(
                email=email, name=data.get("requester_name") or email.split("@")[0],
                role="customer", password_hash=None, language=data["language"]
            ) or users.by_email(email)  # created concurrently by another request
            if user["role"] != "customer":
                raise ApiError(401, {"_schema": ["Staff must sign in to file tickets."]})
        data["requester_email"] = data.get("requester_email") or user["email"]
        data["requester_name"] = data.get("requester_name") or user["name"]
        result = rpc.call("intake", "create_ticket", {
            "ticket": TicketCreateSchema().dump(data), "requester": actor(user),
            "channel": channel, "idempotency_key": request.headers.get("Idempotency-Key")})
        if not result["ok"]:
            raise ApiError(result["status"], result["errors"])
        return result

    @app.post("/api/tickets")
    def create_ticket():
        data = _load(TicketCreateSchema(), _json_body())
        result = file_ticket(data, authenticate(), "api")
        return jsonify(result["ticket"]), 201 if result["created"] else 200

    @app.get("/api/tickets")
    @requires()
    def list_tickets():
        return _reply(rpc.call("intake", "list_tickets", _query_args(TicketQuerySchema()),
                               actor(g.user)))

    @app.get("/api/tickets/<int:number>")
    @requires()
    def get_ticket(number: int):
        return _reply(rpc.call("intake", "get_ticket", number, actor(g.user)), key="ticket")

    @app.post("/api/tickets/<int:number>/messages")
    @requires()
    def add_message(number: int):
        body = _load(MessageCreateSchema(), _json_body())
        return _reply(rpc.call("intake", "add_message", number, body, actor(g.user)), 201,
                      key="ticket")

    @app.post("/api/tickets/<int:number>/status")
    @requires()
    def change_status(number: int):
        body = _load(StatusChangeSchema(), _json_body())
        return _reply(rpc.call("intake", "change_status", number, body, actor(g.user)),
                      key="ticket")

    # ------------------------------------------------------------------ knowledge and search

    @app.get("/api/suggest")
    def suggest():
        return _reply(rpc.call("search", "suggest", _query_args(SuggestQuerySchema())))

    @app.get("/api/articles")
    def list_articles():
        language = request.args.get("language")
        result = rpc.call("search", "list_articles", language if language in ("en", "ru") else None)
        result["articles"] = [a for a in result["articles"] if a["published"]]
        return _reply(result)

    @app.get("/api/articles/<article_id>")
    def get_article(article_id: str):
        result = rpc.call("search", "get_article", article_id[:64])
        if result["ok"] and not result["article"]["published"]:
            raise ApiError(404, {"_schema": ["article not found"]})
        return _reply(result, key="article")

    @app.get("/api/departments")
    def departments():
        return _reply(rpc.call("routing", "list_departments"))

    @app.get("/api/agents")
    @requires("agent", "supervisor", "admin")
    def agents():
        return _reply(rpc.call("routing", "list_agents"))

    # ------------------------------------------------------------------ pages

    def page_language() -> str:
        lang = request.values.get("lang") or request.values.get("language") or \
            request.cookies.get("lang") or request.accept_languages.best_match(["en", "ru"])
        return lang if lang in ("en", "ru") else "en"

    @app.context_processor
    def translations():
        lang = page_language()
        return {"lang": lang, "t": translator(lang)}

    def home_page(form: dict, errors: dict | None = None, status: int = 200):
        depts = rpc.call("routing", "list_departments")["departments"]
        response = app.make_response((render_template(
            "home.html", departments=depts, form=form, errors=errors), status))
        response.set_cookie("lang", page_language(), samesite="Lax", max_age=365 * 86400)
        return response

    @app.get("/")
    def home():
        return home_page({})

    @app.post("/tickets")
    def create_ticket_form():
        fields = ("subject", "description", "requester_email", "requester_name", "department",
                  "priority", "language")
        form = {k: request.form.get(k) or None for k in fields}
        form["language"] = page_language()
        try:
            data = _load(TicketCreateSchema(), {k: v for k, v in form.items() if v is not None})
            result = file_ticket(data, None, "portal")
        except ApiError as exc:
            return home_page(form, exc.errors, exc.status)
        return render_template("filed.html", ticket=result["ticket"]), 201

    return app
