"""Administration: automation (docs/automation.md), for admins only (the automation RPCs
refuse everyone else).  One page for the time rules and the triggers (list in order, edit
in a plain form, reorder, enable/disable, delete, dry run on a sample ticket); one for the
webhooks (a secret is shown once, when it is set) and their dead letters (inspect, replay).
The automation service validates; its messages are shown beside the form, translated."""
from __future__ import annotations

import json
import secrets

from flask import request
from flask_babel import gettext as _

from services.automation.schemas import (CONDITION_FIELDS, EDITABLE, MOMENT_NAMES, OPERATORS,
                                          TICKET_EVENTS, WEEKDAYS)
from .. import admin_forms as forms
from .. import automation_forms as auto
from .admin_pages import AdminSection, department_choices, find

OPERATIONS: list = []


def labels() -> dict[str, dict[str, str]]:
    """What the forms call the automation service's names, in the reader's language."""
    return {
        "field": {"status": _("Status"), "priority": _("Priority"),
                  "department": _("Department"), "category": _("Category"),
                  "channel": _("Channel"), "language": _("Language"),
                  "organization": _("Organization"), "plan": _("Plan"),
                  "requester_email": _("Requester's email"), "assignee_id": _("Assignee (id)"),
                  "tags": _("Tags"), "subject": _("Subject"),
                  "requester_verified": _("Requester verified (true/false)")},
        "op": {"is": _("is"), "is_not": _("is not"), "in": _("is one of (comma separated)"),
               "not_in": _("is none of (comma separated)"), "contains": _("contains"),
               "not_contains": _("does not contain")},
        "on": {"created": _("created"), "updated": _("updated"), "replied": _("replied to"),
               "rated": _("rated")},
        "day": {"mon": _("Mon"), "tue": _("Tue"), "wed": _("Wed"), "thu": _("Thu"),
                "fri": _("Fri"), "sat": _("Sat"), "sun": _("Sun")},
        "action": {"set_field": _("set a field"), "add_tags": _("add tags"),
                   "assign": _("assign"), "add_note": _("add an internal note"),
                   "email": _("send an email"), "webhook": _("call a webhook")},
        "to": {"requester": _("the requester"), "assignee": _("the assignee"),
               "followers": _("the followers")},
        "event": {"ticket_created": _("a ticket is created"),
                  "message_added": _("a message is added"),
                  "status_changed": _("a status changes"),
                  "ticket_solved": _("a ticket is solved"),
                  "ticket_closed": _("a ticket is closed"),
                  "ticket_reopened": _("a ticket is reopened"),
                  "ticket_updated": _("a ticket's fields change"),
                  "ticket_rated": _("a ticket is rated"),
                  "ticket_assigned": _("a ticket is assigned")},
        "status": {"pending": _("pending"), "delivered": _("delivered"), "dead": _("dead")},
    }


