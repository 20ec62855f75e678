"""The agent console: queue views with SLA countdowns, taking a ticket, the ticket workspace
(thread with internal notes, reply/note with canned responses, status/priority/tags, customer
context, similar solved tickets, who else is looking) and the availability toggle.  Pages for
staff only; everyone else gets "not found", as for a page that does not exist."""
from __future__ import annotations

import functools

from flask import Response, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from services.common.events import STATUSES as STATUS_NAMES
from services.intake.schemas import (QUEUE_SLA_STATES, MessageCreateSchema, StatusChangeSchema,
                                     TicketUpdateSchema, allowed_targets)
from services.routing.schemas import (CAPACITY_OVERRIDERS, AssignRequestSchema,
                                      AvailabilitySchema)

from .. import console
from ..live import PRESENCE
from ..uploads import MAX_FILES_PER_FORM, refusal_reason, upload_payload
from ..web import ApiError, load, per_request
from .pages import priority_choices
from .routing_admin import reassign_ticket

OPERATIONS: list = []


def staff_page(portal, roles=console.STAFF_ROLES):
    """Signed in with a staff role; customers and strangers see a 404 like any missing page."""
    def decorator(view):
        @functools.wraps(view)
        @portal.page_requires
        def wrapped(*args, **kwargs):
            if portal.page_user()["role"] not in roles:
                abort(404)
            return view(*args, **kwargs)
        return wrapped
    return decorator


def split_tags(raw: str) -> list[str]:
    return [t.strip() for t in raw.replace("\n", ",").split(",") if t.strip()]


def queue_label(name: str) -> str:
    return {"mine": _("Mine"), "department": _("My departments' queue"),
            "unassigned": _("Unassigned"), "breaching": _("Breaching soon"),
            "pending": _("Pending"), "all": _("All open")}[name]


def availability_label(status: str) -> str:
    return {"online": _("Available"), "away": _("Away"), "offline": _("Offline"),
            "vacation": _("On vacation")}.get(status, status)


def agent_status_label(status: str) -> str:
    """Statuses as staff call them (the customer pages say it in their own words)."""
    return per_request("labels:status", lambda: {
        "new": _("New"), "open": _("Open"), "pending": _("Pending"), "on_hold": _("On hold"),
        "solved": _("Solved"), "closed": _("Closed")}).get(status, status)


def sla_label(state: str) -> str:
    return per_request("labels:sla", lambda: {
        "breached": _("Breached"), "soon": _("Due within an hour"), "ok": _("On track"),
        "none": _("No running clock")}).get(state, state)


def priority_label(priority: str) -> str:
    return per_request("labels:priority", lambda: dict(priority_choices())).get(priority, priority)


def department_names(rpc, department: str) -> dict | None:
    """{"en": name, "ru": name} of a department, for ``${department}`` in canned responses."""
    found = next((d for d in rpc.call("routing", "list_departments").get("departments", [])
                  if d["id"] == department), None)
    if found is None:
        return None
    return {"en": found.get("name") or department,
            "ru": found.get("name_ru") or found.get("name") or department}


def render_canned(rpc, canned_id: str, ticket: dict, actor: dict) -> dict:
    return rpc.call("intake", "render_canned", canned_id[:64], ticket["number"], actor,
                    department_names(rpc, ticket["department"]))


