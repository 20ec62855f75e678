"""Server-rendered pages for people (the API serves programs)."""
from flask import render_template, request

from services.intake.schemas import TicketCreateSchema

from ..i18n import translator
from ..web import ApiError, load
from .tickets import file_ticket

OPERATIONS: list = []
LANGUAGES = ("en", "ru")


def page_language() -> str:
    lang = request.values.get("lang") or request.values.get("language") or \
        request.cookies.get("lang") or request.accept_languages.best_match(LANGUAGES)
    return lang if lang in LANGUAGES else "en"


def register(app, portal):
    @app.context_processor
    def translations():
        lang = page_language()
        return {"lang": lang, "t": translator(lang)}

    def home_page(form: dict, errors: dict | None = None, status: int = 200):
        departments = portal.rpc.call("routing", "list_departments")["departments"]
        response = app.make_response((render_template(
            "home.html", departments=departments, form=form, errors=errors), status))
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
            data = load(TicketCreateSchema(), {k: v for k, v in form.items() if v is not None})
            result = file_ticket(portal, data, None, "portal")
        except ApiError as exc:
            return home_page(form, exc.errors, exc.status)
        return render_template("filed.html", ticket=result["ticket"]), 201
