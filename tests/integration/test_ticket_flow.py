"""The four back-end services together, in this process, against the real RabbitMQ, Mongo wire
server and Elasticsearch: a ticket is filed, routed, clocked, solved and becomes searchable."""
import time
from datetime import datetime, timedelta, timezone

import pytest
from elasticsearch import Elasticsearch
from nameko.standalone.events import event_dispatcher

from services.common import events as ev
from services.common import outbox
from services.intake import domain
from services.intake.repository import TicketRepository
from services.intake.service import IntakeService
from services.routing.service import RoutingService
from services.search.service import SearchService
from services.sla.service import SlaService
from tests.support import (EventTap, eventually, events_handled, intake_event, queues_drained,
                           running)

AGENT = {"id": "agent-1", "name": "Agent One", "email": "one@example.com",
         "departments": ["technical"], "capacity": 100}
CUSTOMER = {"id": "cust-1", "role": "customer", "name": "Cu Stomer"}
AGENT_ACTOR = {"id": "agent-1", "role": "agent", "name": "Agent One"}


@pytest.fixture(scope="module", autouse=True)
def services(config, rpc):
    with running(config, IntakeService, RoutingService, SlaService, SearchService) as runner:
        assert rpc.routing.upsert_department({"id": "technical", "name": "Technical"})["ok"]
        assert rpc.routing.upsert_agent(AGENT)["ok"]
        yield runner


def file(rpc, subject="Cannot log in", key=None, **fields):
    ticket = {"subject": subject, "description": "The login page rejects my password",
              "department": "technical", **fields}
    return rpc.intake.create_ticket({"ticket": ticket, "requester": CUSTOMER, "channel": "api",
                                     "idempotency_key": key})


def test_ticket_is_numbered_routed_and_clocked(rpc, db):
    first = file(rpc)
    second = file(rpc, subject="Second")
    assert first["ok"] and first["created"]
    assert second["ticket"]["number"] == first["ticket"]["number"] + 1

    number = first["ticket"]["number"]
    ticket = eventually(lambda: (t := rpc.intake.get_ticket(number, AGENT_ACTOR)["ticket"])
                        ["assignee_id"] and t["sla"] and t)
    assert ticket["assignee_id"] == "agent-1"
    created = datetime.fromisoformat(ticket["created_at"])
    # Default "normal" policy: 4 h to first response, 24 h to resolution.
    assert datetime.fromisoformat(ticket["sla"]["first_response_due"]) - created == timedelta(hours=4)
    assert datetime.fromisoformat(ticket["sla"]["resolution_due"]) - created == timedelta(hours=24)
    # Everything staged got published, and left the outbox a moment later.
    eventually(lambda: db("intake").outbox.count_documents({}) == 0)


def test_tickets_filed_together_announce_their_creation_in_bundles(config, rpc):
    """Intake publishes the creations of tickets written close together as bundles (fewer
    messages for RabbitMQ to fan out to every consumer); each is announced once, and routing
    and SLA, taking bundles, assign and clock every one."""
    tap = EventTap(config, ev.TICKET_CREATED)
    try:
        replies = [rpc.intake.create_ticket.call_async({
            "ticket": {"subject": f"Together {i}", "description": "Filed in a crowd",
                       "department": "technical"},
            "requester": CUSTOMER, "channel": "api"}) for i in range(12)]
        numbers = {reply.result()["ticket"]["number"] for reply in replies}
        eventually(lambda: {e["data"]["number"] for e in tap.of_type(ev.TICKET_CREATED)}
                   >= numbers)
    finally:
        tap.close()
    assert sorted(e["data"]["number"] for e in tap.received) == sorted(numbers)
    assert tap.messages < len(numbers), tap.messages
    eventually(lambda: all((t := rpc.intake.get_ticket(n, AGENT_ACTOR)["ticket"])["assignee_id"]
                           and t["sla"] for n in numbers))


def test_idempotency_key_returns_the_same_ticket(rpc, db):
    a = file(rpc, subject="Retry me", key="client-retry-1")
    b = file(rpc, subject="Retry me", key="client-retry-1")
    assert a["created"] is True and b["created"] is False
    assert a["ticket"]["id"] == b["ticket"]["id"]
    assert db("intake").tickets.count_documents({"idempotency_key": "client-retry-1"}) == 1