def register(app, portal):
    rpc = portal.rpc
    staff = staff_page(portal)
    live = app.extensions["live"]

    def department_label(department: str | None) -> str:
        """A department's display name in the page's language (its id if routing has none)."""
        def names() -> dict:
            russian = str(get_locale()) == "ru"
            return {d["id"]: (d.get("name_ru") if russian else None) or d.get("name") or d["id"]
                    for d in rpc.call("routing", "list_departments").get("departments", [])}
        return per_request("labels:department", names).get(department, department or "—")

    app.extensions["department_label"] = department_label

    @app.context_processor
    def console_context():
        return {"queue_label": queue_label, "availability_label": availability_label,
                "priority_label": priority_label, "agent_status_label": agent_status_label,
                "sla_label": sla_label, "department_label": department_label,
                "live_since": live.last_id}

    def me() -> dict:
        return portal.page_user()

    def acting() -> dict:
        return portal.actor(me())

    def routing_agent() -> dict | None:
        """The signed-in person's routing profile (departments, capacity, availability)."""
        return portal.routing_profile(me()["_id"])

    def departments_of(agent: dict | None) -> list[str]:
        scope = acting().get("departments")  # a department-scoped agent
        if scope is not None:
            return scope
        if agent:
            return agent["departments"]
        return [d["id"] for d in rpc.call("routing", "list_departments")["departments"]]

    @app.get("/agent/live")
    @staff
    def agent_live():
        """Server-Sent Events: "ticket N changed" for the tickets of the departments this
        person works in (everything for supervisors and admins); see services/portal/live.py.
        The browser resumes with Last-Event-ID, a fresh page with ?since=<id it was drawn at>."""
        scope = (frozenset(departments_of(routing_agent())) if me()["role"] == "agent"
                 else None)
        last_id = (request.headers.get("Last-Event-ID") or request.args.get("since") or "")[:64]
        # eventlet.wsgi would otherwise hold small writes back until 4 KiB have gathered.
        request.environ["eventlet.minimum_write_chunk_size"] = 0
        return Response(live.stream(scope, last_id, person=me()["_id"]),
                        mimetype="text/event-stream",
                        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/agent")
    @staff
    def agent_home():
        return redirect(url_for("agent_queue", name="mine"))

    @app.get("/agent/queue/<name>")
    @staff
    def agent_queue(name: str):
        """A queue view: one ``intake.queue`` RPC for the page of rows, whatever the filters
        (plus the person's routing profile); "department" is routing's waiting queue.  The
        total is known only on the last page (counting 10,000 tickets per page view is what
        made the queue slow): before it, "more than N" and a Next link."""
        if name not in console.QUEUES:
            abort(404)
        agent = routing_agent()
        departments = departments_of(agent)
        waiting, errors = [], None
        found = {"tickets": [], "total": 0, "page": 1, "has_more": False}
        query = {}
        if name == "department":
            for department in departments:
                queued = rpc.call("routing", "queue", department)
                waiting += [dict(q, mode=queued.get("mode")) for q in queued.get("tickets", [])]
        else:
            scope = departments if me()["role"] == "agent" else None
            query = console.queue_query(name, request.args.to_dict(flat=False), me()["_id"],
                                        scope)
            result = rpc.call("intake", "queue", query, acting())
            if result["ok"]:
                found = result
            else:
                errors = result["errors"]
        now = portal.clock.now()
        return render_template(
            "agent/queue.html", name=name, queues=console.QUEUES, agent=agent,
            waiting=waiting, departments=departments, errors=errors, total=found["total"],
            page=found["page"], has_more=found["has_more"], per_page=console.PER_PAGE,
            sort=query.get("sort", "due"),
            filters=request.args, sort_link=console.sort_link, statuses=STATUS_NAMES,
            priorities=priority_choices(), sla_states=QUEUE_SLA_STATES,
            saved_views=app.extensions["views"].for_user(me()),
            may_share=me()["role"] in console.SUPERVISOR_ROLES,
            query_string=request.query_string.decode()[:2000],
            tickets=[dict(t, clock=console.countdown(t, now)) for t in found["tickets"]]), \
            400 if errors else 200

    @app.post("/agent/queue/take")
    @staff
    def agent_take():
        ticket_id = (request.form.get("ticket_id") or "")[:64]
        taken = rpc.call("routing", "claim", me()["_id"], ticket_id)
        if not taken["ok"]:
            return render_template("agent/refused.html",
                                   errors=taken["errors"]), taken["status"]
        return redirect(url_for("agent_ticket", number=taken["number"]), 303)

    @app.post("/agent/availability")
    @staff
    def agent_availability():
        try:
            change = load(AvailabilitySchema(), {"status": request.form.get("status") or ""})
        except ApiError as exc:
            return render_template("agent/refused.html",
                                   errors=exc.errors), 400
        rpc.call("routing", "set_availability", me()["_id"], AvailabilitySchema().dump(change))
        return redirect(request.form.get("back") if (request.form.get("back") or "").startswith(
            "/agent/") else url_for("agent_queue", name="mine"), 303)

    # ------------------------------------------------------------------ the workspace

    def ticket_or_404(number: int) -> dict:
        found = rpc.call("intake", "get_ticket", number, acting())
        if not found["ok"]:
            abort(404)
        return found["ticket"]

    def workspace(number: int, errors: dict | None = None, status: int = 200,
                  draft: str = "", preview: dict | None = None):
        ticket = ticket_or_404(number)
        now = portal.clock.now()
        portal.users.note_viewing(number, me(), "viewing", now, console.VIEWING_TTL)
        if not request.headers.get("X-Live-Refresh"):  # a person arrived, not a live redraw
            live.publish(PRESENCE, number, ticket["department"])
        customer = [t for t in rpc.call("intake", "list_tickets", {
            "requester_id": ticket["requester_id"], "per_page": 20}, acting())["tickets"]
            if t["number"] != number]
        similar = rpc.call("search", "similar_tickets", console.similar_query(ticket), acting())
        reuse = None
        if request.args.get("reuse") and ticket["status"] in ("solved", "closed"):
            reuse = rpc.call("search", "answer_draft", {
                "number": number, "names": console.ticket_names(ticket)}).get("answer")
        canned = rpc.call("intake", "list_canned", {}, acting())
        return render_template(
            "agent/ticket.html", t=ticket, clock=console.countdown(ticket, now), errors=errors,
            customer_tickets=customer, similar=similar.get("results", []), reuse=reuse,
            canned=canned.get("canned", []), draft=draft, preview=preview,
            macros=app.extensions["macros"].for_user(me()),
            targets=allowed_targets(ticket["status"], me()["role"]),
            viewers=console.other_viewers(portal.users.viewers(number, now), me()["_id"]),
            agent=routing_agent(), **reassign_context(ticket),
            **app.extensions["workspace_extras"](ticket)), status

    def reassign_context(ticket: dict) -> dict:
        """The assignee picker: agents of the ticket's department with their load."""
        colleagues = rpc.call("routing", "list_agents", ticket["department"]).get("agents", [])
        assigned = request.args.get("assigned")
        return {"colleagues": colleagues,
                "may_override": me()["role"] in CAPACITY_OVERRIDERS,
                "handed_to": next((a["name"] for a in colleagues if a["id"] == assigned), None)}

    @app.get("/agent/tickets/<int:number>")
    @staff
    def agent_ticket(number: int):
        canned_id = request.args.get("canned")
        if not canned_id:
            return workspace(number)
        rendered = render_canned(rpc, canned_id, ticket_or_404(number), acting())
        if not rendered["ok"]:
            return workspace(number, errors=rendered["errors"], status=rendered["status"])
        template = next((c for c in rpc.call("intake", "list_canned", {}, acting()).get(
            "canned", []) if c["id"] == canned_id), None)
        return workspace(number, draft=rendered["text"],
                         preview={"template": template, "text": rendered["text"]})

    def command(number: int, schema, form: dict, method: str, draft: str = ""):
        """Check the form with intake's own schema, then ask intake; either way back to the
        workspace (with the messages and the unsent text when something was refused)."""
        try:
            payload = schema.dump(load(schema, form))
        except ApiError as exc:
            return workspace(number, exc.errors, exc.status, draft=draft)
        result = rpc.call("intake", method, number, payload, acting())
        if result["ok"]:
            return redirect(url_for("agent_ticket", number=number), 303)
        if result["status"] == 404:
            abort(404)
        errors = {k: v for k, v in result["errors"].items() if k != "allowed"}
        return workspace(number, errors, result["status"], draft=draft)

    @app.post("/agent/tickets/<int:number>/message")
    @staff
    def agent_message(number: int):
        """A reply or internal note, with the files chosen (intake's attachment rules; a
        refused file refuses the message and keeps the draft) and, in a note, the colleagues
        it names with @ (they are notified)."""
        body = request.form.get("body") or ""
        public = request.form.get("visibility") != "internal"
        files = [f for f in request.files.getlist("files") if f.filename]
        if len(files) > MAX_FILES_PER_FORM:
            return workspace(number, {"attachments": [_(
                "At most %(count)d files at once.", count=MAX_FILES_PER_FORM)]}, 400,
                draft=body)
        try:
            payload = MessageCreateSchema().dump(load(MessageCreateSchema(),
                                                      {"body": body, "public": public}))
        except ApiError as exc:
            return workspace(number, exc.errors, exc.status, draft=body)
        result = rpc.call("intake", "add_message", number, payload, acting(),
                          [upload_payload(f, public) for f in files],
                          app.extensions["mentions_in"](number, body, public))
        if result["ok"]:
            return redirect(url_for("agent_ticket", number=number), 303)
        if result["status"] == 404:
            abort(404)
        errors = result["errors"]
        if isinstance(errors.get("attachments"), dict):  # per refused file, as on customer pages
            errors = dict(errors, attachments=[
                f"{name}: {refusal_reason(problems, empty=False)}"
                for name, problems in errors["attachments"].items()])
        return workspace(number, errors, result["status"], draft=body)

    @app.post("/agent/tickets/<int:number>/answer")
    @staff
    def agent_approve_answer(number: int):
        """The agent read (and maybe edited) the redacted answer: publish it for reuse."""
        ticket = ticket_or_404(number)
        approved = rpc.call("search", "approve_answer", {
            "number": number, "names": console.ticket_names(ticket),
            "title": request.form.get("title") or "", "body": request.form.get("body") or ""},
            acting())
        if not approved["ok"]:
            return render_template("agent/refused.html",
                                   errors=approved["errors"]), approved["status"]
        return redirect(url_for("agent_ticket", number=number,
                                reused=approved["answer"]["id"]) + "#reuse", 303)

    @app.post("/agent/tickets/<int:number>/status")
    @staff
    def agent_status(number: int):
        return command(number, StatusChangeSchema(), {"status": request.form.get("status") or ""},
                       "change_status")

    @app.post("/agent/tickets/<int:number>/fields")
    @staff
    def agent_fields(number: int):
        changes = {"tags": split_tags(request.form.get("tags") or "")}
        if request.form.get("priority"):
            changes["priority"] = request.form["priority"]
        return command(number, TicketUpdateSchema(), changes, "update_ticket")

    @app.post("/agent/tickets/<int:number>/assignee")
    @staff
    def agent_reassign(number: int):
        """Hand the ticket to a colleague; routing decides (rights, capacity) and assigns."""
        try:
            request_ = load(AssignRequestSchema(), {
                "agent_id": (request.form.get("agent_id") or "")[:64],
                "override_capacity": request.form.get("override_capacity") == "on"})
        except ApiError as exc:
            return workspace(number, exc.errors, exc.status)
        result = reassign_ticket(rpc, number, request_, acting())
        if result["ok"]:
            return redirect(url_for("agent_ticket", number=number,
                                    assigned=result["agent_id"]), 303)
        if result["status"] == 404 and "agent_id" not in result["errors"]:
            abort(404)
        return workspace(number, result["errors"], result["status"])

    @app.post("/agent/tickets/<int:number>/presence")
    @staff
    def agent_presence(number: int):
        """The workspace script's heartbeat: "I am still here (and typing?)"; answers who
        else is.  Same-origin only: CSRF-checked like every form."""
        ticket = ticket_or_404(number)
        mode = "replying" if request.form.get("mode") == "replying" else "viewing"
        now = portal.clock.now()
        portal.users.note_viewing(number, me(), mode, now, console.VIEWING_TTL)
        if request.form.get("announce") == "1":  # started or stopped typing: tell the others
            live.publish(PRESENCE, number, ticket["department"])
        return jsonify(viewers=console.other_viewers(portal.users.viewers(number, now),
                                                     me()["_id"]))
