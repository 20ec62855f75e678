"""What every portal view needs: error type, payload parsing, auth (bearer tokens for programs,
a session cookie for people), rate limits, and the RPC pool."""
from __future__ import annotations

import functools
import logging
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import eventlet
from eventlet.semaphore import Semaphore
from flask import current_app, g, jsonify, redirect, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from marshmallow import Schema, ValidationError

from services.common.clock import Clock

from . import domain
from .filings import FilingBatches
from .repository import UserRepository
from .rpc import RpcPool

log = logging.getLogger(__name__)

# Limits are per portal process (in-memory counters): with N replicas behind a balancer a
# client gets up to N times these.  Each is a flask-limiter string and can be set by env.
DEFAULT_LIMITS = {
    "HELPDESK_LOGIN_LIMIT": "5/minute;30/hour",          # failures per account, API and pages
    "HELPDESK_LOGIN_IP_LIMIT": "60/minute",              # account calls per address, all of them
    "HELPDESK_TICKET_LIMIT": "10/minute;50/day",         # per requester
    "HELPDESK_TICKET_IP_LIMIT": "60/hour",               # per address
    "HELPDESK_SIGNUP_LIMIT": "20/hour",                  # per address
    "HELPDESK_FEEDBACK_LIMIT": "20/minute;200/day",      # "this solved it", per requester
}


FILINGS_AT_ONCE = 8


def limit(name: str) -> str:
    return os.environ.get(name) or DEFAULT_LIMITS[name]


def filings_at_once() -> int:
    """How many ticket filings a portal process has under way at once; the rest wait their
    turn in arrival order."""
    return max(1, int(os.environ.get("HELPDESK_FILINGS_AT_ONCE") or FILINGS_AT_ONCE))


def public_url() -> str:
    """Base of every absolute link the portal mails (password reset, sign-up confirmation):
    configuration only, never the request's Host header, which anyone can forge."""
    return (os.environ.get("HELPDESK_PUBLIC_URL") or os.environ.get("HELPDESK_PORTAL_URL")
            or f"http://127.0.0.1:{os.environ.get('HELPDESK_PORTAL_PORT', '8080')}").rstrip("/")


def default_department() -> str:
    """The department the request form has chosen before the customer picks one."""
    return os.environ.get("HELPDESK_DEFAULT_DEPARTMENT", "").strip() or "general"


def allowed_hosts() -> list[str]:
    """Host names the portal answers for (HELPDESK_ALLOWED_HOSTS, comma-separated; a leading
    dot also allows subdomains): by default the public URL's host and the loopback names."""
    configured = os.environ.get("HELPDESK_ALLOWED_HOSTS", "")
    if configured.strip():
        return [host.strip() for host in configured.split(",") if host.strip()]
    return [urlsplit(public_url()).hostname or "127.0.0.1", "127.0.0.1", "localhost"]


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


def paged(items: list, page: int, per_page: int, key: str) -> dict:
    """The paging envelope every list endpoint answers with."""
    start = (page - 1) * per_page
    return {key: items[start:start + per_page], "total": len(items), "page": page,
            "per_page": per_page}