@pytest.mark.parametrize("ticket", [
    {"description": "no subject"},
    {"subject": "x" * 1_000_000, "description": "huge"},
    {"subject": 42, "description": "wrong type"},
    {"subject": "s", "description": "d", "priority": "whenever"},
    {"subject": {"$gt": ""}, "description": "operator injection"},
    {"subject": "Hello\r\nBcc: x@y", "description": "header injection"},
])
def test_bad_input_is_refused_and_writes_nothing(rpc, db, ticket):
    before = db("intake").tickets.count_documents({})
    result = rpc.intake.create_ticket({"ticket": ticket, "requester": CUSTOMER,
                                       "channel": "api"})
    assert result["ok"] is False and result["status"] == 400
    assert "ticket" in result["errors"]
    assert db("intake").tickets.count_documents({}) == before


def test_solved_ticket_is_indexed_and_suggested_with_russian_morphology(rpc, config):
    created = file(rpc, subject="Не приходит письмо для сброса пароля", language="ru")
    number = created["ticket"]["number"]
    eventually(lambda: rpc.intake.get_ticket(number, AGENT_ACTOR)["ticket"]["assignee_id"])
    assert rpc.intake.add_message(number, {"body": "Проверьте папку «Спам» и запросите письмо "
                                                   "повторно."}, AGENT_ACTOR)["ok"]
    assert rpc.intake.add_message(number, {"body": "internal: customer is on the old plan",
                                           "public": False}, AGENT_ACTOR)["ok"]
    solved = rpc.intake.change_status(number, {"status": "solved"}, AGENT_ACTOR)
    assert solved["ok"], solved

    es = Elasticsearch(config["ES_URL"])
    # Every ticket is indexed from filing on; wait for the solved version.
    doc = eventually(lambda: (d := es.get(index=f"{config['ES_INDEX_PREFIX']}-tickets",
                                          id=created["ticket"]["id"], ignore=404).get("_source"))
                     and d["status"] == "solved" and d)
    assert doc["resolution"].startswith("Проверьте папку")
    assert "internal" not in str(doc)  # internal notes never reach the index

    # "пароль" (nominative) finds a ticket that only says "пароля" (genitive).
    eventually(lambda: number in [r["number"] for r in rpc.search.suggest(
        {"q": "сбросить пароль", "language": "ru"}, AGENT_ACTOR)["results"]])


def test_illegal_transition_lists_the_allowed_ones(rpc):
    number = file(rpc, subject="Transitions")["ticket"]["number"]
    result = rpc.intake.change_status(number, {"status": "closed"}, CUSTOMER)
    assert result["status"] == 409
    assert result["errors"]["allowed"] == ["solved"]


def test_customers_cannot_see_other_customers_tickets(rpc):
    number = file(rpc, subject="Private")["ticket"]["number"]
    stranger = {"id": "cust-2", "role": "customer", "name": "Other"}
    assert rpc.intake.get_ticket(number, stranger)["status"] == 404
    assert rpc.intake.get_ticket(number, CUSTOMER)["ok"]


def test_redelivered_event_applies_once(rpc, config, db):
    """At-least-once delivery: the same ticket_created twice must not double-assign."""
    # A department of its own, so tickets from other tests cannot change this agent's load.
    assert rpc.routing.upsert_department({"id": "dedupe", "name": "Dedupe"})["ok"]
    assert rpc.routing.upsert_agent(dict(AGENT, id="agent-dedupe", departments=["dedupe"]))["ok"]
    event = intake_event(ev.TICKET_CREATED, {
        "ticket_id": "dup-ticket", "number": 99001, "subject": "dup", "description": "dup",
        "department": "dedupe", "category": None, "priority": "normal", "channel": "api",
        "language": "en", "tags": [], "requester_id": "cust-1",
        "created_at": datetime.now(timezone.utc)})
    dispatch = event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})
    dispatch("intake", ev.TICKET_CREATED, event)
    dispatch("intake", ev.TICKET_CREATED, event)

    eventually(lambda: db("routing").assignments.find_one({"_id": "dup-ticket"}))
    eventually(lambda: db("sla").clocks.find_one({"_id": "dup-ticket"}))
    # Both deliveries handled (the management API counts ready and unacknowledged messages).
    eventually(lambda: queues_drained(config["_vhost"], "routing")
               and queues_drained(config["_vhost"], "sla"))
    assert db("routing").assignment_log.count_documents({"ticket_id": "dup-ticket"}) == 1
    assert db("routing").agents.find_one({"_id": "agent-dedupe"})["load"] == 1
    assert db("sla").clocks.count_documents({"_id": "dup-ticket"}) == 1


