"""SLA administration for supervisors and admins: business calendars, policies, compliance.

The SLA service validates every payload itself; these views only check that a JSON object
was sent, put the id from the path into it, and relay the service's answer."""
from flask import g, request
from marshmallow import fields

from services.sla.schemas import CalendarSchema, ComplianceQuery, PolicySchema

from ..schemas import reply_of
from ..web import ApiError, json_body, reply

MANAGERS = ("supervisor", "admin")

CalendarsView = reply_of("CalendarsView", calendars=fields.List(fields.Nested(CalendarSchema)))
CalendarReply = reply_of("CalendarReply", calendar=fields.Nested(CalendarSchema))
PoliciesView = reply_of("PoliciesView", policies=fields.List(fields.Nested(PolicySchema)))
PolicyReply = reply_of("PolicyReply", policy=fields.Nested(PolicySchema))

OPERATIONS = [
    ("/api/sla/calendars", "get", "Business calendars", None, CalendarsView, True),
    ("/api/sla/calendars/{calendar_id}", "put", "Create or replace a business calendar",
     CalendarSchema, CalendarReply, True),
    ("/api/sla/calendars/{calendar_id}", "delete", "Delete a calendar no policy uses",
     None, None, True),
    ("/api/sla/policies", "get", "SLA policies", None, PoliciesView, True),
    ("/api/sla/policies/{policy_id}", "put", "Create or replace an SLA policy",
     PolicySchema, PolicyReply, True),
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

    # Calendars and policies are managed alike: list, create-or-replace by id, delete by id.
    for plural, singular in (("calendars", "calendar"), ("policies", "policy")):
        _register_collection(app, rpc, managers, plural, singular)

    @app.get("/api/sla/compliance")
    @managers
    def sla_compliance():
        return reply(rpc.call("sla", "compliance", dict(request.args.items())))

    @app.get("/api/sla/clocks/<ticket_id>")
    @portal.requires("agent", *MANAGERS)
    def sla_clock(ticket_id: str):
        found = rpc.call("sla", "get_clock", ticket_id)
        scope = portal.actor(g.user).get("departments")  # a department-scoped agent
        if found["ok"] and scope is not None and found["clock"]["department"] not in scope:
            raise ApiError(404, {"_schema": ["SLA clock not found"]})
        return reply(found)


def _register_collection(app, rpc, managers, plural: str, singular: str) -> None:
    def listing():
        return reply(rpc.call("sla", f"list_{plural}"))

    def put(item_id: str):
        return reply(rpc.call("sla", f"upsert_{singular}", _object_with_id("id", item_id)))

    def delete(item_id: str):
        return reply(rpc.call("sla", f"delete_{singular}", item_id))

    app.add_url_rule(f"/api/sla/{plural}", f"sla_list_{plural}", managers(listing),
                     methods=["GET"])
    app.add_url_rule(f"/api/sla/{plural}/<item_id>", f"sla_put_{singular}", managers(put),
                     methods=["PUT"])
    app.add_url_rule(f"/api/sla/{plural}/<item_id>", f"sla_delete_{singular}",
                     managers(delete), methods=["DELETE"])
