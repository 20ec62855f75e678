"""Assignments that wait together in automation's and SLA's queues are taken together, on the
real broker and wire server: one read and one write of the batch's states and clocks, each
ticket's assignments applied in order to its one document (an older one after a newer changes
nothing in the automation; in the clock both are inputs, the newer holds), repeats changing
nothing, one for a ticket not created yet kept as each service kept it alone (automation: on
a blank state; SLA: tried again until the creation comes, or held for it once too old), every
event's webhook delivery enqueued, and a state or clock another writer changed between the
read and the write applied again one at a time."""
from datetime import datetime, timedelta, timezone

from nameko.testing.utils import get_extension

from services.automation import time_rules as tr
from services.automation.repository import AutomationRepository, AutomationStore
from services.automation.service import AutomationService
from services.common import events as ev
from services.sla import domain
from services.sla.dependencies import SlaStore
from services.sla.repository import SlaRepository
from services.sla.service import SlaService
from tests.integration.routing_helpers import dispatcher, publish_together, ticket_created
from tests.support import (eventually, events_handled, intake_event, mongo_commands_sent,
                           queues_drained, running)

# Whole seconds: what the wire server keeps of an instant is compared with the events' own.
T = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1)
LONG_AGO = T - timedelta(minutes=10)  # beyond SLA's CREATION_GRACE
HOOK = {"_id": "on-assign", "url": "http://127.0.0.1:9/hook", "secret": "s" * 16,
        "events": [ev.TICKET_ASSIGNED], "active": True}
RULES_OFF = {"close_solved_after_days": None, "remind_pending_after_days": None,
             "solve_reminded_after_days": None, "escalate_unassigned_after_minutes": None}


def assigned(ticket_id: str, number: int, agent_id: str, at: datetime,
             occurred_at: datetime | None = None) -> dict:
    return ev.new_event(ev.TICKET_ASSIGNED, {
        "ticket_id": ticket_id, "number": number, "agent_id": agent_id, "agent_name": agent_id,
        "department": "general", "assigned_at": at}, occurred_at or at)


def created(ticket_id: str, number: int, at: datetime = T) -> dict:
    return ticket_created(number, "general", ticket_id=ticket_id, created_at=at)


def both_drained(config) -> bool:
    return queues_drained(config["_vhost"], "sla") and \
        queues_drained(config["_vhost"], "automation")


def kept(db, ticket_ids: list[str]) -> tuple[dict, dict]:
    """The automation's states and SLA's clocks of these tickets, by ticket id."""
    wanted = {"_id": {"$in": ticket_ids}}
    return ({s["_id"]: s for s in db("automation").ticket_states.find(wanted)},
            {c["_id"]: c for c in db("sla").clocks.find(wanted)})


def started_everywhere(db, ticket_ids: list[str]) -> bool:
    states, clocks = kept(db, ticket_ids)
    return all(i in states and domain.started(clocks.get(i)) for i in ticket_ids)


def assigned_at(event: dict) -> datetime:
    return datetime.fromisoformat(event["data"]["assigned_at"])


def content(doc: dict) -> dict:
    """A state or clock but its version, without empty fields (a state stored waiting for
    no rule has no due fields)."""
    return {k: v for k, v in doc.items() if k != "version" and v is not None}


