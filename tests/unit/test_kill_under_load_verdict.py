"""The reliability check's pass/fail rule: it must be able to pass (issue 18: it used to count
the phase's ticket total as a fault) and must fail on any fault or a slow settle."""
import pytest

from bench.kill_under_load import Verdict, passed, settled

CLEAN = Verdict(lost=0, duplicated=0, unassigned=0, assigned_twice=0, never_assigned=0,
                unclocked=0, unindexed=0)


def row(verdict: Verdict, gave_up: int = 0, settled_s: float = 1.2) -> dict:
    return {"verdict": verdict, "victim": "intake-1", "keys": 200, "retries": 3,
            "gave_up": gave_up, "load_s": 40.0, "restart_s": 2.0, "settled_s": settled_s}


def test_a_phase_with_nothing_wrong_passes():
    assert settled(CLEAN)
    assert passed(row(CLEAN), settle_limit=5.0)


@pytest.mark.parametrize("fault", sorted(Verdict.__annotations__))
def test_any_fault_fails(fault):
    broken = Verdict(**dict(CLEAN, **{fault: 1}))
    assert not settled(broken)
    assert not passed(row(broken), settle_limit=5.0)


def test_a_ticket_the_client_gave_up_on_fails():
    assert not passed(row(CLEAN, gave_up=1), settle_limit=5.0)


def test_settling_later_than_the_limit_fails():
    assert not passed(row(CLEAN, settled_s=5.5), settle_limit=5.0)
