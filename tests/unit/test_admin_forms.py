"""The administration forms' reshaping into the services' payloads (and back)."""
import pytest

from services.portal import admin_forms as forms


def test_nested_and_indexed_service_messages_land_on_form_field_names():
    flat = forms.flatten_errors({
        "targets": {"first_response": ["Must be a whole number"]},
        "hours": {"mon": ["09:00-13:00 overlaps 12:00-18:00"]},
        "holidays": {1: ["Not a valid date."]},
        "conditions.0": ["Invalid regular expression"],
        "_schema": ["ticket not found"]})
    assert flat == {"targets.first_response": ["Must be a whole number"],
                    "hours.mon": ["09:00-13:00 overlaps 12:00-18:00"],
                    "holidays": ["#2: Not a valid date."],
                    "conditions": ["#1: Invalid regular expression"],
                    "_schema": ["ticket not found"]}


def test_policy_round_trip_keeps_what_the_form_does_not_show():
    current = {"id": "acme", "name": "Acme", "priority": "high", "organization": "acme",
               "department": None, "calendar_id": "office", "warning_threshold": 0.5,
               "targets": {"first_response": 30, "next_response": None, "resolution": 240},
               "escalation": {"resolution": {"breach": ["notify_supervisor"]}}, "plan": "gold"}
    fields = forms.policy_fields(current)
    assert fields["targets.first_response"] == "30" and fields["department"] == ""
    payload = forms.policy_payload(fields, current)
    assert payload == current


def test_numbers_that_are_not_numbers_are_passed_on_for_the_schema_to_refuse():
    payload = forms.policy_payload({"id": "p", "name": "P", "priority": "low",
                                    "targets.first_response": "soon",
                                    "targets.resolution": "", "warning_threshold": "0,9"}, None)
    assert payload["targets"] == {"first_response": "soon", "next_response": None}
    assert payload["warning_threshold"] == 0.9


def test_calendar_hours_are_parsed_and_malformed_intervals_named_per_day():
    form = {"id": "office", "name": "Office", "time_zone": "Europe/Moscow",
            "hours.mon": "09:00-13:00, 14:00-18:00", "holidays": "2027-01-01,\n2027-01-02",
            "yearly_holidays": "05-09"}
    payload = forms.calendar_payload(form)
    assert payload["hours"]["mon"] == [["09:00", "13:00"], ["14:00", "18:00"]]
    assert payload["hours"]["sun"] == [] and payload["always_open"] is False
    assert payload["holidays"] == ["2027-01-01", "2027-01-02"]
    assert forms.calendar_fields(payload)["hours.mon"] == "09:00-13:00, 14:00-18:00"
    with pytest.raises(forms.FormProblem) as problem:
        forms.calendar_payload(dict(form, **{"hours.tue": "nine to five", "hours.wed": "-9"}))
    assert set(problem.value.errors) == {"hours.tue", "hours.wed"}


def test_rule_conditions_are_one_a_line_with_lists_for_list_operators():
    form = {"id": "r", "name": "R", "position": "10", "enabled": "on", "match": "any",
            "conditions": "subject contains_any refund, invoice\n\nchannel equals email",
            "actions.department": "billing", "actions.add_tags": "money, vip",
            "actions.priority": ""}
    payload = forms.rule_payload(form)
    assert payload["conditions"] == [
        {"field": "subject", "op": "contains_any", "value": ["refund", "invoice"]},
        {"field": "channel", "op": "equals", "value": "email"}]
    assert payload["actions"] == {"department": "billing", "add_tags": ["money", "vip"]}
    assert payload["enabled"] is True and payload["stop"] is False
    assert forms.rule_fields(dict(payload, id="r"))["conditions"] == \
        "subject contains_any refund, invoice\nchannel equals email"
    with pytest.raises(forms.FormProblem, match="Line 2"):
        forms.parse_conditions("text matches x\nsubject")


def test_moving_a_rule_takes_one_write_next_to_its_neighbour():
    rules = [{"id": "a", "position": 10}, {"id": "b", "position": 20},
             {"id": "c", "position": 20}]
    assert forms.moved_position(rules, "b", "up") == 9
    assert forms.moved_position(rules, "b", "down") == 21
    assert forms.moved_position(rules, "a", "up") is None
    assert forms.moved_position(rules, "c", "down") is None
    assert forms.moved_position([{"id": "a", "position": 0}, {"id": "b", "position": 5}],
                                "b", "up") == 0


def test_mail_settings_checkboxes_become_toggles():
    payload = forms.mail_payload({"sender_address": " desk@acme.test ", "sender_name": "",
                                  "notifications.received": "on"})
    assert payload == {"sender_address": "desk@acme.test", "sender_name": None,
                       "reply_to": None, "default_language": "en",
                       "notifications": {"received": True, "replied": False, "solved": False,
                                         "reminder": False, "sla_warning": False,
                                         "merged": False, "mentioned": False,
                                         "followed": False}}
    assert forms.mail_fields(dict(payload, notifications={"received": True, "replied": False,
                                                          "solved": True}))[
        "notifications.replied"] == ""


def test_editor_shows_what_was_refused_or_the_item():
    item = {"id": "general", "name": "General"}
    assert forms.editor(forms.department_fields, "department", {"id": "typed"}, "department",
                        item) == {"id": "typed"}
    assert forms.editor(forms.department_fields, "department", {"id": "typed"}, "rule",
                        item)["name"] == "General"


def test_ids_are_made_from_names_transliterating_russian_and_never_reuse_one():
    assert forms.new_id("Billing & Account", []) == "billing-account"
    assert forms.new_id("Счета и оплата", []) == "scheta-i-oplata"
    assert forms.new_id("Счета и оплата", ["scheta-i-oplata", "scheta-i-oplata-2"]) == \
        "scheta-i-oplata-3"
    made = forms.new_id("Очень длинное название отдела технической поддержки клиентов", [])
    assert len(made) <= 40 and not made.endswith("-")
    assert forms.new_id("!!!", []) == ""


def test_a_typed_id_is_kept_and_a_blank_one_is_made_from_the_name():
    assert forms.identified({"id": "vip", "name": "VIP"}, "name", ["vip"])["id"] == "vip"
    assert forms.identified({"name": "VIP"}, "name", ["vip"])["id"] == "vip-2"
    assert "id" not in forms.identified({"name": ""}, "name", [])  # the schema asks for one


def test_article_categories_are_taken_as_people_type_them():
    assert forms.article_payload({"category": "Account"}, new=False)["category"] == "account"
    assert forms.article_payload({"category": "Счета"}, new=False)["category"] == "scheta"
    assert forms.article_payload({"category": " "}, new=False).get("category") is None
    assert forms.article_payload({"category": "???"}, new=False)["category"] == "???"