def test_assignments_waiting_together_end_as_one_at_a_time_would_leave_them(config, db):
    """Ticket A gets two assignments in one message (the newer first), C one from before the
    reply that met its first response (its record is credited anew: the clock goes one at a
    time, with the record), B and D are not created yet (D's assignment is too old to wait
    for the creation: SLA holds it); A's newer one is delivered again."""
    publish = dispatcher(config)
    db("automation").webhooks.insert_one(HOOK)
    with running(config, SlaService, AutomationService):
        publish(created("ta", 1))
        publish(created("tc", 3))
        publish(intake_event(ev.MESSAGE_ADDED, {
            "ticket_id": "tc", "number": 3, "message_id": "m-tc", "author_role": "agent",
            "public": True, "added_at": T + timedelta(minutes=20)}, T + timedelta(minutes=20)))
        eventually(lambda: started_everywhere(db, ["ta", "tc"]) and db("sla").outcomes.find_one(
            {"_id": "tc:first_response:1"}))
        eventually(lambda: both_drained(config), timeout=30)
    states_before, clocks_before = kept(db, ["ta", "tc"])

    # Both services down: what follows waits in their queues, as under load.
    newer = assigned("ta", 1, "agent-2", T + timedelta(minutes=5))
    older = assigned("ta", 1, "agent-1", T + timedelta(minutes=1))
    early = assigned("tb", 2, "agent-3", T + timedelta(minutes=2),
                     occurred_at=datetime.now(timezone.utc))
    late = assigned("tc", 3, "agent-9", T + timedelta(minutes=10))
    too_old = assigned("td", 4, "agent-4", LONG_AGO + timedelta(minutes=1))
    publish_together(config, [newer, older])  # one message: one batch, for certain
    for event in (early, late, too_old, newer):  # the newer one again
        publish(event)
    handled = {"automation": events_handled("automation", "follow_assignment")}
    with running(config, SlaService, AutomationService):
        # SLA tries B's assignment again until B's creation has started its clock.
        eventually(lambda: db("sla").clocks.find_one({"_id": "ta"})["version"]
                   > clocks_before["ta"]["version"])
        eventually(lambda: "held" in (db("sla").clocks.find_one({"_id": "td"}) or {}))
        assert db("sla").clocks.find_one({"_id": "tb"}) is None
        publish(created("tb", 2))
        publish(created("td", 4, LONG_AGO))
        eventually(lambda: started_everywhere(db, ["tb", "td"]))
        eventually(lambda: both_drained(config), timeout=30)
    assert events_handled("automation", "follow_assignment") - handled["automation"] < 5
    states, clocks = kept(db, ["ta", "tb", "tc", "td"])

    # The automation: the newer assignment holds A, in one write (the older one and the
    # repeat changed nothing); B and D were assigned on a blank state their creations found.
    one_at_a_time = tr.assigned(tr.assigned(states_before["ta"], "agent-2", assigned_at(newer)),
                                "agent-1", assigned_at(older))
    assert content(states["ta"]) == content(one_at_a_time)
    assert states["ta"]["version"] == states_before["ta"]["version"] + 1
    for ticket_id, agent_id, event in (("tb", "agent-3", early), ("td", "agent-4", too_old)):
        state = states[ticket_id]
        assert (state["status"], state["assignee_id"], state["assignee_at"],
                state.get("due_rule"), state["version"]) == (
            "new", agent_id, assigned_at(event), None, 2)  # not to be escalated
    assert states["tc"]["assignee_id"] == "agent-9"
    # Every assignment's webhook delivery, each once.
    deliveries = {d["_id"] for d in db("automation").deliveries.find(
        {"webhook_id": HOOK["_id"]})}
    assert deliveries == {f"{HOOK['_id']}:{e['event_id']}"
                          for e in (newer, older, early, late, too_old)}

    # SLA: both of A's assignments are inputs of its clock (the newer one holds it), in one
    # write; C's late one credits the met first response to its agent; B's was applied
    # once its clock started, D's with the creation that found it held.
    expected = domain.assigned(
        domain.assigned(clocks_before["ta"], "agent-2", assigned_at(newer), newer["event_id"]),
        "agent-1", assigned_at(older), older["event_id"])
    assert content(clocks["ta"]) == content(expected)
    assert clocks["ta"]["assignee_id"] == "agent-2"
    assert clocks["ta"]["version"] == clocks_before["ta"]["version"] + 1
    assert clocks["tc"]["assignee_id"] == "agent-9"
    assert db("sla").outcomes.find_one({"_id": "tc:first_response:1"})["agent_id"] == "agent-9"
    for ticket_id, agent_id in (("tb", "agent-3"), ("td", "agent-4")):
        assert clocks[ticket_id]["assignee_id"] == agent_id and "held" not in clocks[ticket_id]
        assert [i["agent_id"] for i in clocks[ticket_id]["inputs"]
                if i["kind"] == "assigned"] == [agent_id]


