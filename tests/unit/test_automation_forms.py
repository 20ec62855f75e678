"""The automation administration forms' reshaping into the automation service's payloads (and
back), checked against the service's own schemas; and the field messages in Russian."""
from flask import Flask
from werkzeug.datastructures import MultiDict

from services.automation.schemas import TimeRulesSchema, TriggerSchema, WebhookSchema
from services.portal import automation_forms as auto
from services.portal import i18n
from services.portal.field_messages import localize

TRIGGER = {"id": "vip-invoices", "name": "VIP invoices", "position": 10, "active": True,
           "on": ["created", "replied"],
           "conditions": [{"field": "tags", "op": "contains", "value": "vip"},
                          {"field": "channel", "op": "in", "value": ["email", "web"]},
                          {"field": "requester_verified", "op": "is", "value": False}],
           "business_hours": {"time_zone": "Europe/Moscow", "days": ["mon", "fri"],
                              "from": "09:00", "to": "18:00", "inside": False},
           "actions": [{"type": "set_field", "field": "priority", "value": "high"},
                       {"type": "set_field", "field": "department", "value": "billing"},
                       {"type": "add_tags", "tags": ["vip-invoice", "money"]},
                       {"type": "assign", "agent_id": "agent-anna"},
                       {"type": "add_note", "body": "Check the contract terms first."},
                       {"type": "email", "email": {
                           "to": "requester", "subject": {"en": "Hi", "ru": "Привет"},
                           "body": {"en": "Seen #$ticket_number", "ru": "Видим"}}},
                       {"type": "webhook", "webhook_id": "crm"}]}


def as_form(values: dict) -> MultiDict:
    """What a browser posts for these inputs (checkbox groups as repeated names)."""
    return MultiDict([(k, item) for k, v in values.items()
                      for item in (v if isinstance(v, list) else [v])])


def test_a_trigger_round_trips_through_the_form_and_passes_the_schema():
    fields = auto.trigger_fields(TRIGGER)
    assert fields["conditions.1.value"] == "email, web"
    assert fields["conditions.2.value"] == "false"
    assert fields["business_hours.inside"] == "outside"
    payload = auto.trigger_payload(as_form(fields))
    assert payload == TRIGGER
    assert TriggerSchema().load(payload) == {**TRIGGER, "business_hours": {
        **TRIGGER["business_hours"]}}


def test_a_trigger_with_two_actions_of_a_kind_is_flagged():
    assert "repeated_actions" not in auto.trigger_fields(TRIGGER)
    twice = dict(TRIGGER, actions=TRIGGER["actions"] + [{"type": "add_note", "body": "Again"}])
    assert auto.trigger_fields(twice)["repeated_actions"] == "on"


def test_a_blank_trigger_form_offers_empty_condition_rows_and_the_defaults():
    fields = auto.trigger_fields(None)
    assert fields["active"] == "on" and fields["on"] == ["created"]
    assert auto.condition_rows(fields) == auto.CONDITION_ROWS
    assert auto.condition_rows(auto.trigger_fields(TRIGGER)) == 3 + auto.CONDITION_ROWS


def test_empty_rows_and_unfilled_actions_are_left_out():
    form = as_form({"id": "t", "name": "Only tags", "position": "", "on": ["rated"],
                    "conditions.0.field": "", "conditions.0.value": "ignored",
                    "conditions.1.field": "subject", "conditions.1.op": "contains",
                    "conditions.1.value": " refund ", "actions.priority": "",
                    "actions.tags": "a, b", "actions.email.to": "", "actions.note": "  "})
    assert auto.trigger_payload(form) == {
        "id": "t", "name": "Only tags", "position": 100, "active": False, "on": ["rated"],
        "conditions": [{"field": "subject", "op": "contains", "value": "refund"}],
        "business_hours": None, "actions": [{"type": "add_tags", "tags": ["a", "b"]}]}


def test_a_dry_run_of_an_unsaved_trigger_and_a_number_typed_as_text():
    dry = auto.dry_run_payload(as_form({"name": "x", "on": ["created"], "number": "12",
                                        "actions.note": "hi"}))
    assert dry["trigger"]["id"] == "dry-run" and dry["number"] == 12
    assert auto.dry_run_payload(as_form({"number": "twelve"}))["number"] == "twelve"


def test_time_rules_blank_switches_a_rule_off():
    form = as_form({"close_solved_after_days": "4", "remind_pending_after_days": "",
                    "solve_reminded_after_days": "x", "escalate_unassigned_after_minutes": "30"})
    payload = auto.time_rules_payload(form)
    assert payload == {"close_solved_after_days": 4, "remind_pending_after_days": None,
                       "solve_reminded_after_days": "x", "escalate_unassigned_after_minutes": 30}
    assert auto.time_rules_fields(dict(payload, solve_reminded_after_days=4))[
        "remind_pending_after_days"] == ""
    assert TimeRulesSchema().validate(payload) == {
        "solve_reminded_after_days": ["Not a valid integer."]}


def test_a_webhook_keeps_its_secret_unless_one_is_given():
    form = as_form({"id": "crm", "url": " https://crm.example/hook ", "active": "on",
                    "events": ["ticket_created", "ticket_solved"]})
    kept = auto.webhook_payload(form, None)
    assert "secret" not in kept and kept["events"] == ["ticket_created", "ticket_solved"]
    assert WebhookSchema().validate(kept) == {}
    assert auto.webhook_payload(form, "s" * 20)["secret"] == "s" * 20
    assert auto.webhook_fields(kept)["events"] == kept["events"]


def test_field_messages_read_in_russian_with_their_values_and_unknown_ones_stay():
    app = Flask(__name__)
    i18n.install(app, lambda: None)
    errors = TriggerSchema().validate({"id": "Bad Id", "name": "n", "on": ["never"],
                                       "actions": [{"type": "set_field", "field": "priority",
                                                    "value": "vital"}], "extra": 1})
    with app.test_request_context("/?lang=ru"):
        russian = localize(dict(errors, number=["Something new."]))
    assert russian["id"] == ["Используйте от 1 до 40 строчных латинских букв, цифр, «-» или «_»."]
    assert russian["on"] == {0: ["Допустимые значения: created, updated, replied, rated."]}
    assert russian["actions"] == {0: {"value": ["Одно из: low, normal, high, urgent."]}}
    assert russian["extra"] == ["В этой форме нет такого поля."]
    assert russian["number"] == ["Something new."]
    with app.test_request_context("/?lang=en"):
        english = localize(errors)
    assert english["id"] == errors["id"] and english["on"] == errors["on"]