def register(app, portal):
    rpc = portal.rpc

    def admin() -> dict:
        return portal.actor(portal.page_user())

    def triggers() -> list[dict]:
        return rpc.call("automation", "list_triggers")["triggers"]

    def webhooks() -> list[dict]:
        return rpc.call("automation", "list_webhooks")["webhooks"]

    def automation_context(form_id, form):
        all_triggers = triggers()
        rules = rpc.call("automation", "get_time_rules")["rules"]
        trigger = forms.editor(auto.trigger_fields, "trigger", form, form_id,
                               find(all_triggers, request.args.get("trigger")))
        return dict(
            rules=forms.editor(auto.time_rules_fields, "time-rules", form, form_id, rules),
            triggers=all_triggers, trigger=trigger, condition_rows=auto.condition_rows(trigger),
            labels=labels(), fields=CONDITION_FIELDS, operators=OPERATORS,
            moments=MOMENT_NAMES, weekdays=WEEKDAYS, editable_fields=EDITABLE,
            department_choices=department_choices(
                rpc.call("routing", "list_departments")["departments"]),
            agent_choices=[(a["id"], a["name"])
                           for a in rpc.call("routing", "list_agents")["agents"]],
            webhook_choices=[(w["id"], w["url"]) for w in webhooks()],
            sample=(form or {}).get("number", ""))

    automation = AdminSection(app, portal, "admin_automation", "/admin/automation",
                              "admin/automation.html", automation_context)

    @automation.action("/admin/automation/time-rules", "time-rules")
    def admin_save_time_rules():
        return rpc.call("automation", "update_time_rules", auto.time_rules_payload(request.form),
                        admin())

    @app.post("/admin/automation/triggers")
    @automation.admins
    def admin_save_trigger():
        result = rpc.call("automation", "upsert_trigger", auto.trigger_payload(request.form),
                          admin())
        if not result["ok"]:  # shown again as typed, checkbox groups included
            return automation.render(result["errors"], result["status"], "trigger",
                                     auto.submitted(request.form))
        return automation.answer("trigger", result)

    def existing_trigger(trigger_id: str) -> dict:
        trigger = find(triggers(), trigger_id)
        if trigger is None:
            raise forms.FormProblem({"_schema": [_("That trigger no longer exists.")]})
        return trigger

    @automation.action("/admin/automation/triggers/<trigger_id>/toggle", "triggers")
    def admin_toggle_trigger(trigger_id: str):
        trigger = existing_trigger(trigger_id)
        return rpc.call("automation", "upsert_trigger",
                        dict(trigger, active=not trigger["active"]), admin())

    @automation.action("/admin/automation/triggers/<trigger_id>/move", "triggers")
    def admin_move_trigger(trigger_id: str):
        existing_trigger(trigger_id)
        all_triggers = triggers()
        position = forms.moved_position(all_triggers, trigger_id,
                                        request.form.get("direction", ""))
        if position is None:
            return {"ok": True}
        return rpc.call("automation", "upsert_trigger",
                        dict(find(all_triggers, trigger_id), position=position), admin())

    @automation.action("/admin/automation/triggers/<trigger_id>/delete", "triggers")
    def admin_delete_trigger(trigger_id: str):
        return rpc.call("automation", "delete_trigger", trigger_id[:64], admin())

    @app.post("/admin/automation/triggers/dry-run")
    @automation.admins
    def admin_dry_run_trigger():
        """The trigger as it stands in the form, on the sample ticket: nothing is saved."""
        form = auto.submitted(request.form)
        outcome = rpc.call("automation", "dry_run_trigger", auto.dry_run_payload(request.form),
                           admin())
        if not outcome["ok"]:
            return automation.render(outcome["errors"], outcome["status"], "trigger", form)
        conditions = auto.trigger_payload(request.form).get("conditions", [])
        return automation.render(form_id="trigger", form=form, dry_run=dict(
            outcome["result"], checks=list(zip(conditions, outcome["result"]["conditions"]))))

    # ------------------------------------------------------------------ webhooks

    def webhooks_context(form_id, form):
        all_webhooks = webhooks()
        dead = rpc.call("automation", "dead_letters", admin())["deliveries"]
        inspected = None
        if request.args.get("delivery"):
            found = rpc.call("automation", "dead_letter", request.args["delivery"][:200],
                             admin())
            inspected = found["delivery"] if found["ok"] else None
        return dict(
            webhooks=all_webhooks, dead_letters=dead, labels=labels(), events=TICKET_EVENTS,
            webhook=forms.editor(auto.webhook_fields, "webhook", form, form_id,
                                 find(all_webhooks, request.args.get("webhook"))),
            inspected=inspected, inspected_body=_pretty(inspected["body"]) if inspected else "")

    hooks = AdminSection(app, portal, "admin_webhooks", "/admin/webhooks",
                         "admin/webhooks.html", webhooks_context)

    @app.post("/admin/webhooks")
    @hooks.admins
    def admin_save_webhook():
        """A typed secret, or a generated one (a new webhook without one, or "new secret"),
        is shown once on the answer; otherwise the webhook keeps its secret."""
        form = auto.submitted(request.form)
        typed = (request.form.get("secret") or "").strip()
        new = find(webhooks(), (request.form.get("id") or "").strip()) is None
        secret = typed or (secrets.token_urlsafe(32)
                           if new or forms.checked(request.form, "new_secret") else None)
        result = rpc.call("automation", "upsert_webhook", auto.webhook_payload(request.form,
                                                                                secret), admin())
        if not result["ok"]:
            return hooks.render(result["errors"], result["status"], "webhook", form)
        return hooks.render(form_id="webhook-saved", saved_webhook=result["webhook"],
                            secret=secret)

    @hooks.action("/admin/webhooks/<webhook_id>/delete", "webhooks")
    def admin_delete_webhook(webhook_id: str):
        return rpc.call("automation", "delete_webhook", webhook_id[:64], admin())

    @hooks.action("/admin/webhooks/dead-letters/<delivery_id>/replay", "dead-letters")
    def admin_replay_dead_letter(delivery_id: str):
        return rpc.call("automation", "replay_dead_letter", delivery_id[:200], admin())


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return body
