"""Routing alone against the real broker and Mongo wire server: rules validated at save and
applied on arrival, skills and availability, queue order, SLA escalations, incidents."""
import logging
from datetime import datetime, timedelta, timezone

import pytest

from services.common import events as ev
from services.routing.repository import RoutingRepository
from services.routing.service import RoutingService
from tests.integration.routing_helpers import department_changed, dispatcher, ticket_created
from tests.support import EventTap, eventually, queues_drained, running

TAPPED = (ev.TICKET_ASSIGNED, ev.TICKET_CLASSIFIED, ev.PRIORITY_CHANGED,
          ev.INCIDENT_DECLARED, ev.TICKET_UNASSIGNABLE)


@pytest.fixture(scope="module", autouse=True)
def services(config, rpc):
    with running(config, RoutingService) as runner:
        for dept in ("general", "billing"):
            assert rpc.routing.upsert_department({"id": dept, "name": dept.title()})["ok"]
        yield runner


@pytest.fixture(scope="module")
def publish(config):
    return dispatcher(config)


@pytest.fixture()
def tap(config):
    tap = EventTap(config, *TAPPED)
    yield tap
    tap.close()


def agent(id, departments, **fields):
    return {"id": id, "name": id.title(), "email": f"{id}@example.com",
            "departments": departments, **fields}


def assignee(db, ticket_id):
    found = db("routing").assignments.find_one({"_id": ticket_id, "active": True})
    return found and found["agent_id"]


REFUNDS = {"id": "refunds", "name": "Refunds to billing", "position": 10,
           "conditions": [{"field": "text", "op": "contains_any", "value": ["refund", "возврат"]}],
           "actions": {"department": "billing", "category": "refunds", "priority": "high"}}


@pytest.mark.parametrize("change, where, fragment", [
    ({"conditions": [{"field": "mood", "op": "equals", "value": "x"}]}, "conditions.0",
     "Unknown field 'mood'"),
    ({"conditions": [{"field": "subject", "op": "matches", "value": "([a-z"}]}, "conditions.0",
     "Invalid regular expression"),
    ({"actions": {"department": "nowhere"}}, "actions.department", "Unknown department"),
    ({"actions": {"priority": "whenever"}}, "actions", "Must be one of"),
    ({"position": "first"}, "position", "Not a valid integer"),
])
def test_bad_rules_are_refused_at_save_and_nothing_is_stored(rpc, db, change, where, fragment):
    result = rpc.routing.save_rule(dict(REFUNDS, id="bad", **change))
    assert result["ok"] is False and result["status"] == 400
    assert fragment in str(result["errors"][where.split(".")[0]] if where == "actions"
                           else result["errors"][where]), result["errors"]
    assert db("routing").rules.find_one({"_id": "bad"}) is None


def test_rule_classifies_on_arrival_and_skills_pick_the_agent(rpc, db, publish, tap):
    assert rpc.routing.save_rule(REFUNDS)["ok"]
    assert rpc.routing.upsert_agent(agent("ru-refunds", ["billing"], languages=["ru"],
                                          categories=["refunds"]))["ok"]
    assert rpc.routing.upsert_agent(agent("en-invoices", ["billing"], languages=["en"],
                                          categories=["invoices"]))["ok"]

    dry = rpc.routing.dry_run({"subject": "Нужен ВОЗВРАТ денег", "department": "general"})
    assert dry["fired"] == ["refunds"] and dry["ticket"]["department"] == "billing"
    assert dry["trace"][0]["reasons"] == ["text contains 'возврат'"]

    event = ticket_created(1, "general", "Нужен возврат денег", language="ru")
    publish(event)
    ticket_id = event["data"]["ticket_id"]
    assert eventually(lambda: assignee(db, ticket_id)) == "ru-refunds"
    classified = eventually(lambda: tap.of_type(ev.TICKET_CLASSIFIED))[0]["data"]
    assert (classified["department"], classified["category"], classified["rule_ids"]) == (
        "billing", "refunds", ["refunds"])
    changed = eventually(lambda: tap.of_type(ev.PRIORITY_CHANGED))[0]["data"]
    assert (changed["old_priority"], changed["new_priority"]) == ("normal", "high")

    # An English refund: nobody has both skills, so it waits...
    english = ticket_created(2, "general", "Refund please", language="en")
    publish(english)
    eventually(lambda: tap.of_type(ev.TICKET_UNASSIGNABLE))
    assert assignee(db, english["data"]["ticket_id"]) is None
    # ...until a matching agent comes online.
    assert rpc.routing.upsert_agent(agent("en-refunds", ["billing"], categories=["refunds"],
                                          status="offline"))["ok"]
    assert rpc.routing.set_availability("en-refunds", {"status": "online"})["ok"]
    assert eventually(lambda: assignee(db, english["data"]["ticket_id"])) == "en-refunds"
    assert rpc.routing.delete_rule("refunds")["ok"]


