"""Sign up, sign in and out, and password reset, as pages with CSRF-protected forms."""
import re
from urllib.parse import urlsplit

from flask import redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _

from .. import console, identity
from ..schemas import LoginSchema, ResetConfirmSchema, ResetRequestSchema, SignupSchema
from ..web import ApiError, load

OPERATIONS: list = []
# C0 controls (tab, CR, LF, ...), DEL, the C1 controls, and the backslash.
UNSAFE_IN_NEXT = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")


def landing(user: dict) -> str:
    """Where a person lands after signing in with no ?next=: staff in their console,
    customers on their requests."""
    return url_for("agent_home") if user.get("role") in console.STAFF_ROLES else \
        url_for("my_tickets_page")


def safe_next(target: str | None, default: str | None = None) -> str:
    """Only same-site paths: a crafted ?next= must not send people elsewhere after sign-in.
    Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so
    "/<TAB>/evil.example" would become "//evil.example": with any control character or
    backslash, a scheme or a host, the default page is used instead."""
    if target and target.startswith("/") and not UNSAFE_IN_NEXT.search(target):
        parts = urlsplit(target)
        if not (parts.scheme or parts.netloc) and not parts.path.startswith("//"):
            return target
    return default or url_for("my_tickets_page")


def register(app, portal):
    users = portal.users

    def form_page(mode: str, form: dict | None = None, errors: dict | None = None,
                  status: int = 200, notice: str | None = None):
        heading, submit, fields = {
            "signup": (_("Create an account"), _("Sign up"), ("name", "email", "password")),
            "signin": (_("Sign in"), _("Sign in"), ("email", "password")),
            "forgot": (_("Reset your password"), _("Send me a link"), ("email",)),
            "reset": (_("Choose a new password"), _("Save password"), ("password",)),
            "confirm": (_("Finish creating your account"), _("Create my account"), ()),
        }[mode]
        return render_template("account_form.html", mode=mode, heading=heading, submit=submit,
                               fields=fields, form=form or {}, errors=errors,
                               notice=notice), status

    def submitted(*names: str) -> dict:
        return {k: request.form[k] for k in names if request.form.get(k)}

    @app.get("/signup")
    def signup_page():
        return form_page("signup")

    @app.post("/signup")
    @portal.signup_limits
    def signup_submit():
        form = submitted("name", "email", "password")
        try:
            data = load(SignupSchema(), dict(form, language=str(get_locale() or "en")))
        except ApiError as exc:
            return form_page("signup", dict(form, password=None), exc.errors, exc.status)
        portal.later(identity.request_sign_up, users, data, portal.clock.now())
        return render_template("message.html", reason="signup_sent")

    # The emailed link opens a page with a button: a mail scanner fetching the link (GET)
    # does not use it up.
    @app.get("/signup/confirm/<token>")
    def signup_confirm_page(token: str):
        return form_page("confirm")

    @app.post("/signup/confirm/<token>")
    @portal.address_limits
    def signup_confirm_submit(token: str):
        try:
            user = identity.confirm_sign_up(users, token[:512], portal.clock.now())
        except ApiError as exc:
            return form_page("signup", {}, exc.errors, exc.status)
        portal.sign_in(user)
        return redirect("/", 303)

    @app.get("/signin")
    def signin_page():
        return form_page("signin")

    @app.post("/signin")
    @portal.login_limits
    def signin_submit():
        form = submitted("email", "password")
        try:
            data = load(LoginSchema(), form)
            user = identity.check_password(users, data["email"], data["password"])
        except ApiError as exc:
            return form_page("signin", {"email": form.get("email")}, exc.errors, exc.status)
        portal.sign_in(user)
        return redirect(safe_next(request.args.get("next"), landing(user)), 303)

    @app.post("/signout")
    def signout():
        portal.sign_out()
        return redirect("/", 303)

    @app.get("/password/forgot")
    def forgot_page():
        return form_page("forgot")

    @app.post("/password/forgot")
    @portal.login_limits
    def forgot_submit():
        form = submitted("email")
        try:
            data = load(ResetRequestSchema(), form)
        except ApiError as exc:
            return form_page("forgot", form, exc.errors, exc.status)
        portal.later(identity.send_reset_link, users, data["email"])
        return render_template("message.html", reason="reset_sent")

    @app.get("/password/reset/<token>")
    def reset_page(token: str):
        try:
            identity.user_for_reset(users, token)
        except ApiError as exc:
            return form_page("forgot", {}, exc.errors, exc.status)
        return form_page("reset")

    @app.post("/password/reset/<token>")
    @portal.address_limits
    def reset_submit(token: str):
        try:
            data = load(ResetConfirmSchema(), {"token": token, **submitted("password")})
            user = identity.reset_password(users, data["token"], data["password"])
        except ApiError as exc:
            return form_page("reset", {}, exc.errors, exc.status)
        portal.sign_in(user)
        return redirect(url_for("my_tickets_page"), 303)
