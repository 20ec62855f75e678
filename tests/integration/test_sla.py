"""SLA against the real broker and Mongo wire server, with time injected: TWO replicas of the
SLA service share one settable clock, tickets arrive as the events intake and routing publish,
and the test moves time to the second.

"Has a sweep run at this instant yet?" is answered without sleeping: a probe ticket on the
round-the-clock default policy is due at exactly that instant, and its breach event proves a
sweep saw the new time.
"""
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from nameko.standalone.events import event_dispatcher
from nameko.testing.utils import get_extension

from services.common import events as ev
from services.common.clock import FixedClock
from services.common.nameko_support import ClockProvider
from services.sla import domain
from services.sla.calendar import ROUND_THE_CLOCK
from services.sla.repository import ClockChanged, SlaRepository
from services.sla.service import SlaService
from tests.integration.routing_helpers import dispatcher
from tests.support import (EventTap, eventually, intake_event, mongo_commands_sent,
                           queues_drained, running)

MSK = ZoneInfo("Europe/Moscow")
FRIDAY_1730 = datetime(2026, 11, 20, 17, 30, tzinfo=MSK)


def monday(hour, minute, second=0):
    return datetime(2026, 11, 23, hour, minute, second, tzinfo=MSK)


OFFICE = {"id": "msk-office", "name": "Moscow office", "time_zone": "Europe/Moscow",
          "hours": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
          "yearly_holidays": ["01-01"]}
POLICY = {"id": "normal-office", "name": "Normal, office hours", "priority": "normal",
          "calendar_id": "msk-office", "warning_threshold": 0.8,
          "targets": {"first_response": 240, "next_response": 120, "resolution": 2400},
          "escalation": {"first_response": {"warning": ["notify_supervisor"],
                                            "breach": ["raise_priority", "reassign"]}}}


@pytest.fixture(scope="module")
def time_machine():
    return FixedClock(FRIDAY_1730)


@pytest.fixture(scope="module", autouse=True)
def replicas(config, rpc, time_machine):
    """Two SLA replicas (separate runners, shared queues) reading one settable clock."""
    with running(config, SlaService) as first, running(config, SlaService) as second:
        for runner in (first, second):
            for container in runner.containers:
                get_extension(container, ClockProvider).clock = time_machine
        assert rpc.sla.upsert_calendar(OFFICE)["ok"]
        assert rpc.sla.upsert_policy(POLICY)["ok"]
        yield
        # Other modules' normal tickets must not run on office hours: on a weekend their
        # deadlines would all fall on Monday morning, and tie.
        assert rpc.sla.delete_policy(POLICY["id"])["ok"]
        assert rpc.sla.delete_calendar(OFFICE["id"])["ok"]


@pytest.fixture(scope="module")
def publish(config):
    dispatch = event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})

    def send(event_type, data, at):
        dispatch(ev.EVENT_SOURCE[event_type], event_type, intake_event(event_type, data, at))

    return send


@pytest.fixture()
def tap(config):
    tap = EventTap(config, ev.SLA_WARNING, ev.SLA_BREACHED)
    yield tap
    tap.close()


def create(publish, rpc, ticket_id, number, created_at, priority="normal"):
    publish(ev.TICKET_CREATED, {
        "ticket_id": ticket_id, "number": number, "subject": "s", "description": "d",
        "department": "billing", "category": None, "priority": priority, "channel": "api",
        "language": "ru", "tags": [], "requester_id": "cust-1", "created_at": created_at},
        created_at)
    return eventually(lambda: rpc.sla.get_clock(ticket_id).get("clock"))


def change_status(publish, rpc, ticket_id, number, old, new, at):
    publish(ev.STATUS_CHANGED, {
        "ticket_id": ticket_id, "number": number, "old_status": old, "new_status": new,
        "actor_role": "agent", "department": "billing", "priority": "normal",
        "assignee_id": None, "changed_at": at}, at)
    return eventually(lambda: (c := rpc.sla.get_clock(ticket_id)["clock"])["status"] == new and c)


def alerts(tap, ticket_id):
    """Distinct alerts: the outbox delivers at least once, and a repeat of one event (same id)
    is expected here -- the test moves time hours ahead, so a replica's outbox sweep may find
    an alert published a moment ago not yet removed and send it again."""
    distinct = {e["event_id"]: e for e in tap.drain() if e["data"]["ticket_id"] == ticket_id}
    return [(e["event_type"], e["data"]["target"]) for e in distinct.values()]


