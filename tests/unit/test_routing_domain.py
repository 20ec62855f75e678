from datetime import datetime, timedelta, timezone

import pytest

from services.routing.domain import can_take, rank_candidates

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)


def agent(id, load=0, capacity=5, status="online", departments=("billing",), last=None):
    return {"_id": id, "load": load, "capacity": capacity, "status": status,
            "departments": list(departments), "last_assigned_at": last}


def ids(agents):
    return [a["_id"] for a in agents]


@pytest.mark.parametrize("a, ok", [
    (agent("a"), True),
    (agent("a", load=4, capacity=5), True),
    (agent("a", load=5, capacity=5), False),
    (agent("a", status="away"), False),
    (agent("a", status="offline"), False),
    (agent("a", departments=["it"]), False),
])
def test_can_take(a, ok):
    assert can_take(a, "billing") is ok


def test_only_eligible_agents_are_ranked():
    agents = [agent("full", load=3, capacity=3), agent("away", status="away"),
              agent("other", departments=["it"]), agent("ok", load=2)]
    assert ids(rank_candidates(agents, "billing")) == ["ok"]


def test_least_loaded_first():
    agents = [agent("b", load=3), agent("a", load=1), agent("c", load=2)]
    assert ids(rank_candidates(agents, "billing")) == ["a", "c", "b"]


def test_preferred_agent_first_even_if_busier():
    agents = [agent("idle", load=0), agent("prev", load=4)]
    assert ids(rank_candidates(agents, "billing", preferred_id="prev")) == ["prev", "idle"]


def test_preferred_agent_who_cannot_take_is_dropped():
    agents = [agent("idle"), agent("prev", status="offline")]
    assert ids(rank_candidates(agents, "billing", preferred_id="prev")) == ["idle"]


def test_round_robin_tie_break_by_last_assignment_then_id():
    agents = [agent("recent", last=T0 + timedelta(hours=1)), agent("z-never"),
              agent("older", last=T0), agent("a-never")]
    assert ids(rank_candidates(agents, "billing")) == ["a-never", "z-never", "older", "recent"]


def test_missing_last_assigned_key_counts_as_never():
    never = agent("b")
    del never["last_assigned_at"]
    assert ids(rank_candidates([agent("a", last=T0), never], "billing")) == ["b", "a"]


def test_no_candidates():
    assert rank_candidates([], "billing") == []
    assert rank_candidates([agent("a")], "legal") == []
