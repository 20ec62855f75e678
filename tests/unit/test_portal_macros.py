"""Macros: what a macro must hold, which steps it takes for a ticket, who manages it."""
import pytest
from marshmallow import ValidationError

from services.portal import macros


def ticket(**changes):
    return dict({"status": "open", "priority": "normal", "tags": ["vpn"],
                 "assignee_id": None}, **changes)


def test_a_macro_must_do_something_and_speaks_in_known_values():
    with pytest.raises(ValidationError) as refused:
        macros.MacroSchema().load({"title": "Nothing"})
    assert "_schema" in refused.value.messages
    with pytest.raises(ValidationError) as refused:
        macros.MacroSchema().load({"title": "x", "status": "on_fire", "scope": "everyone"})
    assert {"status", "scope"} <= set(refused.value.messages)
    loaded = macros.MacroSchema().load({"title": "Solve", "status": "solved", "tags": ["Mac "]})
    assert loaded["tags"] == ["mac"] and loaded["scope"] == "personal"


def test_plan_leaves_out_what_would_change_nothing():
    macro = {"status": "pending", "priority": "high", "tags": ["vpn", "mac"],
             "assign_to_me": True}
    assert macros.plan(macro, ticket(), "a1") == [
        {"kind": "fields", "changes": {"priority": "high", "tags": ["vpn", "mac"]}},
        {"kind": "status", "status": "pending"}, {"kind": "assign"}]
    done = ticket(status="pending", priority="high", tags=["mac", "vpn"], assignee_id="a1")
    assert macros.plan(macro, done, "a1") == []


def test_shared_macros_belong_to_supervisors_personal_ones_to_their_owner():
    shared = {"scope": "shared", "owner_id": "boss"}
    mine = {"scope": "personal", "owner_id": "a1"}
    agent, other, boss = ({"_id": "a1", "role": "agent"}, {"_id": "a2", "role": "agent"},
                          {"_id": "s1", "role": "supervisor"})
    assert macros.visible_to(shared, agent) and not macros.may_manage(shared, agent)
    assert macros.may_manage(shared, boss)
    assert macros.may_manage(mine, agent)
    assert not macros.visible_to(mine, other) and not macros.may_manage(mine, other)
