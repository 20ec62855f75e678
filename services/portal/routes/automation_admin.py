"""Automation administration (admins): the time rules.  The automation service validates
the payload itself; the view checks it was a JSON object and relays the answer."""
from flask import g

from services.automation.contract import TimeRulesSchema

from ..web import json_body, load, reply

OPERATIONS = [
    ("/api/admin/time-rules", "get", "Admin: the time rules in effect (solved -> closed, "
     "pending reminder -> solved, new and unassigned -> escalated)", None, TimeRulesSchema,
     True),
    ("/api/admin/time-rules", "put", "Admin: replace the time rules (null switches a rule "
     "off)", TimeRulesSchema, TimeRulesSchema, True),
]


def register(app, portal):
    rpc, actor = portal.rpc, portal.actor

    @app.get("/api/admin/time-rules")
    @portal.requires("admin")
    def time_rules():
        return reply(rpc.call("automation", "get_time_rules"), key="rules")

    @app.put("/api/admin/time-rules")
    @portal.requires("admin")
    def update_time_rules():
        body = load(TimeRulesSchema(), json_body())
        return reply(rpc.call("automation", "update_time_rules", body, actor(g.user)),
                     key="rules")
