"""Server-rendered pages for people (the API serves programs): the home page where a customer
describes the problem, sees suggestions and files a request; shared page helpers."""
import html
import logging
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, get_locale, gettext as _, ngettext
from marshmallow import ValidationError
from markupsafe import Markup, escape

from services.common.validation import shared
from services.intake.schemas import TicketCreateSchema
from services.search.schemas import SuggestFiledSchema

from .. import domain, field_messages
from ..uploads import attach_files, upload_hint
from ..web import ApiError, default_department, load
from .tickets import file_ticket

log = logging.getLogger(__name__)
OPERATIONS: list = []
TICKET_FIELDS = ("subject", "description", "requester_email", "requester_name", "department",
                 "priority", "language")


def status_label(status: str) -> str:
    return {"new": _("Received"), "open": _("In progress"), "on_hold": _("In progress"),
            "pending": _("Waiting for your reply"), "solved": _("Solved"),
            "closed": _("Closed")}.get(status, status)


def action_label(action: str) -> str:
    return {"solved": _("My problem is solved"), "closed": _("Close the request"),
            "open": _("Reopen")}.get(action, action)


def category_label(category: str) -> str:
    """An article's category for readers: the usual ones by name in the page's language, any
    other as words ("returns-and-refunds" -> "Returns and refunds")."""
    return {"account": _("Account"), "billing": _("Billing"), "technical": _("Technical"),
            "general": _("General")}.get(category) or category.replace("-", " ").replace(
        "_", " ").capitalize()


def priority_choices() -> list[tuple[str, str]]:
    return [("low", _("Low")), ("normal", _("Normal")), ("high", _("High")),
            ("urgent", _("Urgent"))]


def answer_promise(ticket: dict) -> str | None:
    minutes = domain.answer_promise_minutes(ticket)
    if minutes is None:
        return None
    unit, count = domain.humane_duration(minutes)
    within = {"minutes": ngettext("%(num)d minute", "%(num)d minutes", count),
              "hours": ngettext("%(num)d hour", "%(num)d hours", count),
              "days": ngettext("%(num)d day", "%(num)d days", count)}[unit]
    return _("We usually answer within %(time)s.", time=within)


def safe_snippet(snippet: str) -> Markup:
    """Search snippets arrive escaped with <mark> highlights; keep only the highlights."""
    text = escape(html.unescape(snippet or ""))
    return Markup(str(text).replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>"))


def funnel_filed(portal, session: str | None, number: int) -> None:
    """A ticket filed from the form of a suggest visit: best effort, after the ticket is kept
    (the funnel must never cost a ticket, nor say a kept one failed)."""
    if not session:
        return
    try:
        filed = SuggestFiledSchema().load({"session": session, "number": number})
        portal.rpc.call("search", "record_suggest_filed", SuggestFiledSchema().dump(filed))
    except ValidationError:
        return  # not a visit id: nothing to record
    except Exception as exc:  # noqa: BLE001 - search away: the ticket stands regardless
        log.warning("funnel step 'filed' not recorded for ticket %s: %s", number, exc)


def moment(value: str | datetime | None) -> Markup:
    """A time for people: ``<time>`` with the machine-readable value, shown in the page's
    language ("4 дек. 2026 г., 15:07"), UTC."""
    if not value:
        return Markup("")
    when = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return Markup('<time datetime="{}">{} UTC</time>').format(
        when.isoformat(), format_datetime(when, "medium"))


def register(app, portal):
    app.add_template_filter(safe_snippet)
    app.add_template_filter(moment)
    app.add_template_filter(field_messages.translated, "field_message")
    app.add_template_global(field_messages.field_label)
    app.add_template_global(category_label)

    @app.context_processor
    def page_context():
        return {"lang": str(get_locale() or "en"), "user": portal.page_user(),
                "status_label": status_label, "action_label": action_label,
                "answer_promise": answer_promise, "priorities": priority_choices()}

    def home_page(form: dict, errors: dict | None = None, status: int = 200):
        departments, chosen = domain.customer_departments(
            portal.rpc.call("routing", "list_departments")["departments"],
            portal.rpc.call("routing", "list_agents")["agents"], default_department())
        return render_template("home.html", departments=departments,
                               form=dict(form, department=form.get("department") or chosen),
                               errors=errors,
                               upload_hint=upload_hint()), status

    @app.get("/")
    def home():
        # Prefilled from a knowledge-base search or article ("still need help?").
        return home_page({"subject": request.args.get("subject", "")[:200]})

    @app.post("/tickets")
    @portal.ticket_limits
    def create_ticket_form():
        user = portal.page_user()
        form = {k: request.form.get(k) or None for k in TICKET_FIELDS}
        form["language"] = str(get_locale() or "en")
        if user:
            form["requester_email"] = form["requester_name"] = None
        try:
            data = load(shared(TicketCreateSchema), {k: v for k, v in form.items() if v is not None})
            result = file_ticket(portal, data, user, "portal")
        except ApiError as exc:
            return home_page(form, exc.errors, exc.status)
        ticket = result["ticket"]
        funnel_filed(portal, request.form.get("suggest_session"), ticket["number"])
        # Files go to the ticket once it exists; a refused file never costs the ticket.
        requester = {"id": ticket["requester_id"], "role": "customer",
                     "name": ticket.get("requester_name")}
        files = request.files.getlist("files") if result["created"] else []  # not on a retry
        _stored, refused, _status = attach_files(portal, ticket["number"], files, requester)
        if user:
            for refusal in refused:
                flash(refusal, "refused-file")
            return redirect(url_for("my_ticket_page", number=ticket["number"]), 303)
        return render_template("filed.html", ticket=result["answer"], refused=refused), 201
