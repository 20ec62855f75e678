"""Administration, first section: departments, agents (departments, skills, languages,
capacity) and routing rules (create, edit, reorder, enable/disable, delete) with a dry run.
The other sections (SLA, content, email, automation) are in admin_*_pages.py and share
``AdminSection``.

Every change goes through the owning service's RPC, whose validation messages are shown next
to the form that was sent, in the reader's language (4xx, nothing saved).  Admins change things; supervisors may look
and dry-run rules; everyone else gets "not found", as in the rest of the console."""
from __future__ import annotations

import functools
from typing import Callable

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import get_locale, gettext as _

from services.common.results import fail

from .. import admin_forms as forms
from .. import console
from ..field_messages import localize
from ..web import paged
from .agent_pages import priority_label, split_tags, staff_page

OPERATIONS: list = []
LIST_PAGE = 25  # rows per page of the longer administration lists (articles, responses)
AGENT_LISTS = ("departments", "skills", "languages", "categories", "products")


# Tabs only admins see (their pages answer others "not found").
ADMIN_ONLY = ("admin_automation", "admin_webhooks")


def sections(admin: bool = True) -> list[tuple[str, str]]:
    """(endpoint, label) of the administration tabs, in order (labels in the reader's
    language, so built per request)."""
    tabs = [("admin_home", _("People and routing")), ("admin_sla", _("SLA")),
            ("admin_canned", _("Canned responses")), ("admin_articles", _("Knowledge base")),
            ("admin_tags", _("Tags")), ("admin_email", _("Email")), ("admin_access", _("Access")),
            ("admin_automation", _("Automation")), ("admin_webhooks", _("Webhooks"))]
    return [tab for tab in tabs if admin or tab[0] not in ADMIN_ONLY]


class AdminSection:
    """One administration page: what it shows, and how its forms answer.  A form's action
    returns the service's result; success goes back to the page (303, "saved"), a refusal
    shows the page again with the messages beside that form and what was typed."""

    def __init__(self, app, portal, endpoint: str, rule: str, template: str,
                 context: Callable[[str | None, dict | None], dict]):
        self.app, self.portal = app, portal
        self.endpoint, self.template, self.context = endpoint, template, context
        self.admins = staff_page(portal, ("admin",))
        viewers = ("admin",) if endpoint in ADMIN_ONLY else console.SUPERVISOR_ROLES
        view = staff_page(portal, viewers)(self.show)
        app.add_url_rule(rule, endpoint, view, methods=["GET"])

    def show(self):
        return self.render()

    def render(self, errors: dict | None = None, status: int = 200,
               form_id: str | None = None, form: dict | None = None, **extra):
        flat = forms.flatten_errors(localize(errors)) if errors else {}
        admin = self.portal.page_user()["role"] == "admin"
        return render_template(
            self.template, errors=flat, form_id=form_id, sections=sections(admin),
            current_section=self.endpoint, saved=request.args.get("saved"), editable=admin,
            **self.context(form_id, form), **extra), status

    def answer(self, form_id: str, result: dict, **back):
        if result["ok"]:
            return redirect(url_for(self.endpoint, saved=form_id, **back) + f"#{form_id}", 303)
        return self.render(result["errors"], result["status"], form_id, request.form)

    def action(self, rule: str, form_id: str):
        """Register an admin-only POST whose view returns a service result."""
        def decorator(build):
            @functools.wraps(build)
            def view(**kwargs):
                try:
                    result = build(**kwargs)
                except forms.FormProblem as exc:
                    result = fail(400, exc.errors)
                return self.answer(form_id, result)
            self.app.add_url_rule(rule, build.__name__, self.admins(view), methods=["POST"])
            return build
        return decorator


