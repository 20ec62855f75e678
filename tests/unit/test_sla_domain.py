from datetime import datetime, timedelta, timezone

import pytest

from services.common.clock import FixedClock
from services.sla.domain import DEFAULT_POLICIES, breached_targets, deadlines, new_clock, next_due

START = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
POLICY = {"_id": "p-normal", "targets": DEFAULT_POLICIES["normal"]}
FR_DUE = START + timedelta(hours=4)
RES_DUE = START + timedelta(hours=24)


def clock(met=None, breached=None, due=None):
    return {"due": due if due is not None else {"first_response": FR_DUE, "resolution": RES_DUE},
            "met": met or {}, "breached": breached or []}


def test_deadlines_from_policy():
    assert deadlines(POLICY, START) == {"first_response": FR_DUE, "resolution": RES_DUE}


@pytest.mark.parametrize("targets, expected", [
    ({"resolution": 60}, {"resolution": START + timedelta(hours=1)}),
    ({"first_response": 15, "resolution": None}, {"first_response": START + timedelta(minutes=15)}),
    ({}, {}),
])
def test_deadlines_skip_missing_targets(targets, expected):
    assert deadlines({"targets": targets}, START) == expected


@pytest.mark.parametrize("c, expected", [
    (clock(), FR_DUE),
    (clock(met={"first_response": START}), RES_DUE),
    (clock(breached=["first_response"]), RES_DUE),
    (clock(met={"first_response": START}, breached=["resolution"]), None),
    (clock(due={}), None),
])
def test_next_due(c, expected):
    assert next_due(c) == expected


@pytest.mark.parametrize("now, c, expected", [
    (FR_DUE - timedelta(seconds=1), clock(), []),
    (FR_DUE, clock(), ["first_response"]),  # due exactly now counts as breached
    (RES_DUE, clock(), ["first_response", "resolution"]),
    (RES_DUE, clock(met={"first_response": START}), ["resolution"]),
    (RES_DUE, clock(breached=["first_response"]), ["resolution"]),
    (RES_DUE, clock(met={"first_response": START, "resolution": START}), []),
])
def test_breached_targets(now, c, expected):
    assert breached_targets(c, now) == expected


def test_new_clock():
    now = FixedClock(START + timedelta(minutes=5)).now()
    ticket = {"ticket_id": "t1", "number": 42, "department": "billing", "priority": "normal",
              "created_at": START}
    c = new_clock(ticket, POLICY, now)
    assert c["_id"] == "t1" and c["number"] == 42 and c["policy_id"] == "p-normal"
    assert c["started_at"] == START
    assert c["due"] == {"first_response": FR_DUE, "resolution": RES_DUE}
    assert c["met"] == {} and c["breached"] == []
    assert c["next_due"] == FR_DUE
    assert breached_targets(c, now) == []
