"""Macros and canned responses in the agent workspace: insert a canned response into the
editor without leaving the page (the typed draft stays), apply a macro in one click, and the
page where agents keep their personal macros (supervisors and admins also shared ones)."""
from __future__ import annotations

from flask import abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from services.intake.schemas import MessageCreateSchema, StatusChangeSchema, TicketUpdateSchema
from services.routing.schemas import AssignRequestSchema

from .. import console, macros
from ..web import ApiError, load
from .agent_pages import render_canned, split_tags, staff_page
from .pages import priority_choices
from .routing_admin import reassign_ticket

OPERATIONS: list = []


def register(app, portal):
    rpc = portal.rpc
    staff = staff_page(portal)
    store = macros.OwnedStore(portal.users.db, "macros")
    views = macros.OwnedStore(portal.users.db, "views")
    app.extensions["macros"], app.extensions["views"] = store, views

    def me() -> dict:
        return portal.page_user()

    def acting() -> dict:
        return portal.actor(me())

    def ticket_or_404(number: int) -> dict:
        found = rpc.call("intake", "get_ticket", number, acting())
        if not found["ok"]:
            abort(404)
        return found["ticket"]

    @app.get("/agent/tickets/<int:number>/canned/<canned_id>")
    @staff
    def agent_canned_text(number: int, canned_id: str):
        """The canned response filled in for this ticket, for the editor (JSON)."""
        rendered = render_canned(rpc, canned_id, ticket_or_404(number), acting())
        if not rendered["ok"]:
            return jsonify(errors=rendered["errors"]), rendered["status"]
        template = next((c for c in rpc.call("intake", "list_canned", {}, acting()).get(
            "canned", []) if c["id"] == canned_id), {})
        return jsonify(text=rendered["text"], template=template.get("body", ""))

    def apply(number: int, macro: dict) -> dict:
        """Every step by its service; the first refusal stops the rest: {"ok"} or
        {"ok": False, "status", "errors"}."""
        found = rpc.call("intake", "get_ticket", number, acting())
        if not found["ok"]:
            return found
        ticket = found["ticket"]
        if macro.get("canned_id"):
            rendered = render_canned(rpc, macro["canned_id"], ticket, acting())
            if not rendered["ok"]:
                return rendered
            public = macro.get("visibility", "public") == "public"
            result = rpc.call("intake", "add_message", number, MessageCreateSchema().dump(
                {"body": rendered["text"], "public": public}), acting())
            if not result["ok"]:
                return result
            # A reply may move the status itself (a staff reply opens a new ticket): the
            # other steps are planned on the ticket as it is now.
            ticket, macro = ticket_or_404(number), dict(macro, canned_id=None)
        for step in macros.plan(macro, ticket, me()["_id"]):
            if step["kind"] == "fields":
                result = rpc.call("intake", "update_ticket", number,
                                  TicketUpdateSchema().dump(step["changes"]), acting())
            elif step["kind"] == "status":
                result = rpc.call("intake", "change_status", number,
                                  StatusChangeSchema().dump({"status": step["status"]}),
                                  acting())
            else:
                result = reassign_ticket(rpc, number, AssignRequestSchema().load(
                    {"agent_id": me()["_id"]}), acting())
            if not result["ok"]:
                return result
        return {"ok": True}

    @app.post("/agent/tickets/<int:number>/macro")
    @staff
    def agent_apply_macro(number: int):
        macro = store.get((request.form.get("macro_id") or "")[:64])
        if macro is None or not macros.visible_to(macro, me()):
            abort(404)
        result = apply(number, macro)
        wants_json = request.accept_mimetypes.best == "application/json"
        if result["ok"]:
            if wants_json:
                return jsonify(applied=macro["title"])
            return redirect(url_for("agent_ticket", number=number), 303)
        if result["status"] == 404 and not wants_json:
            abort(404)
        errors = {k: v for k, v in result["errors"].items() if k != "allowed"}
        if wants_json:
            return jsonify(errors=errors), result["status"]
        return render_template("agent/refused.html", errors=errors), result["status"]

    def macros_page(errors: dict | None = None, form: dict | None = None, status: int = 200):
        canned = rpc.call("intake", "list_canned", {}, acting()).get("canned", [])
        mine = store.for_user(me())
        return render_template(
            "agent/macros.html", macros=mine, canned=canned, errors=errors, form=form or {},
            canned_titles={c["id"]: c["title"] for c in canned}, priorities=priority_choices(),
            may_share=me()["role"] in macros.SHARING_ROLES,
            manageable={m["_id"] for m in mine if macros.may_manage(m, me())}), status

    @app.post("/agent/queue/bulk")
    @staff
    def agent_bulk():
        """Bulk actions on the selected rows of a queue: the same steps as a macro without a
        reply (status, priority, tags to add, assign to me), ticket by ticket; what was
        refused is listed by ticket, the rest is done."""
        numbers = [int(n) for n in request.form.getlist("numbers")[:100] if n.isdigit()
                   and len(n) <= 18]
        try:
            action = load(macros.MacroSchema(), {
                "title": "bulk", "status": request.form.get("status") or None,
                "priority": request.form.get("priority") or None,
                "tags": split_tags(request.form.get("tags") or ""),
                "assign_to_me": request.form.get("assign_to_me") == "on"})
        except ApiError as exc:
            return render_template("agent/refused.html", errors=exc.errors), exc.status
        if not numbers:
            return render_template("agent/refused.html", errors={
                "numbers": [_("Select at least one ticket.")]}), 400
        refused = {}
        for number in numbers:
            result = apply(number, action)
            if not result["ok"]:
                refused[f"#{number}"] = [m for messages in result["errors"].values()
                                         for m in (messages if isinstance(messages, list)
                                                   else [str(messages)])]
        if refused:
            return render_template("agent/refused.html", errors=refused), 409
        back = request.form.get("back") or ""
        return redirect(back if back.startswith("/agent/queue/") else
                        url_for("agent_queue", name="all"), 303)

    def owned(items: macros.OwnedStore, item_id: str) -> tuple[dict, bool]:
        """A macro or view this person sees (else 404), and whether they may change it."""
        item = items.get(item_id[:64])
        if item is None or not macros.visible_to(item, me()):
            abort(404)
        return item, macros.may_manage(item, me())

    @app.post("/agent/views")
    @staff
    def agent_view_save():
        """Save the queue view being looked at (its filters) under a name; shared with the
        team for supervisors and admins."""
        try:
            view = load(macros.SavedViewSchema(), {
                "title": request.form.get("title") or "",
                "scope": request.form.get("scope") or "personal",
                "queue": request.form.get("queue") or "", "query": request.form.get("query") or ""})
        except ApiError as exc:
            return render_template("agent/refused.html", errors=exc.errors), exc.status
        if view["queue"] not in console.QUEUES:
            abort(404)
        if view["scope"] == "shared" and me()["role"] not in macros.SHARING_ROLES:
            return render_template("agent/refused.html", errors={
                "scope": [_only_supervisors()]}), 403
        views.create(view, me())
        return redirect(url_for("agent_queue", name=view["queue"]) + (
            "?" + view["query"] if view["query"] else ""), 303)

    @app.post("/agent/views/<view_id>/delete")
    @staff
    def agent_view_delete(view_id: str):
        view, may = owned(views, view_id)
        if not may:
            return render_template("agent/refused.html", errors={
                "_schema": [_only_supervisors()]}), 403
        views.delete(view["_id"])
        return redirect(url_for("agent_queue", name=view["queue"]), 303)

    @app.get("/agent/macros")
    @staff
    def agent_macros():
        return macros_page()

    @app.post("/agent/macros")
    @staff
    def agent_macro_create():
        form = request.form
        payload = {"title": form.get("title") or "", "scope": form.get("scope") or "personal",
                   "canned_id": form.get("canned_id") or None,
                   "visibility": form.get("visibility") or "public",
                   "status": form.get("status") or None, "priority": form.get("priority") or None,
                   "tags": split_tags(form.get("tags") or ""),
                   "assign_to_me": form.get("assign_to_me") == "on"}
        try:
            macro = load(macros.MacroSchema(), payload)
        except ApiError as exc:
            return macros_page(exc.errors, form, exc.status)
        if macro["scope"] == "shared" and me()["role"] not in macros.SHARING_ROLES:
            return macros_page({"scope": [_only_supervisors()]}, form, 403)
        store.create(macro, me())
        return redirect(url_for("agent_macros", saved=1), 303)

    @app.post("/agent/macros/<macro_id>/delete")
    @staff
    def agent_macro_delete(macro_id: str):
        macro, may = owned(store, macro_id)
        if not may:
            return macros_page({"_schema": [_only_supervisors()]}, status=403)
        store.delete(macro["_id"])
        return redirect(url_for("agent_macros"), 303)


def _only_supervisors() -> str:
    return _("Only supervisors and admins manage what is shared with the team.")
