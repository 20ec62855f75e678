"""The automation administration forms <-> the automation service's payloads, with no I/O.

A trigger is edited in a plain form: a row per condition (field, operator, value), optional
business hours, and one input per kind of action, so no JSON is typed.  Inputs are named by
the payload path they fill (``business_hours.from``, ``actions.email.subject.en``) so the
service's field messages land beside them; the service's schema decides what is valid."""
from __future__ import annotations

from typing import Any, Mapping

from services.automation.schemas import EDITABLE

from .admin_forms import checked, given, integer, optional, shown, words

CONDITION_ROWS = 3          # empty rows offered below a trigger's conditions
MAX_CONDITIONS = 20         # as TriggerSchema
TIME_RULES = ("close_solved_after_days", "remind_pending_after_days",
              "solve_reminded_after_days", "escalate_unassigned_after_minutes")
LANGUAGES = ("en", "ru")
# Form inputs that carry several values (checkbox groups).
LIST_INPUTS = ("on", "business_hours.days", "events")


def submitted(form) -> dict:
    """What a refused form shows again: every input as typed, checkbox groups as lists."""
    return {key: form.getlist(key) if key in LIST_INPUTS else form.get(key)
            for key in form.keys()}


# ---------------------------------------------------------------------------- time rules

def time_rules_fields(rules: dict) -> dict:
    return {name: shown(rules.get(name)) for name in TIME_RULES}


def time_rules_payload(form: Mapping) -> dict:
    """A blank input switches that rule off (null)."""
    return {name: integer(form.get(name)) if (form.get(name) or "").strip() else None
            for name in TIME_RULES}


# ---------------------------------------------------------------------------- triggers

def _condition_value(field: str, op: str, raw: str) -> Any:
    if op in ("in", "not_in"):
        return words(raw)
    value = raw.strip()
    if field == "requester_verified" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def _conditions(form: Mapping) -> list[dict]:
    conditions = []
    for index in range(MAX_CONDITIONS + CONDITION_ROWS):
        field = form.get(f"conditions.{index}.field")
        if field:
            op = form.get(f"conditions.{index}.op") or "is"
            conditions.append({"field": field, "op": op, "value": _condition_value(
                field, op, form.get(f"conditions.{index}.value") or "")})
    return conditions


def _texts(form: Mapping, name: str) -> dict:
    return {lang: form[f"{name}.{lang}"].strip() for lang in LANGUAGES
            if (form.get(f"{name}.{lang}") or "").strip()}


def _actions(form: Mapping) -> list[dict]:
    actions: list[dict] = [{"type": "set_field", "field": field,
                            "value": form[f"actions.{field}"].strip()}
                           for field in EDITABLE if optional(form.get(f"actions.{field}"))]
    if words(form.get("actions.tags")):
        actions.append({"type": "add_tags", "tags": words(form.get("actions.tags"))})
    if optional(form.get("actions.assign")):
        actions.append({"type": "assign", "agent_id": form["actions.assign"].strip()})
    if optional(form.get("actions.note")):
        actions.append({"type": "add_note", "body": form["actions.note"]})
    if optional(form.get("actions.email.to")):
        actions.append({"type": "email", "email": {
            "to": form["actions.email.to"], "subject": _texts(form, "actions.email.subject"),
            "body": _texts(form, "actions.email.body")}})
    if optional(form.get("actions.webhook")):
        actions.append({"type": "webhook", "webhook_id": form["actions.webhook"].strip()})
    return actions


def _business_hours(form) -> dict | None:
    if not checked(form, "business_hours.enabled"):
        return None
    return given({"time_zone": (form.get("business_hours.time_zone") or "").strip(),
                  "days": form.getlist("business_hours.days"),
                  "from": (form.get("business_hours.from") or "").strip(),
                  "to": (form.get("business_hours.to") or "").strip(),
                  "inside": form.get("business_hours.inside") != "outside"})


def trigger_payload(form) -> dict:
    """``form`` is the request's MultiDict (checkbox groups are lists)."""
    return given({"id": (form.get("id") or "").strip(), "name": form.get("name", ""),
                  "position": integer(form.get("position") or "100"),
                  "active": checked(form, "active"), "on": form.getlist("on"),
                  "conditions": _conditions(form), "business_hours": _business_hours(form),
                  "actions": _actions(form)})


def trigger_fields(trigger: dict | None) -> dict:
    """A trigger as the form's inputs (a blank one: active, on creation, position 100)."""
    t = trigger or {"active": True, "on": ["created"], "position": 100}
    values: dict[str, Any] = {"id": shown(t.get("id")), "name": shown(t.get("name")),
                              "position": shown(t.get("position")),
                              "active": shown(t.get("active")), "on": list(t.get("on", []))}
    for index, condition in enumerate(t.get("conditions", [])):
        value = condition["value"]
        values.update({f"conditions.{index}.field": condition["field"],
                       f"conditions.{index}.op": condition["op"],
                       f"conditions.{index}.value": str(value).lower()
                       if isinstance(value, bool) else shown(value)})
    hours = t.get("business_hours")
    if hours:
        values.update({"business_hours.enabled": "on",
                       "business_hours.time_zone": hours["time_zone"],
                       "business_hours.days": list(hours["days"]),
                       "business_hours.from": hours["from"], "business_hours.to": hours["to"],
                       "business_hours.inside": "inside" if hours.get("inside", True)
                       else "outside"})
    kinds = [a["type"] if a["type"] != "set_field" else a["field"] for a in t.get("actions", [])]
    if len(kinds) != len(set(kinds)):  # made through the API: the form shows one of each
        values["repeated_actions"] = "on"
    for action in t.get("actions", []):
        kind = action["type"]
        if kind == "set_field":
            values[f"actions.{action['field']}"] = action["value"]
        elif kind == "add_tags":
            values["actions.tags"] = shown(action["tags"])
        elif kind == "assign":
            values["actions.assign"] = action["agent_id"]
        elif kind == "add_note":
            values["actions.note"] = action["body"]
        elif kind == "webhook":
            values["actions.webhook"] = action["webhook_id"]
        elif kind == "email":
            mail = action["email"]
            values["actions.email.to"] = mail["to"]
            for part in ("subject", "body"):
                values.update({f"actions.email.{part}.{lang}": text
                               for lang, text in mail[part].items()})
    return values


def condition_rows(values: Mapping) -> int:
    """How many condition rows the form shows: the filled ones and a few empty ones."""
    filled = [int(key.split(".")[1]) for key in values
              if key.startswith("conditions.") and key.endswith(".field") and values[key]]
    return min(max(filled, default=-1) + 1 + CONDITION_ROWS, MAX_CONDITIONS)


def dry_run_payload(form) -> dict:
    """A dry run of the trigger as it stands in the form (saved or not)."""
    trigger = trigger_payload(form)
    trigger.setdefault("id", "dry-run")
    return given({"trigger": trigger, "number": integer(form.get("number"))})


# ---------------------------------------------------------------------------- webhooks

def webhook_fields(webhook: dict | None) -> dict:
    w = webhook or {"active": True, "events": []}
    return {"id": shown(w.get("id")), "url": shown(w.get("url")),
            "events": list(w.get("events", [])), "active": shown(w.get("active"))}


def webhook_payload(form, secret: str | None) -> dict:
    """``secret`` None keeps an existing webhook's secret (the service refuses it for a new
    one)."""
    payload = given({"id": (form.get("id") or "").strip(), "url": (form.get("url") or "").strip(),
                     "events": form.getlist("events"), "active": checked(form, "active")})
    if secret is not None:
        payload["secret"] = secret
    return payload
