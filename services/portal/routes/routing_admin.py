"""Routing administration: rules (saved only when valid), dry runs, department queues in the
order agents see them, agent availability and supervisor alerts."""
from flask import g
from marshmallow import fields

from services.routing.schemas import (AlertView, AssignRequestSchema, AvailabilitySchema,
                                      DryRunTicketSchema, QueueEntryView, RuleSchema, RuleView)

from ..schemas import reply_of
from ..web import ApiError, json_body, load, reply

STAFF = ("agent", "supervisor", "admin")
MANAGERS = ("supervisor", "admin")

RulesView = reply_of("RulesView", rules=fields.List(fields.Nested(RuleView)))
RuleReply = reply_of("RuleReply", rule=fields.Nested(RuleView))
QueueView = reply_of("QueueView", mode=fields.Str(),
                     tickets=fields.List(fields.Nested(QueueEntryView)))
AlertsView = reply_of("AlertsView", alerts=fields.List(fields.Nested(AlertView)))
AssignedView = reply_of("AssignedView", ticket_id=fields.Str(), number=fields.Int(),
                        agent_id=fields.Str(), agent_name=fields.Str(), load=fields.Int(),
                        capacity=fields.Int())

OPERATIONS = [
    ("/api/routing/rules", "get", "Routing rules in evaluation order (staff)", None, RulesView,
     True),
    ("/api/routing/rules/{rule_id}", "put",
     "Create or replace a rule; unknown fields, bad regexes and missing departments are "
     "refused with field messages (supervisor, admin)", RuleSchema, RuleReply, True),
    ("/api/routing/rules/{rule_id}", "delete", "Delete a rule (supervisor, admin)", None, None,
     True),
    ("/api/routing/dry-run", "post", "Which rules would fire for a ticket, and why (staff)",
     DryRunTicketSchema, None, True),
    ("/api/routing/queues/{department}", "get",
     "Unassigned waiting tickets in the order agents see them (staff)", None, QueueView, True),
    ("/api/routing/agents/{agent_id}/availability", "put",
     "Set online/away/offline/vacation (the agent, or a supervisor/admin)", AvailabilitySchema,
     None, True),
    ("/api/routing/alerts", "get", "Supervisor alerts: SLA escalations, incidents", None,
     AlertsView, True),
    ("/api/tickets/{number}/assignee", "put",
     "Hand a waiting or assigned ticket to an agent of its department, within their capacity "
     "(supervisors and admins: any ticket, and override_capacity; agents: tickets of their "
     "own departments).  The assignee and audit history follow shortly (event).",
     AssignRequestSchema, AssignedView, True),
]


def register(app, portal):
    rpc = portal.rpc

    @app.get("/api/routing/rules")
    @portal.requires(*STAFF)
    def list_rules():
        return reply(rpc.call("routing", "list_rules"))

    @app.put("/api/routing/rules/<rule_id>")
    @portal.requires(*MANAGERS)
    def save_rule(rule_id: str):
        body = json_body()
        if not isinstance(body, dict):
            raise ApiError(400, {"_schema": ["Expected a JSON object."]})
        if body.get("id", rule_id) != rule_id:
            raise ApiError(400, {"id": ["Must match the rule id in the address."]})
        # The routing service validates (it knows the departments): one place, one message.
        return reply(rpc.call("routing", "save_rule", dict(body, id=rule_id)))

    @app.delete("/api/routing/rules/<rule_id>")
    @portal.requires(*MANAGERS)
    def delete_rule(rule_id: str):
        reply(rpc.call("routing", "delete_rule", rule_id))
        return "", 204

    @app.post("/api/routing/dry-run")
    @portal.requires(*STAFF)
    def dry_run():
        return reply(rpc.call("routing", "dry_run", json_body()))

    @app.get("/api/routing/queues/<department>")
    @portal.requires(*STAFF)
    def queue(department: str):
        scope = portal.actor(g.user).get("departments")  # a department-scoped agent
        if scope is not None and department not in scope:
            raise ApiError(403, {"_schema": ["Not one of your departments."]})
        return reply(rpc.call("routing", "queue", department))

    @app.put("/api/routing/agents/<agent_id>/availability")
    @portal.requires(*STAFF)
    def set_availability(agent_id: str):
        if g.user["role"] == "agent" and g.user["_id"] != agent_id:
            raise ApiError(403, {"_schema": ["Agents set only their own availability."]})
        return reply(rpc.call("routing", "set_availability", agent_id, json_body()))

    @app.put("/api/tickets/<int:number>/assignee")
    @portal.requires(*STAFF)
    def reassign(number: int):
        return reply(reassign_ticket(rpc, number, load(AssignRequestSchema(), json_body()),
                                     portal.actor(g.user)))

    @app.get("/api/routing/alerts")
    @portal.requires(*MANAGERS)
    def alerts():
        return reply(rpc.call("routing", "list_alerts"))


def reassign_ticket(rpc, number: int, request: dict, actor: dict) -> dict:
    """Shared by the API and the agent workspace: intake says which ticket (and whether this
    person may see it), routing decides and assigns."""
    found = rpc.call("intake", "get_ticket", number, actor)
    if not found["ok"]:
        return found
    # Routing checks an agent's departments against its own profile of them.
    by = {k: v for k, v in actor.items() if k != "departments"}
    return rpc.call("routing", "reassign", found["ticket"]["id"],
                    dict(AssignRequestSchema().dump(request), actor=by))
