"""The knowledge loop for supervisors and editors: the deflection funnel (JSON and CSV), the
top knowledge gaps (questions left unanswered and solved tickets no article covers, grouped by
meaning) and a draft article made from a gap, which an editor then reviews, edits and publishes
on the knowledge-base page."""
from __future__ import annotations

from flask import Response, g, redirect, render_template, request, url_for

from services.search.schemas import FunnelQuerySchema, GapDraftSchema, GapQuerySchema

from .. import console
from ..web import ApiError, json_body, load, query_args, reply
from .agent_pages import staff_page
from .supervisor_pages import funnel_step_labels

SUPERVISORS = console.SUPERVISOR_ROLES
OPERATIONS = [
    ("/api/admin/funnel", "get", "Deflection funnel per language and per suggested answer, "
     "top failing questions (supervisors)", FunnelQuerySchema, None, True),
    ("/api/admin/funnel.csv", "get", "The deflection funnel as CSV (supervisors)",
     FunnelQuerySchema, None, True),
    ("/api/admin/gaps", "get", "Top knowledge gaps: unanswered questions and uncovered solved "
     "tickets grouped by meaning (supervisors)", GapQuerySchema, None, True),
    ("/api/admin/gaps/draft", "post", "Draft articles from a gap's solved tickets: "
     "{tickets: [numbers], questions: [visit ids]} (supervisors)", None, None, True),
]
GAP_DAYS = (7, 30, 90)


def csv_response(report: dict) -> Response:
    return Response(console.funnel_csv(report, list(funnel_step_labels())),
                    mimetype="text/csv", headers={
                        "Content-Disposition": "attachment; filename=deflection-funnel.csv"})


def register(app, portal):
    rpc = portal.rpc
    supervisors_api = portal.requires(*SUPERVISORS)
    supervisors = staff_page(portal, SUPERVISORS)

    def funnel(raw: dict) -> dict:
        query = load(FunnelQuerySchema(), raw)
        return rpc.call("search", "deflection_funnel", FunnelQuerySchema().dump(query))

    def draft(numbers: list[int], questions: list[str], user: dict) -> dict:
        """Names each ticket knows (removed from the draft), then search drafts the articles."""
        acting = portal.actor(user)
        tickets = []
        for number in numbers:
            found = rpc.call("intake", "get_ticket", number, acting)
            if not found["ok"]:
                return found
            tickets.append({"number": number, "names": console.ticket_names(found["ticket"])})
        payload = load(GapDraftSchema(), {"tickets": tickets, "questions": questions})
        return rpc.call("search", "draft_from_gap", GapDraftSchema().dump(payload), acting)

    @app.get("/api/admin/funnel")
    @supervisors_api
    def funnel_report():
        return reply(funnel(dict(request.args)), key="funnel")

    @app.get("/api/admin/funnel.csv")
    @supervisors_api
    def funnel_report_csv():
        result = funnel(dict(request.args))
        reply(result)  # raises the API error when the query was refused
        return csv_response(result["funnel"])

    @app.get("/api/admin/gaps")
    @supervisors_api
    def knowledge_gaps():
        query = GapQuerySchema().dump(query_args(GapQuerySchema()))
        return reply(rpc.call("search", "knowledge_gaps", query))

    @app.post("/api/admin/gaps/draft")
    @supervisors_api
    def gap_draft():
        body = json_body()
        if not isinstance(body, dict) or not isinstance(body.get("tickets"), list) or \
                not all(isinstance(n, int) and not isinstance(n, bool) for n in body["tickets"]):
            raise ApiError(400, {"tickets": ["Give the gap's ticket numbers."]})
        return reply(draft(body["tickets"], body.get("questions") or [], g.user), 201,
                     key="draft")

    # ------------------------------------------------------------------ pages

    @app.get("/supervisor/gaps")
    @supervisors
    def supervisor_gaps():
        days = request.args.get("days", "30")
        days = int(days) if days in {str(d) for d in GAP_DAYS} else 30
        found = rpc.call("search", "knowledge_gaps", {"days": days, "limit": 20})
        return render_template("supervisor/gaps.html", gaps=found.get("gaps", []), days=days,
                               periods=GAP_DAYS, refused=request.args.get("refused"))

    @app.post("/supervisor/gaps/draft")
    @supervisors
    def supervisor_gap_draft():
        try:
            numbers = [int(n) for n in request.form.getlist("tickets")]
        except ValueError:
            numbers = []
        try:
            made = draft(numbers, request.form.getlist("questions"), portal.page_user()) \
                if numbers else {"ok": False}
        except ApiError:
            made = {"ok": False}
        if not made["ok"]:
            return redirect(url_for("supervisor_gaps", refused=1), 303)
        first = made["draft"]["articles"][0]["id"]
        return redirect(url_for("admin_articles", article=first) + "#article", 303)

    @app.get("/supervisor/funnel.csv")
    @supervisors
    def supervisor_funnel_csv():
        query = app.extensions["dashboard_period"]()["query"]
        result = funnel({"since": query["since"], "until": query["until"],
                         "language": request.args.get("language") or None})
        return csv_response(result["funnel"])
