"""Supervisor figures from the real Mongo aggregation, checked against numbers computed here
independently (plain Python over the seeded data set), not through the same code path.

The seed is written straight into the tickets collection (shapes no RPC would make, like a
ticket reopened and solved again), so the rollups come from the rebuild command's path; the
live path is checked in test_report_rollups.py."""
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from services.intake import rollups
from services.intake.rebuild_rollups import rebuild
from services.intake.repository import TicketRepository
from services.intake.service import IntakeService
from tests.integration.report_figures import independent_figures
from tests.support import running

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)  # period: 5-12 January
SINCE, UNTIL = T0, T0 + timedelta(days=7)
# The report covers whole UTC days: 5 January 00:00 up to 13 January 00:00.
FIRST_DAY, END_DAY = datetime(2026, 1, 5, tzinfo=timezone.utc), datetime(2026, 1, 13,
                                                                          tzinfo=timezone.utc)
NOW = datetime.now(timezone.utc)


def reply(role, public=True):
    return {"id": "m", "author_id": "x", "author_role": role, "author_name": None,
            "body": "b", "public": public, "created_at": T0}


def ticket(n, *, day, channel="api", department="technical", status="open", assignee=None,
           first_response_min=None, resolution_min=None, messages=(), csat=None,
           reopened=False, breached=(), resolution_due=None):
    created = T0 + timedelta(days=day, hours=n % 5)
    return {
        "_id": f"rep-{n}", "number": 50_000 + n, "subject": "s", "description": "d",
        "department": department, "category": None, "priority": "normal", "language": "en",
        "tags": [], "channel": channel, "requester_id": "c", "status": status,
        "assignee_id": assignee, "assignee_name": None, "created_at": created,
        "updated_at": created,
        "first_response_at": created + timedelta(minutes=first_response_min)
        if first_response_min is not None else None,
        "solved_at": created + timedelta(minutes=resolution_min)
        if resolution_min is not None else None,
        "closed_at": None, "reopened_at": T0 if reopened else None,
        "messages": list(messages), "csat": {"score": csat} if csat else None,
        "sla": {"policy_id": "p", "first_response_due": None,
                "resolution_due": resolution_due, "breached": list(breached)},
    }


SEED = [
    # agent A: three tickets, first responses 10/30/50 min
    ticket(1, day=0, assignee="A", status="solved", first_response_min=10, resolution_min=60,
           messages=[reply("agent")], csat=5),
    ticket(2, day=0, channel="email", assignee="A", status="closed", first_response_min=30,
           resolution_min=120, messages=[reply("agent"), reply("customer"), reply("agent")],
           csat=2),
    ticket(3, day=1, assignee="A", status="open", first_response_min=50,
           messages=[reply("agent")], breached=["first_response"]),
    # agent B: one answered (20 min), one not yet
    ticket(4, day=1, channel="email", department="billing", assignee="B", status="solved",
           first_response_min=20, resolution_min=240,
           messages=[reply("agent"), reply("agent", public=False)], csat=4),
    ticket(5, day=2, department="billing", assignee="B", status="pending"),
    # agent C: reopened before being solved again: not first-contact
    ticket(6, day=2, assignee="C", status="solved", first_response_min=40, resolution_min=30,
           messages=[reply("agent")], reopened=True, csat=3),
    # solved by the customer before anyone answered
    ticket(10, day=4, assignee="C", status="solved", resolution_min=15, csat=4),
    # unassigned; its first resolution deadline passed but SLA reported no breach (a paused
    # clock moves the deadline): not overdue
    ticket(7, day=3, channel="portal", status="new", resolution_due=NOW - timedelta(hours=1)),
    # outside the period: counts in the backlog, not in period figures
    ticket(8, day=-3, assignee="A", status="open", first_response_min=5,
           messages=[reply("agent")]),
    ticket(9, day=9, status="new"),
    # 12 January 10:00: after UNTIL, but on its last (whole) day
    ticket(11, day=7, channel="chat", department="billing", status="new"),
]


