"""Builds the events routing listens to, as intake and sla would publish them."""
import uuid
from datetime import datetime, timezone

from nameko.standalone.events import event_dispatcher

from services.common import events as ev
from tests.support import intake_event


def ticket_created(number: int, department: str, subject: str = "Help", **fields) -> dict:
    data = {"ticket_id": fields.pop("ticket_id", f"t-{number}-{uuid.uuid4().hex[:6]}"),
            "number": number, "subject": subject, "description": fields.pop("description", ""),
            "department": department, "category": None, "priority": "normal",
            "channel": "api", "language": "en", "tags": [], "requester_id": "cust-1",
            "created_at": datetime.now(timezone.utc), **fields}
    return intake_event(ev.TICKET_CREATED, data)


def department_changed(created: dict, department: str) -> dict:
    """Staff moved the ticket of ``created`` to ``department``."""
    d = created["data"]
    return intake_event(ev.TICKET_UPDATED, {
        "ticket_id": d["ticket_id"], "number": d["number"],
        "changes": {"department": {"old": d["department"], "new": department}},
        "actor_role": "supervisor", "department": department, "priority": "normal",
        "updated_at": datetime.now(timezone.utc)})


def solved(ticket_id: str, number: int, department: str,
           at: datetime | None = None) -> dict:
    at = at or datetime.now(timezone.utc)
    return intake_event(ev.STATUS_CHANGED, {
        "ticket_id": ticket_id, "number": number, "old_status": "open", "new_status": "solved",
        "actor_role": "agent", "department": department, "priority": "normal",
        "changed_at": at}, at)


def reopened(created: dict, at: datetime, previous_assignee_id: str | None = None) -> dict:
    """The requester reopened the ticket of ``created`` at ``at``."""
    d = created["data"]
    return intake_event(ev.TICKET_REOPENED, {
        "ticket_id": d["ticket_id"], "number": d["number"], "department": d["department"],
        "priority": d["priority"], "previous_assignee_id": previous_assignee_id,
        "reopened_at": at}, at)


def dispatcher(config):
    """publish(event): sends an envelope on its source service's exchange."""
    dispatch = event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})
    return lambda event: dispatch(ev.EVENT_SOURCE[event["event_type"]], event["event_type"],
                                  event)


def publish_together(config, events: list[dict]) -> None:
    """Sends events of one type in one message (a bundle): a batch handler is handed them
    all at once, for certain."""
    kind = events[0]["event_type"]
    event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})(
        ev.EVENT_SOURCE[kind], kind, ev.bundle(events, [None] * len(events)))


def log_replays_agents(routing, agent_ids) -> None:
    """Each agent's assignment log replays to what the agent holds: its entries numbered 1,
    2, 3... (``seq``) with no gap and no repeat, each ``load_after`` one more (assigned) or
    one less (released) than the entry before, never above the capacity an assignment saw;
    the last of them the agent's ``seq`` and ``load``, which is its active assignments."""
    for agent_id in agent_ids:
        entries = sorted(routing.assignment_log.find({"agent_id": agent_id}),
                         key=lambda e: e["seq"])
        assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1)), agent_id
        load = 0
        for entry in entries:
            load += 1 if entry["action"] == "assigned" else -1
            assert entry["load_after"] == load, (agent_id, entry)
            assert 0 <= load and (entry["action"] != "assigned" or load <= entry["capacity"]), (
                agent_id, entry)
        agent = routing.agents.find_one({"_id": agent_id})
        active = routing.assignments.count_documents({"agent_id": agent_id, "active": True})
        assert (agent["seq"], agent["load"]) == (len(entries), load) and load == active, (
            agent_id, agent, active)
