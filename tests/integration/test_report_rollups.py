"""The report's rollups kept live by intake: a known ticket history replayed through intake's
RPCs and events (filing, assignment and reassignment, replies, internal notes, solving,
reopening, closing, CSAT, a department change) gives the figures computed independently from
the resulting tickets, and the rebuild command reproduces the live rollups exactly."""
from datetime import datetime, timedelta, timezone

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.utils import get_extension

from services.common import events as ev
from services.common.clock import FixedClock
from services.common.nameko_support import ClockProvider
from services.intake import rollups
from services.intake.rebuild_rollups import rebuild
from services.intake.repository import TicketRepository
from services.intake.service import IntakeService
from tests.integration.report_figures import independent_figures
from tests.support import eventually, running, settled

DAY1 = datetime(2026, 2, 2, tzinfo=timezone.utc)
CUSTOMER = {"id": "cust-r", "role": "customer", "name": "Rita"}
AGENT = {"id": "a1", "role": "agent", "name": "Anna"}
AGENT2 = {"id": "a2", "role": "agent", "name": "Boris"}
SUPERVISOR = {"id": "sup", "role": "supervisor", "name": "Sue"}


class Replay:
    """Drives intake through its real entrypoints with a clock we set."""

    def __init__(self, rpc, clock, dispatch):
        self.rpc, self.clock, self.dispatch = rpc, clock, dispatch

    def at(self, moment):
        self.clock.at = moment
        return self

    def file(self, channel, department):
        result = self.rpc.intake.create_ticket({
            "ticket": {"subject": "Replay", "description": "d", "department": department},
            "requester": CUSTOMER, "channel": channel, "idempotency_key": None})
        assert result["ok"], result
        return result["ticket"]

    def assign(self, ticket, agent):
        self.dispatch("routing", ev.TICKET_ASSIGNED, ev.new_event(ev.TICKET_ASSIGNED, {
            "ticket_id": ticket["id"], "number": ticket["number"], "agent_id": agent["id"],
            "agent_name": agent["name"], "department": ticket["department"],
            "assigned_at": self.clock.at}, self.clock.at))
        eventually(lambda: self.rpc.intake.get_ticket(ticket["number"], AGENT)["ticket"][
            "assignee_id"] == agent["id"])

    def say(self, ticket, actor, public=True):
        assert self.rpc.intake.add_message(ticket["number"], {"body": "text", "public": public},
                                           actor)["ok"]

    def status(self, ticket, actor, status):
        result = self.rpc.intake.change_status(ticket["number"], {"status": status}, actor)
        assert result["ok"], result

    def breach(self, ticket, target):
        """SLA sets the deadlines, then reports a breach (twice: redelivery is absorbed)."""
        self.dispatch("sla", ev.SLA_DEADLINES_SET, ev.new_event(ev.SLA_DEADLINES_SET, {
            "ticket_id": ticket["id"], "number": ticket["number"], "policy_id": "p",
            "first_response_due": self.clock.at, "resolution_due": self.clock.at},
            self.clock.at))
        eventually(lambda: self.rpc.intake.get_ticket(ticket["number"], AGENT)["ticket"]["sla"])
        breached = ev.new_event(ev.SLA_BREACHED, {
            "ticket_id": ticket["id"], "number": ticket["number"], "target": target,
            "due_at": self.clock.at, "policy_id": "p", "department": ticket["department"],
            "priority": "normal", "actions": []}, self.clock.at)
        for _ in range(2):
            self.dispatch("sla", ev.SLA_BREACHED, breached)
        eventually(lambda: self.rpc.intake.get_ticket(ticket["number"], AGENT)["ticket"][
            "sla"]["breached"] == [target])

    def rate(self, ticket, score):
        assert self.rpc.intake.submit_csat(ticket["number"], {"score": score}, CUSTOMER)["ok"]


