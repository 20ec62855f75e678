"""The portal: the public REST API and the self-service web pages.  Views (in routes/) are
thin: parse with marshmallow, call a service by RPC, shape the reply."""
from __future__ import annotations

import os
from datetime import timedelta

from flask import (Flask, Request, current_app, jsonify, make_response, render_template,
                   request)
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from nameko.exceptions import RpcTimeout
from werkzeug.exceptions import HTTPException, RequestURITooLarge, SecurityError
from werkzeug.routing import IntegerConverter
from werkzeug.sansio.utils import host_is_trusted

from services.common.clock import Clock
from services.intake.schemas import MAX_ATTACHMENT_BYTES

from . import i18n, observability, rate_storage
from .live import LiveFeed
from .repository import UserRepository
from .routes import MODULES
from .rpc import RpcPool
from .uploads import MAX_FILES_PER_FORM
from .web import ApiError, Portal, allowed_hosts

MAX_BODY_BYTES = 2 * 1024 * 1024
# Uploads (multipart) may carry MAX_FILES_PER_FORM files of intake's largest size plus the form,
# so an oversized file reaches intake's check and is refused by name instead of the whole form.
MAX_UPLOAD_BODY_BYTES = MAX_FILES_PER_FORM * MAX_ATTACHMENT_BYTES + MAX_BODY_BYTES
MAX_URL_BYTES = 8 * 1024
RETRY_AFTER_SECONDS = "5"
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


class BoundedIntegerConverter(IntegerConverter):
    """``<int:...>`` in every route takes up to 18 digits, so a longer number is simply "not
    found" instead of overflowing Mongo's 64-bit integers downstream (found by the fuzzer)."""

    regex = r"\d{1,18}"


class PortalRequest(Request):
    @property
    def max_content_length(self) -> int | None:  # type: ignore[override]
        if self.mimetype == "multipart/form-data":
            return MAX_UPLOAD_BODY_BYTES
        return current_app.config["MAX_CONTENT_LENGTH"]


class OneSignerSessions(SecureCookieSessionInterface):
    """Flask's cookie sessions with one signing serializer for the life of the process:
    Flask builds a new one for every request, even one without a cookie (each API call),
    and the secret key it is built from does not change while the portal runs."""

    def __init__(self):
        self._signer: tuple = (None, None)  # (the secret key, its serializer)

    def get_signing_serializer(self, app: Flask):
        if self._signer[0] != app.secret_key:
            self._signer = (app.secret_key, super().get_signing_serializer(app))
        return self._signer[1]


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/healthz"


def create_app(rpc: RpcPool, users: UserRepository, clock: Clock,
               live: LiveFeed | None = None) -> Flask:
    """``live``: the console's event feed (fed from RabbitMQ by server.py; idle without)."""
    app = Flask(__name__)
    app.extensions["live"] = live or LiveFeed()
    app.request_class = PortalRequest
    app.session_interface = OneSignerSessions()
    app.url_map.converters["int"] = BoundedIntegerConverter
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        SECRET_KEY=os.environ.get("HELPDESK_SECRET_KEY") or users.secret_key(),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("HELPDESK_COOKIE_SECURE") == "1",
        PERMANENT_SESSION_LIFETIME=timedelta(days=14),
        # CSRF is checked below for every page form; the API authenticates by bearer header
        # only (it never reads the cookie), so a forged cross-site request carries no rights.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # valid for the life of the session
    )
    app.json.ensure_ascii = False
    csrf = CSRFProtect(app)
    limiter = Limiter(get_remote_address, app=app, storage_uri=f"{rate_storage.SCHEME}://",
                      headers_enabled=True)
    portal = Portal(rpc, users, clock, limiter)
    observability.install(app, portal)
    i18n.install(app, lambda: (portal.page_user() or {}).get("language"))
    hosts = allowed_hosts()

    @app.before_request
    def refuse_unknown_hosts():
        """Only the configured host names: a request with a forged Host is refused (400)
        before anything could be built from it."""
        if not host_is_trusted(request.environ.get("HTTP_HOST")
                               or request.environ.get("SERVER_NAME"), hosts):
            raise SecurityError("Unknown host: set HELPDESK_ALLOWED_HOSTS to serve it.")

    @app.before_request
    def refuse_long_urls():
        """Checked here, not by the web server, so the 414 is an error like any other."""
        path = request.environ.get("RAW_PATH_INFO") or request.path
        if len(path) + len(request.query_string) > MAX_URL_BYTES:
            raise RequestURITooLarge()

    @app.before_request
    def protect_forms():
        if not _is_api(request.path):
            csrf.protect()

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        if exc.status == 404 and not _is_api(request.path):
            return render_template("message.html", reason="missing"), 404
        return jsonify({"errors": exc.errors}), exc.status

    @app.errorhandler(RpcTimeout)
    def dependency_timeout(exc: RpcTimeout):
        """A service that does not answer in time: "try again", never a bare 500."""
        if _is_api(request.path):
            response = jsonify({"errors": {"_schema": [
                _("A service did not answer in time. Please try again shortly.")
            ]}})
        else:
            response = make_response(render_template("message.html", status=503,
                                                     reason="unavailable"))
        response.status_code = 503
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return render_template("message.html", status=400, reason="csrf"), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if _is_api(request.path):
            response = jsonify({"errors": {"_schema": [exc.description]}})
            # The error's own headers stay (a 405's Allow, a 401's WWW-Authenticate).
            response.headers.extend((name, value) for name, value in exc.get_headers()
                                    if name.lower() != "content-type")
            return response, exc.code
        if exc.code in (404, 413, 429):
            reason = {404: "missing", 413: "too_large", 429: "limit"}[exc.code]
            return render_template("message.html", status=exc.code, reason=reason), exc.code
        return exc

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if request.args.get("lang") in i18n.LANGUAGES:
            response.set_cookie("lang", request.args["lang"], samesite="Lax",
                                max_age=365 * 86400)
        return response

    for module in MODULES:
        module.register(app, portal)
    return app
