"""Supervisor figures: JSON for the dashboard and programs, CSV for spreadsheets."""
import csv
import io

from flask import Response

from services.intake.schemas import ReportQuerySchema

from ..web import query_args, reply

OPERATIONS = [
    ("/api/reports", "get", "Volume, backlog, response and resolution times, FCR, CSAT, "
     "per agent (supervisors)", ReportQuerySchema, None, True),
    ("/api/reports.csv", "get", "The per-agent table as CSV (supervisors)", ReportQuerySchema,
     None, True),
]
SUPERVISORS = ("supervisor", "admin")
CSV_COLUMNS = ("agent_id", "agent_name", "assigned", "solved",
               "median_first_response_minutes", "median_resolution_minutes", "csat_score",
               "csat_average", "csat_rated")


def headline(report: dict) -> list[tuple[str, object]]:
    """The dashboard's figures, as (name, value) rows under the per-agent table."""
    return [(name, report.get(name)) for name in (
        "created", "solved", "reopened", "backlog", "unassigned", "overdue")] + [
        ("median_first_response_minutes", report["first_response"]["median_minutes"]),
        ("median_resolution_minutes", report["resolution"]["median_minutes"]),
        ("first_contact_resolution_rate", report["first_contact_resolution_rate"]),
        ("csat_score", report["csat"]["score"]), ("csat_average", report["csat"]["average"]),
        ("csat_rated", report["csat"]["rated"])]


def agents_csv(report: dict, names: dict[str, str]) -> Response:
    """The per-agent table of a report (agents by name as well as id), then a blank line
    and the headline figures, as a CSV download (the API's and the dashboard's)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(dict(row, agent_name=names.get(row["agent_id"], ""))
                     for row in report["agents"])
    plain = csv.writer(out)
    plain.writerow([])
    plain.writerow(["figure", "value"])
    plain.writerows(headline(report))
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=agents.csv"})


def agent_names(rpc) -> dict[str, str]:
    return {a["id"]: a["name"] for a in rpc.call("routing", "list_agents")["agents"]}


def register(app, portal):
    def fetch() -> dict:
        query = ReportQuerySchema().dump(query_args(ReportQuerySchema()))
        return portal.rpc.call("intake", "report", query)

    @app.get("/api/reports")
    @portal.requires(*SUPERVISORS)
    def report():
        return reply(fetch())

    @app.get("/api/reports.csv")
    @portal.requires(*SUPERVISORS)
    def report_csv():
        result = fetch()
        reply(result)  # raises the API error when the query was refused
        return agents_csv(result["report"], agent_names(portal.rpc))
