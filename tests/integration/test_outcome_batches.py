"""Other services' decisions about tickets that wait together in intake's queues (routing's
assignments, priorities and classifications) are recorded together, on the real broker and
wire server: each once, in the order announced, with its history and tag counts, and the
report rollups exactly as a rebuild computes them."""
from datetime import datetime, timedelta, timezone

from services.common import events as ev
from services.intake.rebuild_rollups import rebuild
from services.intake.repository import TicketRepository
from services.intake.service import IntakeService
from tests.integration.routing_helpers import dispatcher
from tests.support import eventually, events_handled, queues_drained, running, settled

CUSTOMER = {"id": "cust-b", "role": "customer", "name": "Bea"}
SUPERVISOR = {"id": "sup-b", "role": "supervisor", "name": "Sue"}
NOW = datetime.now(timezone.utc)


def assigned(ticket: dict, agent_id: str, at: datetime, by: dict | None = None) -> dict:
    return ev.new_event(ev.TICKET_ASSIGNED, {
        "ticket_id": ticket["id"], "number": ticket["number"], "agent_id": agent_id,
        "agent_name": agent_id.title(), "department": "general", "assigned_at": at,
        "assigned_by": by, "agent_email": f"{agent_id}@example.com"}, at)


def test_a_burst_of_decisions_is_recorded_once_each_in_order(config, rpc, db):
    with running(config, IntakeService):
        tickets = [rpc.intake.create_ticket({
            "ticket": {"subject": f"Batch {i}", "description": "d", "department": "general"},
            "requester": CUSTOMER, "channel": "api", "idempotency_key": None})["ticket"]
            for i in range(6)]
        settled(db("intake"))
    # Intake is down: what follows waits in its queues, as under load.
    publish = dispatcher(config)
    first = assigned(tickets[0], "agent-a", NOW)
    burst = [first] + [assigned(t, "agent-a", NOW) for t in tickets[1:]] + [
        assigned(tickets[0], "agent-b", NOW + timedelta(seconds=1), by=SUPERVISOR),
        first]  # the first redelivered, after the reassignment it preceded
    for event in burst:
        publish(event)
    publish(ev.new_event(ev.PRIORITY_CHANGED, {
        "ticket_id": tickets[2]["id"], "number": tickets[2]["number"],
        "old_priority": "normal", "new_priority": "urgent", "reason": "rule"}))
    for tags in (["vpn"], ["vpn", "outage"]):  # the second classification replaces the first
        publish(ev.new_event(ev.TICKET_CLASSIFIED, {
            "ticket_id": tickets[3]["id"], "number": tickets[3]["number"],
            "department": "network", "category": "access", "priority": "high", "tags": tags}))

    before = events_handled("intake", "record_assignment")
    with running(config, IntakeService):
        eventually(lambda: queues_drained(config["_vhost"], "intake"), timeout=30)
    assert events_handled("intake", "record_assignment") - before < len(burst)  # gathered

    stored = {t["number"]: t for t in db("intake").tickets.find(
        {"_id": {"$in": [t["id"] for t in tickets]}})}
    assert {n: t["assignee_id"] for n, t in stored.items()} == {
        t["number"]: "agent-b" if t is tickets[0] else "agent-a" for t in tickets}
    assert stored[tickets[0]["number"]]["assignee_email"] == "agent-b@example.com"
    assert stored[tickets[2]["number"]]["priority"] == "urgent"
    classified = stored[tickets[3]["number"]]
    assert (classified["department"], classified["priority"], classified["tags"]) == (
        "network", "high", ["vpn", "outage"])

    history = list(db("intake").audit.find({"ticket_id": tickets[0]["id"],
                                            "field": "assignee_id"}).sort("at", 1))
    # Once each (the redelivery recorded nothing), in order, each by its own actor.
    assert [(h["old"], h["new"], h["actor_id"]) for h in history] == [
        (None, "agent-a", "system"), ("agent-a", "agent-b", SUPERVISOR["id"])]
    assert db("intake").audit.count_documents({"ticket_id": tickets[1]["id"],
                                               "field": "assignee_id"}) == 1
    usage = {u["_id"]: u["count"] for u in db("intake").tags.find(
        {"_id": {"$in": ["vpn", "outage"]}})}
    assert usage == {"vpn": 1, "outage": 1}

    # The rollups moved by each decision are exactly what a rebuild computes from the tickets.
    repo = TicketRepository(db("intake"))
    live = repo.rollup_documents()
    assert any(d.get("assigned") for d in live["agents"])
    rebuild(repo, show_progress=False)
    assert repo.rollup_documents() == live
