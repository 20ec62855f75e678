"""New tickets that wait together in SLA's and automation's queues are taken together, on the
real broker and wire server: one clock and one state per ticket, its deadlines announced (those
of a batch in bundles), a redelivery in the same batch changing nothing, and an assignment that overtook its creation
kept."""
from datetime import datetime, timezone

from services.automation.service import AutomationService
from services.common import events as ev
from services.sla.service import SlaService
from tests.integration.routing_helpers import dispatcher, ticket_created
from tests.support import EventTap, eventually, events_handled, queues_drained, running


def test_a_burst_of_creations_starts_each_clock_and_state_once(config, db):
    publish = dispatcher(config)
    with running(config, SlaService, AutomationService):
        pass  # their queues are declared: what follows waits there, as under load
    burst = [ticket_created(700 + i, "general", f"Burst {i}") for i in range(10)]
    ids = [e["data"]["ticket_id"] for e in burst]
    overtaken = burst[4]["data"]
    publish(ev.new_event(ev.TICKET_ASSIGNED, {
        "ticket_id": overtaken["ticket_id"], "number": overtaken["number"],
        "agent_id": "agent-1", "agent_name": "Bob", "department": "general",
        "assigned_at": datetime.now(timezone.utc)}))
    for event in burst + [burst[2]]:  # one redelivered
        publish(event)

    tap = EventTap(config, ev.SLA_DEADLINES_SET)

    def announced_as_started():
        """Each ticket's clock, kept and its deadlines announced as started (version 0)."""
        started = {e["data"]["ticket_id"]: e["data"] for e in tap.of_type(ev.SLA_DEADLINES_SET)
                   if e["data"]["version"] == 0}
        clocks = {c["_id"]: c for c in db("sla").clocks.find({"_id": {"$in": ids}})}
        return set(started) == set(clocks) == set(ids) and all(
            started[i]["number"] == clocks[i]["origin"]["ticket"]["number"]
            and started[i]["first_response_due"] for i in ids)

    try:
        before = {s: events_handled(s, "start_clock" if s == "sla" else "follow_creation")
                  for s in ("sla", "automation")}
        with running(config, SlaService, AutomationService):
            eventually(lambda: queues_drained(config["_vhost"], "sla")
                       and queues_drained(config["_vhost"], "automation"), timeout=30)
            eventually(announced_as_started)
    finally:
        tap.close()
    # The deadlines of clocks started together went out together, in bundles.
    assert tap.messages < len(tap.received)
    assert events_handled("sla", "start_clock") - before["sla"] < len(burst)  # gathered
    assert events_handled("automation", "follow_creation") - before["automation"] < len(burst)

    states = {s["_id"]: s for s in db("automation").ticket_states.find({"_id": {"$in": ids}})}
    assert {i: s["status"] for i, s in states.items()} == {i: "new" for i in ids}
    # One write each; the overtaken ticket's creation applied on top of its assignment, and
    # the redelivery (when it came in another batch) leaving the state as it was.
    redelivered = ids[2]
    assert {i: s["version"] for i, s in states.items() if i != redelivered} == {
        i: 2 if i == overtaken["ticket_id"] else 1 for i in ids if i != redelivered}
    assert states[redelivered]["version"] in (1, 2)
    assert states[overtaken["ticket_id"]]["assignee_id"] == "agent-1"