def sweep_seen_at(tap, publish, rpc, time_machine, moment, name):
    """Set the time to ``moment`` and return once some replica's sweep has run at it."""
    # Urgent tickets use the round-the-clock default: 30 min to first response.
    create(publish, rpc, name, 90000 + moment.minute * 60 + moment.second,
           moment - timedelta(minutes=30), priority="urgent")
    time_machine.at = moment
    eventually(lambda: ("sla_breached", "first_response") in alerts(tap, name))


def test_friday_ticket_breaches_monday_at_the_right_minute_without_the_pending_hour(
        rpc, publish, tap, time_machine):
    # Friday 17:30: 30 business minutes left today; 4 h target -> Monday 12:30.
    clock = create(publish, rpc, "friday", 1, FRIDAY_1730)
    assert datetime.fromisoformat(clock["targets"]["first_response"]["due_at"]) == monday(12, 30)

    # Waiting on the customer Monday 09:30-10:30 does not count: the deadline moves to 13:30.
    time_machine.at = monday(9, 30)
    paused = change_status(publish, rpc, "friday", 1, "new", "pending", monday(9, 30))
    assert paused["targets"]["first_response"]["running"] is False
    assert paused["targets"]["first_response"]["used_s"] == 3600
    time_machine.at = monday(10, 30)
    resumed = change_status(publish, rpc, "friday", 1, "pending", "open", monday(10, 30))
    first_response = resumed["targets"]["first_response"]
    assert datetime.fromisoformat(first_response["due_at"]) == monday(13, 30)
    # Warning at 80% (3 h 12 min of business time): 1 h used, 2 h 12 min after 10:30.
    assert datetime.fromisoformat(first_response["warn_at"]) == monday(12, 42)

    sweep_seen_at(tap, publish, rpc, time_machine, monday(12, 41, 59), "probe-1")
    assert alerts(tap, "friday") == []
    time_machine.at = monday(12, 42)
    eventually(lambda: alerts(tap, "friday") == [("sla_warning", "first_response")])

    sweep_seen_at(tap, publish, rpc, time_machine, monday(13, 29, 59), "probe-2")
    assert alerts(tap, "friday") == [("sla_warning", "first_response")]
    time_machine.at = monday(13, 30)
    eventually(lambda: ("sla_breached", "first_response") in alerts(tap, "friday"))

    # Later sweeps by either replica announce nothing more.
    sweep_seen_at(tap, publish, rpc, time_machine, monday(13, 45), "probe-3")
    mine = list({e["event_id"]: e for e in tap.drain() if e["data"]["ticket_id"] == "friday"}
                .values())
    assert [(e["event_type"], e["data"]["target"]) for e in mine] == [
        ("sla_warning", "first_response"), ("sla_breached", "first_response")]
    warning, breach = mine
    assert warning["data"]["actions"] == ["notify_supervisor"]
    assert breach["data"]["actions"] == ["raise_priority", "reassign"]
    assert breach["data"]["department"] == "billing" and breach["data"]["priority"] == "normal"
    assert breach["data"]["policy_id"] == "normal-office"
    assert datetime.fromisoformat(breach["data"]["due_at"]) == monday(13, 30)