def test_event_left_in_outbox_by_a_crash_is_still_published(rpc, config, db):
    """Simulates a process dying after commit but before publishing: the relay sweep sends it."""
    tap = EventTap(config, ev.TICKET_CREATED)
    try:
        event = intake_event(ev.TICKET_CREATED, {
            "ticket_id": "orphan", "number": 99002, "subject": "orphan", "description": "o",
            "department": "technical", "category": None, "priority": "low", "channel": "api",
            "language": "en", "tags": [], "requester_id": "cust-1",
            "created_at": datetime.now(timezone.utc)})
        intake_db = db("intake")
        with intake_db.client.start_session() as session, session.start_transaction():
            from services.common.outbox import Outbox
            Outbox(intake_db).stage([event], session, datetime.now(timezone.utc))
        # ...and the writer dies here, before publishing: its claim lapses, the sweep sends it.
        published = eventually(lambda: [e for e in tap.of_type(ev.TICKET_CREATED)
                                        if e["event_id"] == event["event_id"]])
        assert len(published) == 1
        eventually(lambda: db("routing").assignments.find_one({"_id": "orphan"}))
        eventually(lambda: intake_db.outbox.count_documents({"_id": event["event_id"]}) == 0)
    finally:
        tap.close()


def test_a_new_ticket_its_writer_left_unsettled_is_published_and_rolled_up_once(
        rpc, config, db):
    """A process dying right after writing a new ticket (before publishing its events and
    settling it): once the writer's claim lapses, the sweep publishes the events and rolls
    the ticket up -- once, however often the sweep or a late writer tries again."""
    tap = EventTap(config, ev.TICKET_CREATED)
    try:
        written_at = datetime.now(timezone.utc) - 2 * outbox.WRITER_CLAIM
        ticket = domain.new_ticket(
            ticket_id="left-behind", number=99003, requester_id="cust-1", channel="api",
            now=written_at, idempotency_key=None, fields={
                "subject": "left behind", "description": "d", "department": "unsettled",
                "priority": "normal", "language": "en"})
        event = intake_event(ev.TICKET_CREATED, {
            "ticket_id": ticket["_id"], "number": ticket["number"], "subject": "left behind",
            "description": "d", "department": "technical", "category": None,
            "priority": "normal", "channel": "api", "language": "en", "tags": [],
            "requester_id": "cust-1", "created_at": written_at})
        repo = TicketRepository(db("intake"))
        stored = repo.insert(ticket, outbox.entries([event], written_at), written_at)
        # ...and the writer dies here.
        published = eventually(lambda: [e for e in tap.of_type(ev.TICKET_CREATED)
                                        if e["event_id"] == event["event_id"]])
        assert len(published) == 1
        eventually(lambda: db("routing").assignments.find_one({"_id": "left-behind"}))
        eventually(lambda: repo.settled.find_one({"_id": "left-behind"}))
        assert repo.settle([stored]) == 0  # a late writer's settle finds it done
        daily = [d for d in repo.rollup_documents()["daily"] if d["department"] == "unsettled"]
        assert [d["created"] for d in daily] == [1]
        # Readers never see what a new ticket owes, even before it is settled.
        assert "settle" not in rpc.intake.get_ticket(99003, AGENT_ACTOR)["ticket"]
    finally:
        tap.close()


def test_breach_is_announced_once(rpc, config, db):
    tap = EventTap(config, ev.SLA_BREACHED)
    try:
        created_at = datetime.now(timezone.utc) - timedelta(hours=2)
        event = intake_event(ev.TICKET_CREATED, {
            "ticket_id": "late", "number": 99003, "subject": "late", "description": "late",
            "department": "technical", "category": None, "priority": "urgent",
            "channel": "api", "language": "en", "tags": [], "requester_id": "cust-1",
            "created_at": created_at})
        event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})(
            "intake", ev.TICKET_CREATED, event)
        breaches = eventually(lambda: tap.of_type(ev.SLA_BREACHED))
        # Urgent: 30 min to first response (missed); 4 h to resolve (not yet).
        assert [b["data"]["target"] for b in breaches] == ["first_response"]
        clock = rpc.sla.get_clock("late")["clock"]
        assert clock["targets"]["first_response"]["breached"] is True
        assert clock["targets"]["resolution"]["breached"] is False
        # Later sweeps must not announce it again.
        time.sleep(2.5)
        assert len(tap.of_type(ev.SLA_BREACHED)) == 1
    finally:
        tap.close()