def test_one_read_and_one_write_serve_the_assignments_waiting_together(config, db):
    """Counted in this process's Mongo commands: per batch, automation reads its states once
    and writes them once; SLA writes its clocks once, with no transaction."""
    publish = dispatcher(config)
    ids = [f"tn-{i}" for i in range(6)]
    db("automation").settings.replace_one({"_id": "time_rules"}, RULES_OFF, upsert=True)
    with running(config, SlaService, AutomationService):
        for number, ticket_id in enumerate(ids, start=10):
            publish(created(ticket_id, number))
        eventually(lambda: started_everywhere(db, ids))
        eventually(lambda: both_drained(config), timeout=30)
    burst = [assigned(ticket_id, number, "agent-1", T + timedelta(minutes=1))
             for number, ticket_id in enumerate(ids, start=10)] + [
        assigned(ids[0], 10, "agent-2", T + timedelta(minutes=2)),
        assigned(ids[1], 11, "agent-0", T)]
    for event in burst:
        publish(event)

    prefix = config["MONGO_DB"]
    counters = {
        "automation batches": lambda: events_handled("automation", "follow_assignment"),
        "sla batches": lambda: events_handled("sla", "remember_assignee"),
        "state reads": lambda: mongo_commands_sent(f"{prefix}_automation", "find",
                                                   "ticket_states"),
        "state writes": lambda: mongo_commands_sent(f"{prefix}_automation", "update",
                                                    "ticket_states"),
        "clock writes": lambda: mongo_commands_sent(f"{prefix}_sla", "update", "clocks"),
        "outcome writes": lambda: mongo_commands_sent(f"{prefix}_sla", "update", "outcomes")}
    before = {name: count() for name, count in counters.items()}
    with running(config, SlaService, AutomationService):
        eventually(lambda: both_drained(config), timeout=30)
    sent = {name: count() - before[name] for name, count in counters.items()}
    # The test reads nothing while counting; the sweep reads no states with every rule off.
    assert 1 <= sent["automation batches"] < len(burst)
    assert sent["state reads"] == sent["automation batches"]
    assert 1 <= sent["state writes"] <= sent["automation batches"]
    assert 1 <= sent["sla batches"] < len(burst)
    assert sent["clock writes"] == sent["sla batches"] and sent["outcome writes"] == 0

    states, clocks = kept(db, ids)
    assert {i: s["assignee_id"] for i, s in states.items()} == {
        i: "agent-2" if i == ids[0] else "agent-1" for i in ids}
    assert {i: c["assignee_id"] for i, c in clocks.items()} == {
        i: "agent-2" if i == ids[0] else "agent-1" for i in ids}
    assert [i["agent_id"] for i in clocks[ids[1]]["inputs"]] == ["agent-0", "agent-1"]


RACED: list[str] = []  # the tickets another writer has changed under a batch, once each


class RacedStates(AutomationRepository):
    """A status change of ticket "tr-1" stored between the batch's read and its write."""

    def save_states(self, states, session=None):
        if "tr-1" not in RACED and any(s["_id"] == "tr-1" for s in states):
            RACED.append("tr-1")
            self.save_state(tr.status_changed(self.state("tr-1"), "pending",
                                              T + timedelta(minutes=3)))
        return super().save_states(states, session)


class RacedClocks(SlaRepository):
    """A status change of ticket "tr-1"'s clock saved between the batch's read and its
    write."""

    def replace_clocks(self, clocks, session=None):
        if "clock tr-1" not in RACED and any(c["_id"] == "tr-1" for c in clocks):
            RACED.append("clock tr-1")
            self.replace_clock(domain.status_changed(self.clock("tr-1"), "pending",
                                                     T + timedelta(minutes=3), "race"))
        return super().replace_clocks(clocks, session)


