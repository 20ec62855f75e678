"""Automation administration (admins): time rules, triggers (with a dry run), webhooks and
their dead letters.  The
automation service validates every payload itself; the views check that a JSON object was
sent, put the id from the path into it, and relay the answer, its field messages in the
reader's language (field_messages.py)."""
import functools

from flask import g
from marshmallow import fields

from services.automation.schemas import (DeadLetterView, DeliveryView, DryRunSchema,
                                          DryRunView, TimeRulesSchema, TriggerSchema,
                                          WebhookSchema)

from ..field_messages import localize
from ..schemas import reply_of
from ..web import ApiError, json_body, load, reply

WebhooksView = reply_of("WebhooksView", webhooks=fields.List(fields.Nested(WebhookSchema)))
TriggersView = reply_of("TriggersView", triggers=fields.List(fields.Nested(TriggerSchema)))
DeadLettersView = reply_of("DeadLettersView",
                           deliveries=fields.List(fields.Nested(DeliveryView)))

OPERATIONS = [
    ("/api/admin/time-rules", "get", "Admin: the time rules in effect (solved -> closed, "
     "pending reminder -> solved, new and unassigned -> escalated)", None, TimeRulesSchema,
     True),
    ("/api/admin/time-rules", "put", "Admin: replace the time rules (null switches a rule "
     "off)", TimeRulesSchema, TimeRulesSchema, True),
    ("/api/admin/triggers", "get", "Admin: triggers, in the order they run", None,
     TriggersView, True),
    ("/api/admin/triggers/{trigger_id}", "put", "Admin: create or replace a trigger (when a "
     "ticket is created/updated/replied/rated and the conditions hold, run the actions)",
     TriggerSchema, TriggerSchema, True),
    ("/api/admin/triggers/{trigger_id}", "delete", "Admin: delete a trigger", None, None, True),
    ("/api/admin/triggers/dry-run", "post", "Admin: what a trigger would do to a sample "
     "ticket now (nothing is changed or sent)", DryRunSchema, DryRunView, True),
    ("/api/admin/webhooks", "get", "Admin: webhooks (secrets are never shown)", None,
     WebhooksView, True),
    ("/api/admin/webhooks/{webhook_id}", "put", "Admin: create or replace a webhook (signed "
     "JSON deliveries of the ticket events it subscribes to)", WebhookSchema, WebhookSchema,
     True),
    ("/api/admin/webhooks/{webhook_id}", "delete", "Admin: delete a webhook", None, None, True),
    ("/api/admin/webhooks/dead-letters", "get", "Admin: deliveries that kept failing",
     None, DeadLettersView, True),
    ("/api/admin/webhooks/dead-letters/{delivery_id}", "get", "Admin: one dead letter with "
     "the JSON body it kept failing to deliver", None, DeadLetterView, True),
    ("/api/admin/webhooks/dead-letters/{delivery_id}/replay", "post", "Admin: send a dead "
     "letter again (a fresh round of attempts)", None, None, True),
]


def localized(view):
    """Refusals (the portal's and the automation service's) in the reader's language."""
    @functools.wraps(view)
    def translated(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except ApiError as exc:
            raise ApiError(exc.status, localize(exc.errors)) from None
    return translated


def register(app, portal):
    rpc, actor = portal.rpc, portal.actor

    def admins(view):
        return localized(portal.requires("admin")(view))

    @app.get("/api/admin/time-rules")
    @admins
    def time_rules():
        return reply(rpc.call("automation", "get_time_rules"), key="rules")

    @app.put("/api/admin/time-rules")
    @admins
    def update_time_rules():
        body = load(TimeRulesSchema(), json_body())
        return reply(rpc.call("automation", "update_time_rules", body, actor(g.user)),
                     key="rules")

    # Triggers and webhooks are managed alike: list, create-or-replace by id, delete by id.
    for plural, singular in (("triggers", "trigger"), ("webhooks", "webhook")):
        _register_collection(app, rpc, actor, admins, plural, singular)

    @app.post("/api/admin/triggers/dry-run")
    @admins
    def dry_run_trigger():
        return reply(rpc.call("automation", "dry_run_trigger", _json_object(), actor(g.user)),
                     key="result")

    @app.get("/api/admin/webhooks/dead-letters")
    @admins
    def dead_letters():
        return reply(rpc.call("automation", "dead_letters", actor(g.user)))

    @app.get("/api/admin/webhooks/dead-letters/<delivery_id>")
    @admins
    def dead_letter(delivery_id: str):
        return reply(rpc.call("automation", "dead_letter", delivery_id[:200], actor(g.user)),
                     key="delivery")

    @app.post("/api/admin/webhooks/dead-letters/<delivery_id>/replay")
    @admins
    def replay_dead_letter(delivery_id: str):
        reply(rpc.call("automation", "replay_dead_letter", delivery_id[:200], actor(g.user)))
        return "", 204


def _json_object() -> dict:
    body = json_body()
    if not isinstance(body, dict):
        raise ApiError(400, {"_schema": ["Expected a JSON object."]})
    return body


def _with_id(item_id: str) -> dict:
    """The JSON object sent, with the id from the path."""
    return {**_json_object(), "id": item_id}


def _register_collection(app, rpc, actor, admins, plural: str, singular: str) -> None:
    def listing():
        return reply(rpc.call("automation", f"list_{plural}"))

    def put(item_id: str):
        return reply(rpc.call("automation", f"upsert_{singular}", _with_id(item_id),
                              actor(g.user)), key=singular)

    def delete(item_id: str):
        reply(rpc.call("automation", f"delete_{singular}", item_id[:64], actor(g.user)))
        return "", 204

    app.add_url_rule(f"/api/admin/{plural}", f"automation_list_{plural}", admins(listing),
                     methods=["GET"])
    app.add_url_rule(f"/api/admin/{plural}/<item_id>", f"automation_put_{singular}",
                     admins(put), methods=["PUT"])
    app.add_url_rule(f"/api/admin/{plural}/<item_id>", f"automation_delete_{singular}",
                     admins(delete), methods=["DELETE"])
