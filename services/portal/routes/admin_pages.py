"""Administration pages: departments and agents (departments, skills, languages, capacity),
routing rules with a dry run, SLA policies.  Changes go through the owning service's RPC, whose
validation messages are shown next to the form.  Admins change things; supervisors may look
and dry-run rules."""
from __future__ import annotations

from flask import redirect, render_template, request, url_for

from .. import console
from .agent_pages import split_tags, staff_page

OPERATIONS: list = []
AGENT_LISTS = ("departments", "skills", "languages", "categories", "products")


def register(app, portal):
    rpc = portal.rpc
    admins = staff_page(portal, ("admin",))
    supervisors = staff_page(portal, console.SUPERVISOR_ROLES)

    def admin_page(errors: dict | None = None, status: int = 200, dry_run: dict | None = None,
                   form: dict | None = None):
        return render_template(
            "admin/index.html", errors=errors, dry_run=dry_run, form=form or {},
            departments=rpc.call("routing", "list_departments")["departments"],
            agents=rpc.call("routing", "list_agents")["agents"],
            rules=rpc.call("routing", "list_rules")["rules"],
            policies=rpc.call("sla", "list_policies").get("policies", []),
            editable=portal.page_user()["role"] == "admin"), status

    @app.get("/admin")
    @supervisors
    def admin_home():
        return admin_page()

    @app.post("/admin/agents")
    @admins
    def admin_save_agent():
        """Edit an agent's routing profile; the rest of the profile is kept as it was."""
        current = next((a for a in rpc.call("routing", "list_agents")["agents"]
                        if a["id"] == request.form.get("id")), None)
        if current is None:
            return admin_page({"id": ["unknown agent"]}, 404)
        payload = {k: current[k] for k in ("id", "name", "email", "status", "capacity",
                                            *AGENT_LISTS)}
        payload["vacation_until"] = current.get("vacation_until")
        for name in AGENT_LISTS:
            if name in request.form:
                payload[name] = split_tags(request.form[name])
        capacity = request.form.get("capacity", "")
        payload["capacity"] = int(capacity) if capacity.lstrip("-").isdigit() else capacity
        saved = rpc.call("routing", "upsert_agent", payload)
        if not saved["ok"]:
            return admin_page(saved["errors"], saved["status"], form=request.form)
        return redirect(url_for("admin_home"), 303)

    @app.post("/admin/dry-run")
    @supervisors
    def admin_dry_run():
        ticket = {k: request.form[k] for k in ("subject", "description", "priority", "channel",
                                               "language") if request.form.get(k)}
        if request.form.get("department"):
            ticket["department"] = request.form["department"]
        outcome = rpc.call("routing", "dry_run", ticket)
        if not outcome["ok"]:
            return admin_page(outcome["errors"], outcome["status"], form=request.form)
        return admin_page(dry_run=outcome, form=request.form)