def test_a_state_or_clock_changed_between_the_read_and_the_write_is_evolved_alone(config, db):
    publish = dispatcher(config)
    ids = ["tr-1", "tr-2"]
    with running(config, SlaService, AutomationService) as runner:
        for number, ticket_id in enumerate(ids, start=30):
            publish(created(ticket_id, number))
        eventually(lambda: started_everywhere(db, ids))
        states_before, clocks_before = kept(db, ids)
        stores = [get_extension(runner.service_map[name], store)
                  for name, store in (("automation", AutomationStore), ("sla", SlaStore))]
        stores[0].repository, stores[1].repository = RacedStates, RacedClocks
        try:
            publish_together(config, [assigned(ticket_id, number, "agent-5",
                                               T + timedelta(minutes=4))
                                      for number, ticket_id in enumerate(ids, start=30)])
            eventually(lambda: both_drained(config), timeout=30)
        finally:
            del stores[0].repository, stores[1].repository
    assert sorted(RACED) == ["clock tr-1", "tr-1"]
    states, clocks = kept(db, ids)
    # Both changes kept: the status another writer stored, the assignment applied over it.
    assert (states["tr-1"]["status"], states["tr-1"]["assignee_id"]) == ("pending", "agent-5")
    assert states["tr-1"]["version"] == states_before["tr-1"]["version"] + 2
    assert (clocks["tr-1"]["status"], clocks["tr-1"]["assignee_id"]) == ("pending", "agent-5")
    assert [i["kind"] for i in clocks["tr-1"]["inputs"]] == ["status", "assigned"]
    assert clocks["tr-1"]["version"] == clocks_before["tr-1"]["version"] + 2
    # The other ticket's write applied in the batch: read again, it is not written again.
    assert states["tr-2"]["assignee_id"] == clocks["tr-2"]["assignee_id"] == "agent-5"
    assert states["tr-2"]["version"] == states_before["tr-2"]["version"] + 1
    assert clocks["tr-2"]["version"] == clocks_before["tr-2"]["version"] + 1


CLOCK_READS: list[list[str]] = []  # the ticket ids of each read of a batch's clocks


class CountedClockReads(SlaRepository):
    def clocks(self, ticket_ids):
        CLOCK_READS.append(sorted(ticket_ids))
        return super().clocks(ticket_ids)


def test_an_assignment_ahead_of_its_creation_waits_alone_while_its_batch_is_written(
        config, db, monkeypatch):
    """One batch: three assignments of started clocks and one of a ticket whose creation has
    not come yet.  The three are written together, in one write, and not taken again (before,
    the whole batch was tried again event by event: a read of each clock again, and the fourth's
    back-off held the batch's worker); only the fourth comes back, until its creation starts
    its clock."""
    publish = dispatcher(config)
    ids = ["tw-1", "tw-2", "tw-3"]
    with running(config, SlaService):
        for number, ticket_id in enumerate(ids, start=40):
            publish(created(ticket_id, number))
        eventually(lambda: all(domain.started(db("sla").clocks.find_one({"_id": i}))
                               for i in ids))
        eventually(lambda: queues_drained(config["_vhost"], "sla"), timeout=30)
    # SLA down: the four wait in its queue, each its own message, and are taken together.
    at = T + timedelta(minutes=3)
    for number, ticket_id in enumerate(ids, start=40):
        publish(assigned(ticket_id, number, "agent-7", at))
    publish(assigned("tw-4", 43, "agent-7", at, occurred_at=datetime.now(timezone.utc)))
    clock_writes = lambda: mongo_commands_sent(f"{config['MONGO_DB']}_sla",  # noqa: E731
                                               "update", "clocks")
    before = clock_writes()

    def assignee(ticket_id: str) -> str | None:
        return (db("sla").clocks.find_one({"_id": ticket_id}) or {}).get("assignee_id")

    monkeypatch.setattr(SlaStore, "repository", CountedClockReads)
    with running(config, SlaService):
        eventually(lambda: all(assignee(i) == "agent-7" for i in ids) and
                   CLOCK_READS.count(["tw-4"]) >= 2)
        assert clock_writes() - before == 1
        assert db("sla").clocks.find_one({"_id": "tw-4"}) is None
        publish(created("tw-4", 43))
        eventually(lambda: assignee("tw-4") == "agent-7")
    assert CLOCK_READS[0] == ids + ["tw-4"]
    assert all(read == ["tw-4"] for read in CLOCK_READS[1:])