def test_availability_is_validated(rpc):
    assert rpc.routing.set_availability("ghost", {"status": "online"})["status"] == 404
    refused = rpc.routing.set_availability("en-refunds", {"status": "vacation"})
    assert refused["status"] == 400 and "vacation_until" in refused["errors"]


def test_differentiated_queue_order_and_sla_escalation(rpc, db, publish, tap):
    assert rpc.routing.upsert_department({"id": "ops", "name": "Ops",
                                          "queue_mode": "differentiated"})["ok"]
    low = ticket_created(10, "ops", "low one", priority="low")
    normal_late = ticket_created(11, "ops", "normal later deadline")
    normal_soon = ticket_created(12, "ops", "normal sooner deadline")
    urgent = ticket_created(13, "ops", "urgent one", priority="urgent")
    for event in (low, normal_late, normal_soon, urgent):
        publish(event)
    now = datetime.now(timezone.utc)
    for event, hours in ((normal_late, 8), (normal_soon, 2)):
        publish(ev.new_event(ev.SLA_DEADLINES_SET, {
            "ticket_id": event["data"]["ticket_id"], "number": event["data"]["number"],
            "policy_id": "p", "first_response_due": now + timedelta(hours=hours),
            "resolution_due": now + timedelta(hours=24)}))
    expected = [13, 12, 11, 10]
    eventually(lambda: [t["number"] for t in rpc.routing.queue("ops")["tickets"]] == expected)

    # A breach raises the low ticket one step, alerts a supervisor and the queue re-orders.
    publish(ev.new_event(ev.SLA_BREACHED, {
        "ticket_id": low["data"]["ticket_id"], "number": 10, "target": "first_response",
        "due_at": now, "policy_id": "p", "department": "ops", "priority": "low",
        "actions": ["raise_priority", "notify_supervisor"]}))
    eventually(lambda: [t["priority"] for t in rpc.routing.queue("ops")["tickets"]]
               == ["urgent", "normal", "normal", "normal"])
    alerts = eventually(lambda: [a for a in rpc.routing.list_alerts()["alerts"]
                                 if a["kind"] == "sla_breached"])
    assert alerts[0]["ticket_ids"] == [low["data"]["ticket_id"]]

    # Capacity frees: the agent takes the queue in the order shown.
    assert rpc.routing.upsert_agent(agent("ops-1", ["ops"], capacity=2))["ok"]
    eventually(lambda: len(rpc.routing.queue("ops")["tickets"]) == 2)
    assert assignee(db, urgent["data"]["ticket_id"]) == "ops-1"
    assert assignee(db, normal_soon["data"]["ticket_id"]) == "ops-1"

    # Reassignment moves a ticket to another agent with room; the first agent's slot frees.
    assert rpc.routing.upsert_agent(agent("ops-2", ["ops"], capacity=1))["ok"]
    eventually(lambda: len(rpc.routing.queue("ops")["tickets"]) == 1)
    publish(ev.new_event(ev.SLA_WARNING, {
        "ticket_id": urgent["data"]["ticket_id"], "number": 13, "target": "resolution",
        "due_at": now, "policy_id": "p", "actions": ["reassign"]}))
    # ops-2 is full (1/1): the reassignment finds nobody and the ticket stays put.
    eventually(lambda: db("routing").processed_events.count_documents(
        {"_id": {"$regex": "^escalate:warning"}}) == 1)
    assert assignee(db, urgent["data"]["ticket_id"]) == "ops-1"
    loads = {a["id"]: a["load"] for a in rpc.routing.list_agents("ops")["agents"]}
    assert loads == {"ops-1": 2, "ops-2": 1}
    # With room at ops-2 (it also drains the last queued ticket) the ticket moves there.
    assert rpc.routing.upsert_agent(agent("ops-2", ["ops"], capacity=3))["ok"]
    eventually(lambda: not rpc.routing.queue("ops")["tickets"])
    publish(ev.new_event(ev.SLA_WARNING, {
        "ticket_id": urgent["data"]["ticket_id"], "number": 13, "target": "resolution",
        "due_at": now, "policy_id": "p", "actions": ["reassign"]}))
    assert eventually(lambda: assignee(db, urgent["data"]["ticket_id"]) == "ops-2")
    loads = {a["id"]: a["load"] for a in rpc.routing.list_agents("ops")["agents"]}
    assert loads == {"ops-1": 1, "ops-2": 3}