def test_compliance_per_agent_priority_and_policy(rpc, publish, time_machine):
    time_machine.at = monday(14, 0)
    tuesday_10 = datetime(2026, 11, 24, 10, 0, tzinfo=MSK)
    # (ticket, number, agent, reply): "friday" breached unassigned in the test above.
    for ticket_id, number, agent, replied in (("quick", 2, "agent-a", monday(14, 30)),
                                              ("slow", 3, "agent-b", tuesday_10),
                                              ("friday", 1, None, monday(14, 15))):
        if ticket_id != "friday":
            create(publish, rpc, ticket_id, number, monday(14, 0))
            publish(ev.TICKET_ASSIGNED, {
                "ticket_id": ticket_id, "number": number, "agent_id": agent,
                "agent_name": agent, "department": "billing", "assigned_at": monday(14, 0)},
                monday(14, 0))
            eventually(lambda: rpc.sla.get_clock(ticket_id)["clock"]["assignee_id"] == agent)
        publish(ev.MESSAGE_ADDED, {"ticket_id": ticket_id, "number": number,
                                   "message_id": f"m-{ticket_id}", "author_role": "agent",
                                   "public": True, "added_at": replied}, replied)
        eventually(lambda: rpc.sla.get_clock(ticket_id)["clock"]["targets"]["first_response"]
                   ["met_at"])

    by_agent = {(g["key"], g["target"]): g for g in rpc.sla.compliance({"by": "agent"})["groups"]}
    quick = by_agent[("agent-a", "first_response")]
    assert (quick["met"], quick["breached"], quick["met_rate"]) == (1, 0, 1.0)
    assert quick["p50_s"] == quick["avg_s"] == 1800
    # Replied Tuesday 10:00: Monday 14:00-18:00 plus an hour -- 5 h against 4 h is breached,
    # even though no sweep saw the deadline pass (the injected time stayed at Monday 14:00).
    slow = by_agent[("agent-b", "first_response")]
    assert (slow["met"], slow["breached"], slow["breach_rate"]) == (0, 1, 1.0)
    assert slow["p90_s"] == 5 * 3600
    # Breaches while nobody was assigned stay unassigned, whoever picks the ticket up later.
    assert by_agent[(None, "first_response")]["met"] == 0

    by_priority = {(g["key"], g["target"]): g
                   for g in rpc.sla.compliance({"by": "priority"})["groups"]}
    normal = by_priority[("normal", "first_response")]
    assert (normal["total"], normal["met"], normal["breached"]) == (3, 1, 2)
    # Friday 17:30-18:00, Monday 09:00-09:30 and 10:30-14:15: 4 h 45 min for "friday".
    assert (normal["p50_s"], normal["p95_s"]) == (4 * 3600 + 45 * 60, 5 * 3600)
    # The never-answered probes count as breached but have no time to average.
    assert by_priority[("urgent", "first_response")]["breached"] == 3
    assert by_priority[("urgent", "first_response")]["p50_s"] is None

    by_policy = {(g["key"], g["target"]): g for g in rpc.sla.compliance({"by": "policy"})["groups"]}
    office = by_policy[("normal-office", "first_response")]
    assert (office["total"], office["met"], office["breached"]) == (3, 1, 2)
    assert (office["met_rate"], office["breach_rate"]) == (1 / 3, 2 / 3)
    # 30 min ("quick"), 4 h 45 min ("friday"), 5 h ("slow"): mean and nearest ranks.
    assert office["avg_s"] == (1800 + 17100 + 18000) / 3
    assert (office["p50_s"], office["p90_s"]) == (17100, 18000)
    assert by_policy[("default-urgent", "first_response")]["breached"] == 3
    assert ("normal-office", "resolution") not in by_policy  # nothing decided yet
    assert {key for key, _ in by_policy} == {"normal-office", "default-urgent"}
    assert rpc.sla.compliance({"by": "nobody"})["status"] == 400


def test_invalid_calendars_and_policies_are_refused_and_not_stored(rpc):
    overlapping = dict(OFFICE, id="bad", hours={"mon": [["09:00", "13:00"], ["12:00", "18:00"]]})
    result = rpc.sla.upsert_calendar(overlapping)
    assert result["status"] == 400
    assert result["errors"]["hours"]["mon"] == ["09:00-13:00 overlaps 12:00-18:00"]
    result = rpc.sla.upsert_calendar(dict(OFFICE, id="bad", time_zone="Europe/Atlantis"))
    assert "Unknown time zone" in result["errors"]["time_zone"][0]
    assert "bad" not in [c["id"] for c in rpc.sla.list_calendars()["calendars"]]

    negative = dict(POLICY, id="bad", targets={"first_response": -1, "resolution": 60})
    assert "first_response" in rpc.sla.upsert_policy(negative)["errors"]["targets"]
    assert rpc.sla.upsert_policy(dict(POLICY, id="bad", calendar_id="nowhere"))["errors"] == {
        "calendar_id": ["Unknown calendar 'nowhere'; create it first."]}
    assert "bad" not in [p["id"] for p in rpc.sla.list_policies()["policies"]]
    assert rpc.sla.delete_calendar("msk-office")["status"] == 409  # a policy uses it


def test_replicas_racing_on_the_same_alert_only_one_records_it(db):
    """The sweep's compare-and-set, forced into the race the timers rarely hit: both replicas
    read the clock before either writes; only the first write (and its events) commits."""
    repo = SlaRepository(db("sla"))
    start = monday(8, 0)
    clock = domain.new_clock({"ticket_id": "race", "number": 77, "department": "billing",
                              "priority": "urgent", "created_at": start},
                             domain.default_policy("urgent"), ROUND_THE_CLOCK)
    repo.start_clocks([clock])
    seen_by_a, seen_by_b = repo.clock("race"), repo.clock("race")
    now = start + timedelta(minutes=31)
    (a, alerts_a), (b, alerts_b) = (domain.raise_alerts(seen_by_a, now),
                                    domain.raise_alerts(seen_by_b, now))
    assert alerts_a == alerts_b == [("warning", "first_response"), ("breach", "first_response")]
    repo.transaction(lambda session: repo.save_clock(a, seen_by_a, session))
    with pytest.raises(ClockChanged):
        repo.transaction(lambda session: repo.save_clock(b, seen_by_b, session))
    stored = repo.clock("race")
    assert stored["version"] == 1 and stored["targets"]["first_response"]["breached"]
    assert db("sla").outcomes.find_one({"_id": "race:first_response:1"})["result"] == "breached"