@pytest.fixture(scope="module")
def replayed(config, rpc, db):
    with running(config, IntakeService) as runner:
        provider = get_extension(runner.service_map["intake"], ClockProvider)
        provider.clock = FixedClock(DAY1)
        go = Replay(rpc, provider.clock,
                    event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"}))
        # 1: answered in 20 minutes and solved by the first reply, rated 5
        t1 = go.at(DAY1 + timedelta(hours=8)).file("portal", "technical")
        go.assign(t1, AGENT)
        go.at(DAY1 + timedelta(hours=8, minutes=20)).say(t1, AGENT)
        go.at(DAY1 + timedelta(hours=9)).status(t1, AGENT, "solved")
        go.rate(t1, 5)
        # 2: reassigned, a long thread, solved, reopened by the customer, solved, closed, 2
        t2 = go.at(DAY1 + timedelta(hours=10)).file("email", "billing")
        go.assign(t2, AGENT)
        go.assign(t2, AGENT2)
        go.at(DAY1 + timedelta(hours=11, minutes=30)).say(t2, AGENT2)
        go.say(t2, CUSTOMER)
        go.at(DAY1 + timedelta(hours=12)).say(t2, AGENT2)
        go.at(DAY1 + timedelta(hours=14)).status(t2, AGENT2, "solved")
        go.at(DAY1 + timedelta(hours=15)).status(t2, CUSTOMER, "open")
        go.at(DAY1 + timedelta(hours=16)).status(t2, AGENT2, "solved")
        go.status(t2, CUSTOMER, "closed")
        go.rate(t2, 2)
        # 3: filed late on day 1, breached, moved to billing by a supervisor, never answered
        t3 = go.at(DAY1 + timedelta(hours=23, minutes=50)).file("api", "technical")
        go.breach(t3, "first_response")
        assert rpc.intake.update_ticket(t3["number"], {"department": "billing"},
                                        SUPERVISOR)["ok"]
        # 4: day 2, an internal note only, then the customer solves it in 50 minutes
        t4 = go.at(DAY1 + timedelta(days=1, minutes=10)).file("api", "technical")
        go.assign(t4, AGENT2)
        go.at(DAY1 + timedelta(days=1, minutes=30)).say(t4, AGENT2, public=False)
        go.at(DAY1 + timedelta(days=1, hours=1)).status(t4, CUSTOMER, "solved")
        # 5: day 4, outside the period
        t5 = go.at(DAY1 + timedelta(days=3, hours=2)).file("portal", "general")
        go.assign(t5, AGENT)
        go.at(DAY1 + timedelta(days=3, hours=3)).say(t5, AGENT)
        settled(db("intake"))  # new tickets are rolled up a moment after their answers
        result = rpc.intake.report({"since": DAY1.isoformat(),
                                    "until": (DAY1 + timedelta(days=2)).isoformat()})
        assert result["ok"], result
        tickets = list(db("intake").tickets.find())
        yield result["report"], tickets


def close_to(got, exact):
    return abs(got - exact) <= rollups.PRECISION * exact + 0.05


def test_replayed_history_gives_the_independent_figures(replayed):
    report, tickets = replayed
    want = independent_figures(tickets, DAY1, DAY1 + timedelta(days=2))
    # The scenario itself, so the independent computation cannot be vacuous.
    assert (want["created"], want["solved"], want["reopened"]) == (4, 3, 1)
    assert {a: w["assigned"] for a, w in want["agents"].items()} == {"a1": 1, "a2": 2}
    assert (want["backlog"], want["unassigned"], want["overdue"]) == (2, 1, 1)
    for name in ("created", "solved", "reopened", "backlog", "unassigned", "overdue", "fcr"):
        assert report[name if name != "fcr" else "first_contact_resolution_rate"] == want[name]
    assert {(v["day"], v["channel"]): v["tickets"] for v in report["volume"]} == want["volume"]
    assert {(v["day"], v["department"]): v["tickets"]
            for v in report["volume_by_department"]} == want["volume_by_department"]
    assert report["by_department"] == dict(want["by_department"]) == {"technical": 2,
                                                                      "billing": 2}
    assert report["csat"] == want["csat"]
    assert (want["csat"]["score"], want["csat"]["average"]) == (0.5, 3.5)
    assert report["first_response"]["avg_minutes"] == want["first_avg"]
    assert close_to(report["first_response"]["median_minutes"], want["first_median"])
    assert close_to(report["resolution"]["median_minutes"], want["resolution_median"])
    agents = {a["agent_id"]: a for a in report["agents"]}
    assert set(agents) == set(want["agents"])
    for agent, figures in want["agents"].items():
        assert (agents[agent]["assigned"], agents[agent]["solved"]) == (
            figures["assigned"], figures["solved"])
        assert close_to(agents[agent]["median_first_response_minutes"], figures["first_median"])
        assert close_to(agents[agent]["median_resolution_minutes"],
                        figures["resolution_median"])
        assert (agents[agent]["csat_score"], agents[agent]["csat_average"]) == (
            figures["csat"]["score"], figures["csat"]["average"])


def test_rebuild_reproduces_the_live_rollups_exactly(replayed, db):
    repo = TicketRepository(db("intake"))
    live = repo.rollup_documents()
    assert len(live["daily"]) >= 4 and len(live["agents"]) >= 3
    counts = rebuild(repo, show_progress=False)
    assert counts["tickets"] == 5
    assert repo.rollup_documents() == live


def test_concurrent_writes_on_the_same_rollup_lose_no_increment(replayed, rpc, db):
    """Twenty tickets filed at once into one (day, department, channel) rollup, then each
    solved at once: conflicting transactions retry, none is lost or counted twice."""
    calls = [rpc.intake.create_ticket.call_async({
        "ticket": {"subject": f"Rush {i}", "description": "d", "department": "rush"},
        "requester": CUSTOMER, "channel": "api", "idempotency_key": None}) for i in range(20)]
    numbers = [call.result()["ticket"]["number"] for call in calls]
    solves = [rpc.intake.change_status.call_async(n, {"status": "solved"}, AGENT)
              for n in numbers]
    assert all(call.result()["ok"] for call in solves)
    repo = TicketRepository(db("intake"))

    def rush(kind):
        return [d for d in repo.rollup_documents()[kind] if d["department"] == "rush"]

    # The filings are rolled up in batches a moment after their answers (settled).
    # (A solve can be rolled up before its filing: the document has no "created" yet.)
    eventually(lambda: [(d.get("created"), d.get("solved")) for d in rush("daily")]
               == [(20, 20)])
    assert not rush("current")
    live = repo.rollup_documents()
    # A ticket's solve rolls up into its number's shard: tickets changed together meet on
    # no rollup document (sharing one, their transactions abort and retry).
    stored = list(db("intake").report_daily.find({"department": "rush", "solved": {"$gt": 0}}))
    assert sorted((d["_id"].rsplit("#", 1)[1], d["solved"]) for d in stored) == sorted(
        (str(shard), sum(1 for n in numbers if n % rollups.SHARDS == shard))
        for shard in {n % rollups.SHARDS for n in numbers})
    rebuild(repo, show_progress=False)
    assert repo.rollup_documents() == live