def requester_key() -> str:
    """Who is filing: the token or signed-in session if any, else the email they give."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return "token:" + domain.token_digest(header[7:].strip())
    if session.get("sid") and not request.path.startswith("/api/"):
        return "session:" + domain.token_digest(session["sid"])
    body = request.get_json(silent=True) if request.is_json else request.form
    email = body.get("requester_email") if isinstance(body, dict) or hasattr(body, "get") else None
    if isinstance(email, str) and email:
        return "email:" + email.strip().lower()[:254]
    return "ip:" + get_remote_address()


def account_key() -> str:
    """The account a sign-in or reset form names, whichever way it came (API or page); the
    address when it names none."""
    body = request.get_json(silent=True) if request.is_json else request.form
    email = body.get("email") if hasattr(body, "get") else None
    if isinstance(email, str) and email.strip():
        return "email:" + email.strip().lower()[:254]
    return "ip:" + get_remote_address()


def refused(response) -> bool:
    """Only failed sign-ins count against the per-account limit: guesses, not visits."""
    return response.status_code >= 400


def accepted(response) -> bool:
    return response.status_code < 400


def created(response) -> bool:
    """Only tickets actually filed count against the ticket limit (not typos that got a 400);
    the form sends a signed-in customer on to the new ticket with a 303."""
    return response.status_code in (200, 201, 303)


def per_request(key: str, load: Callable[[], Any]) -> Any:
    """``load()`` once per request under ``key`` (an RPC answer, a page's label table)."""
    cache = g.setdefault("portal_cache", {})
    if key not in cache:
        cache[key] = load()
    return cache[key]


class Portal:
    """Shared collaborators of the views, built once per process."""

    def __init__(self, rpc: RpcPool, users: UserRepository, clock: Clock,
                 limiter: Limiter | None = None):
        self.rpc, self.users, self.clock = rpc, users, clock
        self.limiter = limiter
        # First come, first served (eventlet's semaphore queues its waiters in order): with
        # every filing in flight at once, each took a slice of the same two cores in turn, so
        # all of them finished late; taking turns, most finish sooner and the slowest no
        # later (BENCHMARKS.md, eighteenth round).
        self.filing_turns = Semaphore(filings_at_once())
        self.filings = FilingBatches(rpc)

    def take_filing_turn(self) -> bool:
        """Wait for a filing turn up to as long as intake's answer may take; True when taken
        (give it back with ``filing_turns.release()``).  Not ``acquire(timeout=...)``: that
        one lets a newcomer take a turn just given back, ahead of those waiting for it."""
        taken = False
        with eventlet.Timeout(self.rpc.timeout, False):
            taken = self.filing_turns.acquire()
        return taken

    @contextmanager
    def filing_turn(self) -> Iterator[bool]:
        """``take_filing_turn`` for a ``with`` block: whether the turn was taken, given back
        when the block ends."""
        taken = self.take_filing_turn()
        try:
            yield taken
        finally:
            if taken:
                self.filing_turns.release()

    # ------------------------------------------------------------------ rate limits

    # Shared limits: one count per account and one per address, whichever view (API or page)
    # the request comes through; a plain ``limit`` would count each view separately.
    def login_limits(self, view):
        """For forms that name an account (sign in, ask for a reset link): failures per
        account, whatever the address, plus the per-address limit."""
        view = self.limiter.shared_limit(limit("HELPDESK_LOGIN_LIMIT"), scope="login-account",
                                         key_func=account_key, deduct_when=refused)(view)
        return self.address_limits(view)

    def address_limits(self, view):
        """Every account form and call (sign in, sign up, reset, confirm), per address."""
        return self.limiter.shared_limit(limit("HELPDESK_LOGIN_IP_LIMIT"),
                                         scope="login-address")(view)

    def ticket_limits(self, view):
        view = self.limiter.limit(limit("HELPDESK_TICKET_LIMIT"), key_func=requester_key,
                                  scope="tickets", deduct_when=created)(view)
        return self.limiter.limit(limit("HELPDESK_TICKET_IP_LIMIT"), scope="tickets-ip",
                                  deduct_when=created)(view)

    def feedback_limits(self, view):
        """"This solved it" (API and page together), per signed-in user or address."""
        return self.limiter.shared_limit(limit("HELPDESK_FEEDBACK_LIMIT"), scope="feedback",
                                         key_func=requester_key)(view)

    def signup_limits(self, view):
        view = self.limiter.shared_limit(limit("HELPDESK_SIGNUP_LIMIT"), scope="signup",
                                         deduct_when=accepted)(view)
        return self.address_limits(view)

    # ------------------------------------------------------------------ after the answer

    def later(self, work: Callable, *args) -> None:
        """Run ``work(*args)`` in a green thread once this request has its answer, in the
        app's context (translations, secret key).  For what must not show in the answer or its
        timing, such as whether an address has an account; failures are logged."""
        app = current_app._get_current_object()

        def run():
            with app.app_context():
                try:
                    work(*args)
                except Exception:  # noqa: BLE001 - nobody waits for it: log, never lose silently
                    log.exception("background work %s failed", getattr(work, "__name__", work))

        eventlet.spawn_n(run)

    # ------------------------------------------------------------------ programs: bearer

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

    # ------------------------------------------------------------------ people: session cookie

    def sign_in(self, user: dict) -> None:
        session.clear()  # a fresh session (and CSRF token) at sign-in: no session fixation
        sid, digest = domain.new_token()
        self.users.save_token(digest, user["_id"], self.clock.now(), kind="session")
        session["sid"] = sid
        session.permanent = True

    def sign_out(self) -> None:
        if session.get("sid"):
            self.users.delete_token(domain.token_digest(session["sid"]))
        session.clear()

    def page_user(self) -> dict | None:
        if "page_user" not in g:
            sid = session.get("sid")
            g.page_user = sid and self.users.user_for_token(
                domain.token_digest(sid), self.clock.now(), kind="session")
        return g.page_user or None

    def page_requires(self, view):
        """Pages for signed-in people: others are sent to sign in and brought back."""
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if self.page_user() is None:
                return redirect(url_for("signin_page", next=request.full_path.rstrip("?")))
            return view(*args, **kwargs)
        return wrapped

    def actor(self, user: dict) -> dict:
        """How the services know who is acting.  While agents are department-scoped (the
        desk's access setting) an agent also carries the departments routing gives them:
        none without a routing profile.  Looked up once per request."""
        actor = {"id": user["_id"], "role": user["role"], "name": user["name"]}
        if user["role"] == "agent" and per_request("access", self.users.access_settings)[
                "department_scoped_agents"]:
            actor["departments"] = (self.routing_profile(user["_id"]) or {}).get(
                "departments", [])
        return actor

    def routing_profile(self, person_id: str) -> dict | None:
        """The person's routing profile (departments, capacity, availability), or None:
        asked of routing once per request."""
        found = per_request(f"agent:{person_id}",
                             lambda: self.rpc.call("routing", "get_agent", person_id))
        return found["agent"] if found["ok"] else None