def test_priority_changes_from_routing_and_intake_recompute_deadlines(rpc, publish,
                                                                      time_machine):
    time_machine.at = monday(15, 0)
    clock = create(publish, rpc, "escalated", 5, monday(15, 0))
    assert clock["policy_id"] == "normal-office"
    # Routing raises it: urgent has no policy here, so the 24/7 default (30 min) applies.
    publish(ev.PRIORITY_CHANGED, {"ticket_id": "escalated", "number": 5,
                                  "old_priority": "normal", "new_priority": "urgent",
                                  "reason": "vip"}, monday(15, 10))
    clock = eventually(lambda: (c := rpc.sla.get_clock("escalated")["clock"])
                       ["priority"] == "urgent" and c)
    assert clock["policy_id"] == "default-urgent"
    # 10 minutes already used on the office calendar count against the new 30-minute budget.
    assert datetime.fromisoformat(clock["targets"]["first_response"]["due_at"]) == \
        monday(15, 30)
    # A staff edit back to normal (intake's ticket_updated) restores the office policy.
    publish(ev.TICKET_UPDATED, {"ticket_id": "escalated", "number": 5,
                                "changes": {"priority": {"old": "urgent", "new": "normal"}},
                                "actor_role": "supervisor", "department": "billing",
                                "priority": "normal", "updated_at": monday(15, 20)},
            monday(15, 20))
    clock = eventually(lambda: (c := rpc.sla.get_clock("escalated")["clock"])
                       ["priority"] == "normal" and c)
    assert clock["policy_id"] == "normal-office"
    assert datetime.fromisoformat(clock["targets"]["first_response"]["due_at"]) == \
        datetime(2026, 11, 24, 10, 0, tzinfo=MSK)  # 3 h left today, 1 h tomorrow from 09:00


def test_an_event_that_overtakes_the_creation_is_applied_once_the_clock_starts(
        rpc, publish, time_machine):
    time_machine.at = monday(16, 5)
    publish(ev.STATUS_CHANGED, {
        "ticket_id": "early", "number": 6, "old_status": "new", "new_status": "pending",
        "actor_role": "agent", "department": "billing", "priority": "normal",
        "assignee_id": None, "changed_at": monday(16, 5)}, monday(16, 5))
    create(publish, rpc, "early", 6, monday(16, 0))
    clock = eventually(lambda: (c := rpc.sla.get_clock("early")["clock"])["status"] == "pending"
                       and c)
    assert clock["targets"]["first_response"]["used_s"] == 300
    assert clock["targets"]["first_response"]["running"] is False


def test_a_solve_that_overtook_the_creation_by_more_than_the_grace_stops_the_clock(
        rpc, publish, time_machine, db, config):
    """SLA behind with creations for longer than CREATION_GRACE (down, or under a backlog):
    the solve that came first is held, not ignored, and the clock the creation then starts is
    stopped, not left running to breach on a solved ticket."""
    time_machine.at = monday(16, 10)
    solve = intake_event(ev.STATUS_CHANGED, {
        "ticket_id": "held", "number": 7, "old_status": "open", "new_status": "solved",
        "actor_role": "agent", "department": "billing", "priority": "normal",
        "assignee_id": None, "changed_at": monday(16, 5)}, monday(16, 5))
    redeliver = dispatcher(config)
    redeliver(solve)
    publish(ev.MESSAGE_ADDED, {"ticket_id": "held", "number": 7, "message_id": "m-held",
                               "author_role": "agent", "public": True,
                               "added_at": monday(16, 4)}, monday(16, 4))
    redeliver(solve)  # the same event again: held once
    kept = eventually(lambda: (db("sla").clocks.find_one({"_id": "held"}) or {})
                      .get("version") == 3 and db("sla").clocks.find_one({"_id": "held"}))
    assert len(kept["held"]) == 2
    assert rpc.sla.get_clock("held")["status"] == 404  # nothing started yet

    create(publish, rpc, "held", 7, monday(16, 0))
    clock = rpc.sla.get_clock("held")["clock"]
    assert clock["status"] == "solved" and clock.get("next_check") is None  # nothing to check
    first_response, resolution = (clock["targets"][t] for t in ("first_response",
                                                                "resolution"))
    assert datetime.fromisoformat(first_response["met_at"]) == monday(16, 4)
    assert datetime.fromisoformat(resolution["met_at"]) == monday(16, 5)
    assert "held" not in db("sla").clocks.find_one({"_id": "held"})
    met = {o["target"]: o["result"] for o in db("sla").outcomes.find({"ticket_id": "held"})}
    assert met == {"first_response": "met", "resolution": "met"}