def test_the_newest_deadline_orders_the_queue_whichever_arrives_first(rpc, db, publish, config):
    """Under load SLA's deadline often overtakes the ticket's creation at routing."""
    assert rpc.routing.upsert_department({"id": "dues", "name": "Dues"})["ok"]
    created = ticket_created(40, "dues", "deadline first")
    ticket_id, now = created["data"]["ticket_id"], datetime.now(timezone.utc)

    def deadlines(hours, version):
        return ev.new_event(ev.SLA_DEADLINES_SET, {
            "ticket_id": ticket_id, "number": 40, "policy_id": "p", "version": version,
            "first_response_due": now + timedelta(hours=hours),
            "resolution_due": now + timedelta(hours=24)})

    def queued_due():
        entry = db("routing").queue.find_one({"_id": ticket_id}) or {}
        return entry.get("sla_version"), entry.get("sla_due")

    publish(deadlines(2, version=1))
    eventually(lambda: (db("routing").tickets.find_one({"_id": ticket_id}) or {})
               .get("sla_version") == 1)
    publish(created)
    eventually(lambda: db("routing").queue.find_one({"_id": ticket_id}))
    version, due = queued_due()
    assert version == 1 and abs(due - (now + timedelta(hours=2))) < timedelta(seconds=1)
    publish(deadlines(1, version=3))
    eventually(lambda: queued_due()[0] == 3)
    publish(deadlines(5, version=2))  # older, delivered late
    publish(deadlines(1, version=3))  # a redelivery
    eventually(lambda: queues_drained(config["_vhost"], "routing"))
    assert queued_due()[0] == 3
    assert db("routing").tickets.find_one({"_id": ticket_id})["sla_version"] == 3


def test_similar_tickets_become_an_incident(rpc, db, publish, tap):
    assert rpc.routing.upsert_department({"id": "net", "name": "Network",
                                          "incident_threshold": 3,
                                          "incident_window_minutes": 10})["ok"]
    texts = ["VPN не подключается с утра", "vpn НЕ подключается", "Не подключается VPN с утра!",
             "Принтер печатает пустые листы"]
    events = [ticket_created(20 + i, "net", text) for i, text in enumerate(texts)]
    for event in events:
        publish(event)
    declared = eventually(lambda: tap.of_type(ev.INCIDENT_DECLARED))
    assert len(declared) == 1
    incident = declared[0]["data"]
    assert sorted(incident["numbers"]) == [20, 21, 22] and incident["priority"] == "high"
    eventually(lambda: db("routing").tickets.count_documents({"_id": events[3]["data"]["ticket_id"]}))
    linked = db("routing").tickets.find({"incident_id": incident["incident_id"]})
    assert sorted(t["number"] for t in linked) == [20, 21, 22]
    raised = {e["data"]["number"] for e in tap.of_type(ev.PRIORITY_CHANGED)
              if e["data"]["reason"].startswith("incident")}
    assert raised == {20, 21, 22}
    assert any(a["kind"] == "incident" for a in rpc.routing.list_alerts()["alerts"])


def test_a_department_with_detection_off_never_declares_an_incident(rpc, db, publish, tap,
                                                                    config, caplog):
    caplog.set_level(logging.WARNING, logger="services.common.nameko_support")
    assert rpc.routing.upsert_department({"id": "flood", "name": "Flood",
                                          "incident_threshold": 2,
                                          "incident_detection": False})["ok"]
    events = [ticket_created(40 + i, "flood", "Invoice download fails since the update")
              for i in range(3)]
    for event in events:
        publish(event)
    ids = [e["data"]["ticket_id"] for e in events]
    eventually(lambda: db("routing").tickets.count_documents({"_id": {"$in": ids}}) == 3)
    eventually(lambda: queues_drained(config["_vhost"], "routing"))  # handlers all done
    assert db("routing").tickets.count_documents(
        {"_id": {"$in": ids}, "incident_id": {"$ne": None}}) == 0
    assert not [e for e in tap.of_type(ev.INCIDENT_DECLARED)
                if e["data"]["department"] == "flood"]
    # Nor keeps a feed of alike tickets, which serves detection alone.
    assert db("routing").alike_feed.count_documents({"_id": "flood"}) == 0
    # Handled, not failed and requeued (a requeue leaves every assertion above true).
    assert not [r for r in caplog.records if ev.TICKET_CREATED in r.getMessage()]


