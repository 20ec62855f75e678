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
CSV_COLUMNS = ("agent_id", "assigned", "solved", "median_first_response_minutes",
               "median_resolution_minutes", "csat_score", "csat_average", "csat_rated")


def agents_csv(report: dict) -> Response:
    """The per-agent table of a report as a CSV download (the API's and the dashboard's)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(report["agents"])
    return Response(out.getvalue(), mimetype="text/csv", headers={
        "Content-Disposition": "attachment; filename=agents.csv"})


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
        return agents_csv(result["report"])