def test_a_redelivered_creation_announces_the_clock_it_started_again(rpc, publish, config,
                                                                     time_machine):
    """The clock's announcement leaves before the event is acknowledged, with no outbox: a
    creation delivered again (its handler died after the insert) finds the clock and sends
    the same deadlines again, never a second clock."""
    tap = EventTap(config, ev.SLA_DEADLINES_SET)
    try:
        time_machine.at = monday(10, 0)
        first = create(publish, rpc, "twice", 7, monday(10, 0))
        create(publish, rpc, "twice", 7, monday(10, 0))  # the same creation again
        sent = eventually(lambda: len(a := [e["data"] for e in tap.of_type(ev.SLA_DEADLINES_SET)
                                            if e["data"]["ticket_id"] == "twice"]) == 2 and a)
        assert sent[0] == sent[1]  # the same version and deadlines
        assert rpc.sla.get_clock("twice")["clock"] == first
    finally:
        tap.close()


def test_an_event_seen_again_changes_nothing_and_leaves_no_marker(rpc, publish, config, db,
                                                                   time_machine):
    """SLA keeps no marker per event: each rule records its event in the clock's inputs by
    id, so the same event delivered again (to the other replica, say) writes nothing."""
    time_machine.at = monday(11, 0)
    create(publish, rpc, "again", 8, monday(11, 0))
    dispatch = dispatcher(config)
    assignment = ev.new_event(ev.TICKET_ASSIGNED, {
        "ticket_id": "again", "number": 8, "agent_id": "agent-7", "agent_name": "Vera",
        "department": "billing", "assigned_at": monday(11, 5)}, monday(11, 5))

    def stored():
        return db("sla").clocks.find_one({"_id": "again"})

    dispatch(assignment)
    first = eventually(lambda: (c := stored())["version"] == 1 and c)
    dispatch(assignment)  # the same envelope again
    eventually(lambda: queues_drained(config["_vhost"], "sla"), timeout=30)
    assert stored() == first
    assert [i["agent_id"] for i in first["inputs"] if i["kind"] == "assigned"] == ["agent-7"]
    assert db("sla").processed_events.count_documents({}) == 0


def commits() -> float:
    """Transactions this test process's services committed."""
    return mongo_commands_sent("admin", "commitTransaction")


def test_a_transaction_only_where_the_clock_changes_with_its_record_or_announcement(
        rpc, publish, config, db, time_machine):
    """An assignment while every target is open is the clock's own compare-and-set write; the
    staff reply that meets first response saves the clock, its compliance record and its
    moved deadline's announcement together."""
    time_machine.at = monday(12, 0)
    create(publish, rpc, "alone", 9, monday(12, 0))
    eventually(lambda: queues_drained(config["_vhost"], "sla"), timeout=30)
    before = commits()
    publish(ev.TICKET_ASSIGNED, {
        "ticket_id": "alone", "number": 9, "agent_id": "agent-9", "agent_name": "Ilya",
        "department": "billing", "assigned_at": monday(12, 5)}, monday(12, 5))
    eventually(lambda: rpc.sla.get_clock("alone")["clock"]["assignee_id"] == "agent-9")
    eventually(lambda: queues_drained(config["_vhost"], "sla"), timeout=30)
    assert commits() == before
    publish(ev.MESSAGE_ADDED, {"ticket_id": "alone", "number": 9, "message_id": "m-alone",
                               "author_role": "agent", "public": True,
                               "added_at": monday(12, 10)}, monday(12, 10))
    eventually(lambda: db("sla").outcomes.find_one({"_id": "alone:first_response:1"}))
    assert commits() > before
    assert db("sla").outcomes.find_one({"_id": "alone:first_response:1"})["agent_id"] == \
        "agent-9"
