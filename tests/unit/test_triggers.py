"""Triggers (services/automation/triggers.py, contract.py): conditions, business hours,
planned edits, the loop guard and the admin's payload."""
from datetime import datetime, timezone

import pytest
from marshmallow import ValidationError

from services.automation import triggers as tg
from services.automation.schemas import TriggerSchema

TICKET = {"status": "open", "priority": "normal", "department": "billing", "channel": "email",
          "tags": ["vip", "invoice"], "subject": "Invoice is WRONG", "requester_verified": False,
          "requester_email": "ann@example.com", "organization": "acme"}
MONDAY_10_MSK = datetime(2030, 1, 7, 7, 0, tzinfo=timezone.utc)


def trigger(conditions=(), hours=None, actions=({"type": "add_tags", "tags": ["x"]},)):
    return {"_id": "t", "position": 1, "active": True, "on": ["created"],
            "conditions": list(conditions), "business_hours": hours, "actions": list(actions)}


@pytest.mark.parametrize("condition, holds", [
    ({"field": "priority", "op": "is", "value": "normal"}, True),
    ({"field": "priority", "op": "is_not", "value": "normal"}, False),
    ({"field": "department", "op": "in", "value": ["billing", "sales"]}, True),
    ({"field": "channel", "op": "not_in", "value": ["portal"]}, True),
    ({"field": "tags", "op": "contains", "value": "vip"}, True),
    ({"field": "tags", "op": "not_contains", "value": "vip"}, False),
    ({"field": "tags", "op": "is", "value": ["invoice", "vip"]}, True),
    ({"field": "subject", "op": "contains", "value": "wrong"}, True),
    ({"field": "requester_verified", "op": "is", "value": False}, True),
    ({"field": "organization", "op": "is", "value": "other"}, False),
    ({"field": "category", "op": "is", "value": "x"}, False),
])
def test_conditions(condition, holds):
    assert tg.evaluate(trigger([condition]), TICKET, MONDAY_10_MSK).matches is holds


HOURS = {"time_zone": "Europe/Moscow", "days": ["mon", "tue"], "from": "09:00", "to": "18:00",
         "inside": True}


@pytest.mark.parametrize("at, inside, matches", [
    (MONDAY_10_MSK, True, True),
    (datetime(2030, 1, 7, 16, 0, tzinfo=timezone.utc), True, False),   # 19:00 in Moscow
    (datetime(2030, 1, 9, 7, 0, tzinfo=timezone.utc), True, False),    # Wednesday
    (datetime(2030, 1, 7, 16, 0, tzinfo=timezone.utc), False, True),   # outside, as asked
])
def test_time_of_day_by_the_trigger_s_business_hours(at, inside, matches):
    verdict = tg.evaluate(trigger(hours=dict(HOURS, inside=inside)), TICKET, at)
    assert verdict.matches is matches and verdict.business_hours is matches


def test_the_planned_edit_has_only_real_changes():
    t = trigger(actions=[{"type": "set_field", "field": "priority", "value": "normal"},
                         {"type": "set_field", "field": "department", "value": "sales"},
                         {"type": "add_tags", "tags": ["vip", "hot"]}])
    assert tg.planned_edit(t, TICKET) == {"department": "sales",
                                          "tags": ["vip", "invoice", "hot"]}
    assert tg.planned_edit(trigger(actions=[{"type": "add_tags", "tags": ["vip"]}]),
                           TICKET) == {}


def test_the_loop_guard_recognises_only_the_trigger_s_own_edit():
    mark = {"edit": {"tags": ["vip", "hot"], "priority": "high"}}
    assert tg.own_change(mark, {"tags": {"old": ["vip"], "new": ["vip", "hot"]}})
    assert not tg.own_change(mark, {"tags": {"old": [], "new": ["other"]}})
    assert not tg.own_change(mark, {"category": {"old": None, "new": "x"}})
    assert not tg.own_change(None, {"tags": {"old": [], "new": ["vip", "hot"]}})


def test_order_is_position_then_id_and_inactive_ones_are_left_out():
    triggers = [dict(trigger(), _id="b", position=2), dict(trigger(), _id="a", position=2),
                dict(trigger(), _id="c", position=1), dict(trigger(), _id="d", active=False)]
    assert [t["_id"] for t in tg.ordered(triggers)] == ["c", "a", "b"]


@pytest.mark.parametrize("change, fields", [
    ({"on": []}, {"on"}),
    ({"on": ["deleted"]}, {"on"}),
    ({"actions": [{"type": "set_field", "field": "priority"}]}, {"actions"}),
    ({"actions": [{"type": "set_field", "field": "priority", "value": "asap"}]}, {"actions"}),
    ({"actions": [{"type": "set_field", "field": "status", "value": "closed"}]}, {"actions"}),
    ({"conditions": [{"field": "password", "op": "is", "value": "x"}]}, {"conditions"}),
    ({"conditions": [{"field": "tags", "op": "is", "value": {"a": 1}}]}, {"conditions"}),
    ({"business_hours": dict(HOURS, time_zone="Mars/Base")}, {"business_hours"}),
    ({"business_hours": dict(HOURS, **{"from": "25:00"})}, {"business_hours"}),
    ({"name": "two\nlines"}, {"name"}),
    ({"actions": [{"type": "assign"}]}, {"actions"}),
    ({"actions": [{"type": "email", "email": {"to": "everyone", "subject": {"en": "x"},
                                               "body": {"en": "y"}}}]}, {"actions"}),
    ({"actions": [{"type": "email", "email": {"to": "requester", "subject": {"en": "x"},
                                               "body": {"en": "y", "ru": "z"}}}]}, {"actions"}),
])
def test_bad_triggers_are_refused_field_by_field(change, fields):
    good = {"id": "t1", "name": "VIP", "on": ["created"],
            "actions": [{"type": "add_tags", "tags": ["vip"]}]}
    TriggerSchema().load(good)
    with pytest.raises(ValidationError) as exc:
        TriggerSchema().load(dict(good, **change))
    assert set(exc.value.messages) == fields


def test_assign_and_email_actions_are_accepted():
    trigger = TriggerSchema().load({
        "id": "t1", "name": "VIP", "on": ["created"],
        "actions": [{"type": "assign", "agent_id": "vera"},
                    {"type": "email", "email": {"to": "followers",
                                                "subject": {"en": "Hi", "ru": "Привет"},
                                                "body": {"en": "$ticket_number", "ru": "$$5"}}}]})
    assert [a["type"] for a in trigger["actions"]] == ["assign", "email"]