def test_a_creation_is_routed_once_even_after_a_department_change_overtook_it(
        rpc, db, publish, config, tap):
    """The creation's copy is its once-marker, and a ticket routing has no copy of is not
    read for an assignment: a redelivered creation changes nothing, and one whose ticket a
    department change had already placed (the change overtook it) is not assigned twice."""
    assert rpc.routing.upsert_department({"id": "moves", "name": "Moves"})["ok"]
    assert rpc.routing.upsert_agent(agent("mover", ["moves"], capacity=5))["ok"]

    first = ticket_created(60, "moves", "routed once")
    publish(first)
    publish(first)  # a redelivery
    first_id = first["data"]["ticket_id"]
    assert eventually(lambda: assignee(db, first_id)) == "mover"

    moved = ticket_created(61, "general", "moved before routed")
    moved_id = moved["data"]["ticket_id"]
    publish(department_changed(moved, "moves"))
    assert eventually(lambda: assignee(db, moved_id)) == "mover"
    publish(moved)
    eventually(lambda: (db("routing").tickets.find_one({"_id": moved_id}) or {})
               .get("number") == 61)
    eventually(lambda: queues_drained(config["_vhost"], "routing"))

    assigned = [e["data"]["ticket_id"] for e in tap.of_type(ev.TICKET_ASSIGNED)]
    assert sorted(assigned) == sorted([first_id, moved_id])
    loads = {a["id"]: a["load"] for a in rpc.routing.list_agents("moves")["agents"]}
    assert loads == {"mover": 2}
    assert db("routing").assignment_log.count_documents(
        {"ticket_id": {"$in": [first_id, moved_id]}, "action": "assigned"}) == 2


def test_deadlines_waiting_together_are_kept_by_version_in_one_write_per_collection(db):
    """A batch of SLA announcements: the newest of each ticket is kept on routing's copy
    (made if the deadline overtook the creation) and on its queue entry; a copy holding a
    newer deadline refuses the upsert (duplicate _id) and is left as it is."""
    from services.routing.repository import RoutingRepository

    store, routing_db = RoutingRepository(db("routing")), db("routing")
    now = datetime.now(timezone.utc)
    due = {h: now + timedelta(hours=h) for h in range(1, 6)}
    waiting, newer, early = (f"batch-{name}-{now.timestamp()}" for name in
                             ("waiting", "newer", "early"))
    routing_db.tickets.insert_many([{"_id": waiting, "number": 1, "sla_version": 1},
                                    {"_id": newer, "number": 2, "sla_version": 9,
                                     "sla_due": due[5]}])
    routing_db.queue.insert_many([{"_id": waiting, "sla_version": 1},
                                  {"_id": newer, "sla_version": 9, "sla_due": due[5]}])
    store.set_sla_dues([(waiting, due[2], 3), (newer, due[1], 4), (early, due[3], 1),
                        (waiting, due[4], 2)])  # an older one of the same batch, late
    assert routing_db.tickets.find_one({"_id": waiting})["sla_version"] == 3
    queued = routing_db.queue.find_one({"_id": waiting})
    assert (queued["sla_version"], abs(queued["sla_due"] - due[2]) < timedelta(seconds=1)) \
        == (3, True)
    assert routing_db.tickets.find_one({"_id": newer})["sla_version"] == 9
    assert routing_db.queue.find_one({"_id": newer})["sla_version"] == 9
    assert routing_db.tickets.find_one({"_id": early})["sla_version"] == 1
    assert routing_db.queue.find_one({"_id": early}) is None  # nothing waits before creation


def test_a_creation_seen_first_looks_for_no_queue_entry_to_remove(rpc, db, publish, config,
                                                                   monkeypatch):
    """A ticket nothing placed before its creation holds no queue entry: assigning it removes
    none (a delete per assigned ticket was one write each), while a ticket an overtaking
    department change queued still leaves the queue when it is assigned."""
    assert rpc.routing.upsert_department({"id": "direct", "name": "Direct"})["ok"]
    removed = []
    dequeue = RoutingRepository.dequeue

    def recorded(store, ticket_id, session):
        removed.append(ticket_id)
        return dequeue(store, ticket_id, session)

    monkeypatch.setattr(RoutingRepository, "dequeue", recorded)
    waited = ticket_created(71, "general", "queued before its creation")
    waited_id = waited["data"]["ticket_id"]
    publish(department_changed(waited, "direct"))  # nobody works there yet: it waits
    eventually(lambda: db("routing").queue.find_one({"_id": waited_id}))
    assert rpc.routing.upsert_agent(agent("direct-one", ["direct"], capacity=5,
                                          status="offline"))["ok"]
    fresh = ticket_created(70, "direct", "straight to an agent")
    assert rpc.routing.set_availability("direct-one", {"status": "online"})["ok"]
    publish(fresh)
    publish(waited)
    assert eventually(lambda: assignee(db, fresh["data"]["ticket_id"])) == "direct-one"
    assert eventually(lambda: assignee(db, waited_id)) == "direct-one"
    eventually(lambda: queues_drained(config["_vhost"], "routing"))
    assert fresh["data"]["ticket_id"] not in removed
    assert db("routing").queue.find_one({"_id": waited_id}) is None