def test_a_pause_moves_the_deadline_in_intake_and_in_routings_queue(rpc):
    """SLA announces every moved deadline; intake's ticket (the console's countdown) and
    routing's differentiated queue follow it, not the creation-time one."""
    assert rpc.routing.upsert_department({"id": "backoffice", "name": "Back office",
                                          "queue_mode": "differentiated"})["ok"]
    first = file(rpc, subject="Waits on the customer", department="backoffice")["ticket"]
    second = file(rpc, subject="Filed just after", department="backoffice")["ticket"]
    supervisor = {"id": "sup-1", "role": "supervisor", "name": "Super Visor"}

    def queue():
        return {t["ticket_id"]: t["sla_due"] for t in rpc.routing.queue("backoffice")["tickets"]
                if t["ticket_id"] in (first["id"], second["id"])}

    def deadline(ticket):
        sla = rpc.intake.get_ticket(ticket["number"], supervisor)["ticket"]["sla"] or {}
        return sla.get("first_response_due")

    eventually(lambda: all(queue().values()) and len(queue()) == 2)
    assert list(queue()) == [first["id"], second["id"]]  # same priority: earlier deadline first
    created_due = eventually(lambda: deadline(first))

    paused = rpc.intake.change_status(first["number"], {"status": "pending"}, supervisor)
    assert paused["ok"]
    eventually(lambda: deadline(first) is None and queue()[first["id"]] is None)
    # Wait out more than the gap between the two creations, so the pause pushes the first
    # ticket's deadline past the second's.
    gap = (datetime.fromisoformat(second["created_at"])
           - datetime.fromisoformat(first["created_at"]))
    paused_at = datetime.fromisoformat(paused["ticket"]["updated_at"])
    eventually(lambda: datetime.now(timezone.utc) - paused_at > gap + timedelta(milliseconds=50))
    assert rpc.intake.change_status(first["number"], {"status": "open"}, supervisor)["ok"]

    clock = eventually(lambda: (c := rpc.sla.get_clock(first["id"])["clock"])["status"] == "open"
                       and c)
    moved = clock["targets"]["first_response"]["due_at"]
    assert datetime.fromisoformat(moved) > datetime.fromisoformat(created_due)
    eventually(lambda: deadline(first) == moved)
    eventually(lambda: list(queue()) == [second["id"], first["id"]])
    assert datetime.fromisoformat(queue()[first["id"]]) == datetime.fromisoformat(moved)


def test_an_older_deadline_announcement_delivered_late_is_ignored(rpc, config, db):
    """The outbox may re-send an old sla_deadlines_set after a newer one: intake and routing
    keep the deadline with the highest clock version."""
    assert rpc.routing.upsert_department({"id": "backoffice", "name": "Back office",
                                          "queue_mode": "differentiated"})["ok"]
    ticket = file(rpc, subject="Deadline versions", department="backoffice")["ticket"]
    ticket_id, number = ticket["id"], ticket["number"]
    supervisor = {"id": "sup-1", "role": "supervisor", "name": "Super Visor"}
    eventually(lambda: rpc.intake.get_ticket(number, supervisor)["ticket"]["sla"])
    dispatch = event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})
    newest_due = datetime(2030, 1, 1, tzinfo=timezone.utc)

    def announce(version, due):
        event = ev.new_event(ev.SLA_DEADLINES_SET, {
            "ticket_id": ticket_id, "number": number, "policy_id": "default-normal",
            "first_response_due": due, "resolution_due": due + timedelta(days=1),
            "version": version})
        dispatch("sla", ev.SLA_DEADLINES_SET, event)
        return event["event_id"]

    def seen():
        intake_due = rpc.intake.get_ticket(number, supervisor)["ticket"]["sla"]
        routing_due = {t["ticket_id"]: t["sla_due"]
                       for t in rpc.routing.queue("backoffice")["tickets"]}.get(ticket_id)
        return (datetime.fromisoformat(intake_due["first_response_due"]),
                routing_due and datetime.fromisoformat(routing_due))

    announce(1000, newest_due)
    eventually(lambda: seen() == (newest_due, newest_due))
    recorded = events_handled("intake", "record_sla")
    noted = events_handled("routing", "note_sla_deadlines")
    announce(999, newest_due - timedelta(days=365))
    eventually(lambda: events_handled("intake", "record_sla") == recorded + 1
               and events_handled("routing", "note_sla_deadlines") == noted + 1)
    assert seen() == (newest_due, newest_due)
