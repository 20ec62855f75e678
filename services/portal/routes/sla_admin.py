"""SLA administration for supervisors and admins: business calendars, policies, compliance.

The SLA service validates every payload itself; these views only check that a JSON object
was sent, put the id from the path into it, and relay the service's answer."""
from flask import request

from services.sla.schemas import CalendarSchema, ComplianceQuery, PolicySchema

from ..web import ApiError, json_body, reply

MANAGERS = ("supervisor", "admin")

OPERATIONS = [
    ("/api/sla/calendars", "get", "Business calendars", None, CalendarSchema, True),
    ("/api/sla/calendars/{calendar_id}", "put", "Create or replace a business calendar",
     CalendarSchema, CalendarSchema, True),
    ("/api/sla/calendars/{calendar_id}", "delete", "Delete a calendar no policy uses",
     None, None, True),
    ("/api/sla/policies", "get", "SLA policies", None, PolicySchema, True),
    ("/api/sla/policies/{policy_id}", "put", "Create or replace an SLA policy",
     PolicySchema, PolicySchema, True),
    ("/api/sla/policies/{policy_id}", "delete", "Delete an SLA policy", None, None, True),
    ("/api/sla/compliance", "get", "Met/breached counts, rates and times per policy, "
     "priority, department or agent", ComplianceQuery, None, True),
    ("/api/sla/clocks/{ticket_id}", "get", "A ticket's SLA clock (staff only)", None, None, True),
]


def _object_with_id(key: str, value: str) -> dict:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, {"_schema": ["Expected a JSON object."]})
    return {**body, key: value}


def register(app, portal):
    rpc = portal.rpc
    managers = portal.requires(*MANAGERS)

    @app.get("/api/sla/calendars")
    @managers
    def sla_calendars():
        return reply(rpc.call("sla", "list_calendars"))

    @app.put("/api/sla/calendars/<calendar_id>")
    @managers
    def sla_put_calendar(calendar_id: str):
        return reply(rpc.call("sla", "upsert_calendar", _object_with_id("id", calendar_id)))

    @app.delete("/api/sla/calendars/<calendar_id>")
    @managers
    def sla_delete_calendar(calendar_id: str):
        return reply(rpc.call("sla", "delete_calendar", calendar_id))

    @app.get("/api/sla/policies")
    @managers
    def sla_policies():
        return reply(rpc.call("sla", "list_policies"))

    @app.put("/api/sla/policies/<policy_id>")
    @managers
    def sla_put_policy(policy_id: str):
        return reply(rpc.call("sla", "upsert_policy", _object_with_id("id", policy_id)))

    @app.delete("/api/sla/policies/<policy_id>")
    @managers
    def sla_delete_policy(policy_id: str):
        return reply(rpc.call("sla", "delete_policy", policy_id))

    @app.get("/api/sla/compliance")
    @managers
    def sla_compliance():
        return reply(rpc.call("sla", "compliance", dict(request.args.items())))

    @app.get("/api/sla/clocks/<ticket_id>")
    @portal.requires("agent", *MANAGERS)
    def sla_clock(ticket_id: str):
        return reply(rpc.call("sla", "get_clock", ticket_id))
