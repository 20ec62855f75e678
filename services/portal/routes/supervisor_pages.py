"""The supervisor dashboard: intake's report (aggregated in Mongo), SLA compliance and
suggestion deflection for a period and department, drawn with Chart.js (vendored, served from
this origin), the newest supervisor alerts (SLA escalations, incidents) and the per-agent
table as CSV."""
from __future__ import annotations

from datetime import timedelta, timezone

from flask import render_template, request
from flask_babel import gettext as _
from nameko.exceptions import RpcTimeout

from services.intake.schemas import ReportQuerySchema

from .. import console
from ..web import ApiError, load
from .agent_pages import staff_page
from .reports import agent_names, agents_csv

OPERATIONS: list = []
PERIODS = (1, 7, 30, 90)  # days the period filter offers
ALERTS_SHOWN = 20  # the newest supervisor alerts (SLA escalations, incidents)


def alert_kind_labels() -> dict:
    return {"sla_warning": _("SLA warning"), "sla_breached": _("SLA breached"),
            "incident": _("Incident")}


def channel_labels() -> dict:
    return {"portal": _("Portal"), "email": _("Email"), "api": "API", "chat": _("Chat")}


def target_labels() -> dict:
    return {"first_response": _("First response"), "next_response": _("Next response"),
            "resolution": _("Resolution")}


def funnel_step_labels() -> dict:
    return {"typed": _("Questions typed"), "shown": _("Suggestions shown"),
            "opened": _("Opened"), "solved": _("Solved it"), "not_helped": _("Didn't help"),
            "filed": _("Ticket filed anyway")}


def register(app, portal):
    rpc = portal.rpc
    supervisors = staff_page(portal, console.SUPERVISOR_ROLES)

    def filters() -> dict:
        """The page's period and department, as report and compliance queries; anything
        unexpected falls back to the last 30 days of every department.  "Last N days" is N
        whole UTC days ending with today, the grain of intake's daily rollups."""
        days = request.args.get("days", "30")
        days = int(days) if days in {str(p) for p in PERIODS} else 30  # "¹".isdigit() too
        today = portal.clock.now().astimezone(timezone.utc).replace(
            hour=0, minute=0, second=0, microsecond=0)
        since, until = today - timedelta(days=days - 1), today + timedelta(days=1)
        department = request.args.get("department") or None
        try:
            query = load(ReportQuerySchema(), {"since": since.isoformat(),
                                               "until": until.isoformat(),
                                               "department": department})
        except ApiError:
            query = load(ReportQuerySchema(), {"since": since.isoformat(),
                                               "until": until.isoformat()})
        return {"days": days, "query": ReportQuerySchema().dump(query),
                "period": {"first": since.date().isoformat(),
                           "last": (until - timedelta(days=1)).date().isoformat()}}

    app.extensions["dashboard_period"] = filters  # the funnel's CSV (knowledge_loop.py)

    @app.get("/supervisor")
    @supervisors
    def supervisor_dashboard():
        try:
            return dashboard(filters())
        except RpcTimeout:
            # A report over a very large period can outlast the RPC timeout: say so (503)
            # rather than fail with a traceback.
            return render_template("message.html", status=503, reason="busy"), 503

    def dashboard(chosen: dict):
        query = chosen["query"]
        report = rpc.call("intake", "report", query)["report"]
        compliance = rpc.call("sla", "compliance", {
            "by": "department", "since": query["since"], "until": query["until"]})
        groups = [g for g in compliance.get("groups", [])
                  if not query["department"] or g["key"] == query["department"]]
        deflection = console.deflection(rpc.call("search", "feedback_summary").get("results", []))
        funnel = rpc.call("search", "deflection_funnel", {"since": query["since"],
                                                         "until": query["until"]})["funnel"]
        names = agent_names(rpc)
        alerts = [a for a in rpc.call("routing", "list_alerts", ALERTS_SHOWN)["alerts"]
                  if not query["department"] or a.get("department") == query["department"]]
        return render_template(
            "supervisor/dashboard.html", report=report, compliance=groups,
            sla_rate=console.sla_compliance_rate(groups), deflection=deflection,
            funnel=funnel, agent_names=names, alerts=alerts, alert_kinds=alert_kind_labels(),
            periods=PERIODS, funnel_steps=funnel_step_labels(), days=chosen["days"],
            period=chosen["period"],
            department=query["department"],
            departments=rpc.call("routing", "list_departments")["departments"],
            charts=dict(console.chart_data(report, groups, chart_names()),
                        funnel=console.funnel_chart(funnel, funnel_step_labels())))

    def chart_names() -> dict:
        """Chart labels in the page's language: departments, channels, SLA targets."""
        label = app.extensions["department_label"]
        found = {d["id"]: label(d["id"])
                 for d in rpc.call("routing", "list_departments")["departments"]}
        return dict(found, **channel_labels(), **target_labels())

    @app.get("/supervisor/report.csv")
    @supervisors
    def supervisor_report_csv():
        return agents_csv(rpc.call("intake", "report", filters()["query"])["report"],
                          agent_names(rpc))