def expected():
    want = independent_figures(SEED, FIRST_DAY, END_DAY)
    assert want["first_median"] is not None and want["resolution_median"] is not None
    return want


@pytest.fixture(scope="module")
def report(config, rpc, db):
    with running(config, IntakeService):
        db("intake").tickets.insert_many(SEED)
        rebuild(TicketRepository(db("intake")), show_progress=False)
        result = rpc.intake.report({"since": SINCE.isoformat(), "until": UNTIL.isoformat()})
        assert result["ok"], result
        assert (result["since"], result["until"]) == (FIRST_DAY.isoformat(), END_DAY.isoformat())
        yield result["report"]


def test_volume_and_counts(report):
    want = expected()
    assert report["created"] == want["created"] == 9
    assert report["solved"] == want["solved"]
    got_volume = Counter({(v["day"], v["channel"]): v["tickets"] for v in report["volume"]})
    assert got_volume == want["volume"]
    assert Counter({(v["day"], v["department"]): v["tickets"]
                    for v in report["volume_by_department"]}) == want["volume_by_department"]
    assert report["reopened"] == want["reopened"] == 1
    assert report["by_department"] == dict(want["by_department"])
    assert (report["backlog"], report["unassigned"], report["overdue"]) == (
        want["backlog"], want["unassigned"], want["overdue"]) == (6, 3, 1)


def close_to(got, exact):
    """Medians come from log-scale buckets: within the documented precision (and the
    report's rounding to 0.1 minute)."""
    return abs(got - exact) <= rollups.PRECISION * exact + 0.05


def test_response_and_resolution_times(report):
    want = expected()
    assert close_to(report["first_response"]["median_minutes"], want["first_median"])
    assert report["first_response"]["avg_minutes"] == want["first_avg"]  # exact sums
    assert close_to(report["resolution"]["median_minutes"], want["resolution_median"])


def test_first_contact_resolution_and_csat(report):
    want = expected()
    assert report["first_contact_resolution_rate"] == want["fcr"]
    # Scores 5, 2, 4, 3, 4 in the period: three of five are 4 or 5.
    assert report["csat"] == want["csat"] == {
        "rated": 5, "satisfied": 3, "score": 0.6, "average": 3.6,
        "by_score": {"1": 0, "2": 1, "3": 1, "4": 2, "5": 1}}


def test_per_agent_table(report):
    agents = {a["agent_id"]: a for a in report["agents"]}
    assert set(agents) == {"A", "B", "C"}  # ticket 8 (agent A) is outside the period
    assert (agents["A"]["assigned"], agents["A"]["solved"]) == (3, 2)
    assert close_to(agents["A"]["median_first_response_minutes"], 30)
    assert close_to(agents["B"]["median_first_response_minutes"], 20)
    want = expected()["agents"]
    for agent in "ABC":
        assert (agents[agent]["csat_score"], agents[agent]["csat_average"],
                agents[agent]["csat_rated"]) == (want[agent]["csat"]["score"],
                                                 want[agent]["csat"]["average"],
                                                 want[agent]["csat"]["rated"])
    assert [(agents[a]["csat_score"], agents[a]["csat_average"]) for a in "ABC"] == [
        (0.5, 3.5), (1.0, 4.0), (0.5, 3.5)]


def test_department_filter_and_bad_period(rpc, report):
    billing = rpc.intake.report({"since": SINCE.isoformat(), "until": UNTIL.isoformat(),
                                 "department": "billing"})["report"]
    assert billing["created"] == 3 and billing["by_department"] == {"billing": 3}
    bad = rpc.intake.report({"since": UNTIL.isoformat(), "until": SINCE.isoformat()})
    assert bad["status"] == 400 and "until" in bad["errors"]
    assert rpc.intake.report({"since": "yesterday"})["status"] == 400