def listing(items: list[dict], per_page: int = LIST_PAGE) -> dict:
    """One page of a list (``?page=N``, out-of-range pages clamp): rows, page, pages."""
    pages = max(1, -(-len(items) // per_page))
    raw = request.args.get("page", "1")
    page = min(max(int(raw), 1), pages) if raw.isascii() and raw.isdigit() else 1
    return dict(paged(items, page, per_page, "rows"), pages=pages)


def rule_action_label(action: str, value) -> str:
    """A routing rule's action for the rules table, in the reader's language."""
    label = current_app.extensions["department_label"]
    return {"department": lambda: _("Department: %(name)s", name=label(value)),
            "priority": lambda: _("Priority: %(name)s", name=priority_label(value)),
            "category": lambda: _("Category: %(name)s", name=value),
            "add_tags": lambda: _("Add tags: %(tags)s", tags=", ".join(value)),
            }.get(action, lambda: f"{action}: {value}")()


def department_choices(departments: list[dict]) -> list[tuple[str, str]]:
    """(id, display name in the page's language and the id) for a department select."""
    russian = str(get_locale()) == "ru"
    return [(d["id"], f"{(d.get('name_ru') if russian else None) or d['name']} ({d['id']})")
            for d in departments]


def find(items: list[dict], item_id: str | None, key: str = "id") -> dict | None:
    return next((i for i in items if item_id and i[key] == item_id), None)


def register(app, portal):
    rpc = portal.rpc

    def departments() -> list[dict]:
        return rpc.call("routing", "list_departments")["departments"]

    def rules() -> list[dict]:
        return rpc.call("routing", "list_rules")["rules"]

    def context(form_id, form):
        all_departments, all_rules = departments(), rules()
        return dict(
            departments=all_departments, rules=all_rules,
            department_choices=department_choices(all_departments),
            agents=rpc.call("routing", "list_agents")["agents"],
            condition_line=forms.condition_line, rule_action_label=rule_action_label,
            department=forms.editor(forms.department_fields, "department", form, form_id,
                                    find(all_departments, request.args.get("department"))),
            rule=forms.editor(forms.rule_fields, "rule", form, form_id,
                              find(all_rules, request.args.get("rule"))),
            dry=form if form_id == "dry-run" else {})

    section = AdminSection(app, portal, "admin_home", "/admin", "admin/index.html", context)

    @section.action("/admin/departments", "department")
    def admin_save_department():
        existing = departments()
        current = find(existing, (request.form.get("id") or "").strip())
        return rpc.call("routing", "upsert_department", forms.identified(
            forms.department_payload(request.form, current), "name",
            [d["id"] for d in existing]))

    @section.action("/admin/agents", "agents")
    def admin_save_agent():
        """Edit an agent's routing profile; the rest of the profile is kept as it was."""
        current = find(rpc.call("routing", "list_agents")["agents"], request.form.get("id"))
        if current is None:
            return fail(404, {"id": ["unknown agent"]})
        payload = {k: current[k] for k in ("id", "name", "email", "status", "capacity",
                                            *AGENT_LISTS)}
        payload["vacation_until"] = current.get("vacation_until")
        for name in AGENT_LISTS:
            if name in request.form:
                payload[name] = split_tags(request.form[name])
        if "capacity" in request.form:
            payload["capacity"] = forms.integer(request.form["capacity"])
        return rpc.call("routing", "upsert_agent", payload)

    @section.action("/admin/rules", "rule")
    def admin_save_rule():
        return rpc.call("routing", "save_rule", forms.identified(
            forms.rule_payload(request.form), "name", [r["id"] for r in rules()]))

    def existing_rule(rule_id: str) -> dict:
        rule = find(rules(), rule_id)
        if rule is None:
            raise forms.FormProblem({"_schema": [_("That rule no longer exists.")]})
        return rule

    def saved_rule(rule: dict) -> dict:
        return rpc.call("routing", "save_rule", {k: v for k, v in rule.items()})

    @section.action("/admin/rules/<rule_id>/toggle", "rules")
    def admin_toggle_rule(rule_id: str):
        rule = existing_rule(rule_id)
        return saved_rule(dict(rule, enabled=not rule["enabled"]))

    @section.action("/admin/rules/<rule_id>/move", "rules")
    def admin_move_rule(rule_id: str):
        existing_rule(rule_id)
        all_rules = rules()
        position = forms.moved_position(all_rules, rule_id, request.form.get("direction", ""))
        if position is None:
            return {"ok": True}
        return saved_rule(dict(find(all_rules, rule_id), position=position))

    @section.action("/admin/rules/<rule_id>/delete", "rules")
    def admin_delete_rule(rule_id: str):
        return rpc.call("routing", "delete_rule", rule_id[:64])

    @app.post("/admin/dry-run")
    @staff_page(portal, console.SUPERVISOR_ROLES)
    def admin_dry_run():
        ticket = {k: request.form[k] for k in ("subject", "description", "priority", "channel",
                                               "language") if request.form.get(k)}
        if request.form.get("department"):
            ticket["department"] = request.form["department"]
        outcome = rpc.call("routing", "dry_run", ticket)
        if not outcome["ok"]:
            return section.render(outcome["errors"], outcome["status"], "dry-run", request.form)
        return section.render(form_id="dry-run", form=request.form, dry_run=outcome)
