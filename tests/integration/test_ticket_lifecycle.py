"""Intake over the real RabbitMQ and Mongo wire server: staff edits with their audit history,
routing outcomes recorded, tags, canned responses, CSAT once, attachments in GridFS,
reopen window and follow-ups.  Bad input gets a 4xx and writes nothing."""
import base64
import uuid
from datetime import timedelta

import pytest
from pymongo.errors import DuplicateKeyError
from nameko.standalone.events import event_dispatcher

from services.common import events as ev
from services.common.storage import service_database
from services.intake.repository import TicketRepository
from services.intake import service as intake_service
from services.intake.service import IntakeService
from tests.support import EventTap, eventually, frozen_clock, running, settled

CUSTOMER = {"id": "cust-1", "role": "customer", "name": "Ann Customer"}
STRANGER = {"id": "cust-2", "role": "customer", "name": "Other"}
AGENT = {"id": "agent-1", "role": "agent", "name": "Bob Agent"}
SUPERVISOR = {"id": "sup-1", "role": "supervisor", "name": "Sue"}
PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 100


@pytest.fixture(scope="module")
def runner(config):
    with running(config, IntakeService) as runner:
        yield runner


@pytest.fixture
def clock(runner):
    """Intake's clock, frozen for one test and restored afterwards."""
    with frozen_clock(runner, "intake") as frozen:
        yield frozen


def file(rpc, subject="Printer jams", tags=(), key=None, requester=CUSTOMER):
    result = rpc.intake.create_ticket({
        "ticket": {"subject": subject, "description": "It jams on page 2",
                   "department": "technical", "tags": list(tags),
                   "requester_name": requester["name"]},
        "requester": requester, "channel": "api", "idempotency_key": key})
    assert result["ok"], result
    return result["ticket"]["number"]


def snapshot(db, number):
    intake = db("intake")
    settled(intake)
    # What a new ticket carried is cleared by the sweep a few seconds later: not compared.
    ticket = intake.tickets.find_one({"number": number}, projection={"settle": 0})
    return (ticket, intake.audit.count_documents({"ticket_id": ticket["_id"]}),
            intake["attachments.files"].count_documents({}), list(intake.tags.find()))


def test_staff_edit_is_audited_in_its_own_collection_and_announced(runner, rpc, db, config):
    number = file(rpc, tags=["Printer"])
    tap = EventTap(config, ev.TICKET_UPDATED)
    try:
        result = rpc.intake.update_ticket(number, {"priority": "high", "tags": ["printer", "HW"],
                                                   "category": "hardware"}, AGENT)
        assert result["ok"], result
        assert result["ticket"]["tags"] == ["printer", "hw"]
        [event] = eventually(lambda: tap.of_type(ev.TICKET_UPDATED))
        assert event["data"]["changes"]["priority"] == {"old": "normal", "new": "high"}
    finally:
        tap.close()
    history = rpc.intake.get_history(number, SUPERVISOR)["history"]
    assert [(h["field"], h["old"], h["new"], h["actor_id"]) for h in history] == [
        ("category", None, "hardware", "agent-1"), ("priority", "normal", "high", "agent-1"),
        ("tags", ["printer"], ["printer", "hw"], "agent-1")]
    assert rpc.intake.get_history(number, CUSTOMER)["status"] == 403
    assert db("intake").tags.find_one({"_id": "hw"})["count"] == 1


@pytest.mark.parametrize("changes, actor, status", [
    ({"priority": "high"}, CUSTOMER, 403),
    ({"priority": "whenever"}, AGENT, 400),
    ({"tags": ["ok", "<script>"]}, AGENT, 400),
    ({"tags": [f"t{i}" for i in range(21)]}, AGENT, 400),
    ({"status": "closed"}, AGENT, 400),
    ({}, AGENT, 400),
    ({"priority": "normal"}, AGENT, 409),
])
def test_refused_edits_write_nothing(rpc, db, changes, actor, status):
    number = file(rpc, subject="Refused edit", tags=["keep"])
    before = snapshot(db, number)
    result = rpc.intake.update_ticket(number, changes, actor)
    assert (result["ok"], result["status"]) == (False, status)
    assert snapshot(db, number) == before


def test_routing_outcomes_are_recorded_with_history(runner, rpc, config):
    number = file(rpc, subject="Classify me")
    ticket = rpc.intake.get_ticket(number, AGENT)["ticket"]
    dispatch = event_dispatcher({"AMQP_URI": config["AMQP_URI"], "serializer": "json"})
    dispatch("routing", ev.TICKET_CLASSIFIED, ev.new_event(ev.TICKET_CLASSIFIED, {
        "ticket_id": ticket["id"], "number": number, "department": "billing",
        "category": "refunds", "priority": "high", "tags": ["Refund"], "rule_ids": ["r1"]}))
    eventually(lambda: rpc.intake.get_ticket(number, AGENT)["ticket"]["category"] == "refunds")
    dispatch("routing", ev.PRIORITY_CHANGED, ev.new_event(ev.PRIORITY_CHANGED, {
        "ticket_id": ticket["id"], "number": number, "old_priority": "high",
        "new_priority": "urgent", "reason": "incident"}))
    eventually(lambda: rpc.intake.get_ticket(number, AGENT)["ticket"]["priority"] == "urgent")
    history = rpc.intake.get_history(number, AGENT)["history"]
    assert ("priority", "high", "urgent", "system") in [
        (h["field"], h["old"], h["new"], h["actor_role"]) for h in history]
    assert rpc.intake.get_ticket(number, AGENT)["ticket"]["tags"] == ["refund"]


def test_tags_autocomplete_and_merge(rpc, db):
    a = file(rpc, subject="Wifi 1", tags=["WiFi", "laptop"])
    b = file(rpc, subject="Wifi 2", tags=["wi-fi", "laptop"])
    suggested = rpc.intake.suggest_tags({"prefix": "LAP"})["tags"]
    assert suggested[0]["tag"] == "laptop" and suggested[0]["count"] >= 2
    assert rpc.intake.rename_tag({"old": "wifi", "new": "wi-fi"}, AGENT)["status"] == 403
    merged = rpc.intake.rename_tag({"old": "WIFI", "new": "Wi-Fi"}, SUPERVISOR)
    assert merged["ok"] and a in merged["tickets"]
    for number in (a, b):
        assert rpc.intake.get_ticket(number, AGENT)["ticket"]["tags"] == ["wi-fi", "laptop"]
    assert db("intake").tags.find_one({"_id": "wifi"}) is None
    assert db("intake").tags.find_one({"_id": "wi-fi"})["count"] == 2
    # A regex in the prefix is text, not a pattern.
    assert rpc.intake.suggest_tags({"prefix": "l.p"})["tags"] == []
    assert rpc.intake.suggest_tags({"prefix": ".*"})["status"] == 400


def test_canned_responses_shared_personal_and_rendered(rpc, db):
    number = file(rpc, subject="Refund please")
    mine = rpc.intake.save_canned({"title": "Hello", "body": "Здравствуйте, ${customer_name}! "
                                   "Заявка $ticket_number. -- $agent_name", "language": "ru"},
                                  AGENT)["canned"]
    assert rpc.intake.save_canned({"title": "Shared", "body": "x", "scope": "shared"},
                                  AGENT)["status"] == 403
    before = db("intake").canned.count_documents({})
    bad = rpc.intake.save_canned({"title": "Bad", "body": "Hi ${password}"}, AGENT)
    assert bad["status"] == 400 and "password" in bad["errors"]["body"][0]
    assert db("intake").canned.count_documents({}) == before
    text = rpc.intake.render_canned(mine["id"], number, AGENT)["text"]
    assert text == f"Здравствуйте, Ann Customer! Заявка #{number}. -- Bob Agent"
    other_agent = dict(AGENT, id="agent-2")
    assert rpc.intake.render_canned(mine["id"], number, other_agent)["status"] == 404
    assert [c["title"] for c in rpc.intake.list_canned({"language": "ru"}, AGENT)["canned"]] \
        == ["Hello"]


def solve(rpc, number):
    assert rpc.intake.add_message(number, {"body": "Replaced the roller."}, AGENT)["ok"]
    assert rpc.intake.change_status(number, {"status": "solved"}, AGENT)["ok"]


def test_csat_is_given_once_by_the_requester(rpc, db, config):
    tap = EventTap(config, ev.TICKET_RATED)
    number = file(rpc, subject="Rate me")
    assert rpc.intake.submit_csat(number, {"score": 5}, CUSTOMER)["status"] == 409  # not solved
    solve(rpc, number)
    assert rpc.intake.submit_csat(number, {"score": 5}, STRANGER)["status"] == 404
    before = snapshot(db, number)
    for wrong in ({"score": 0}, {"score": 6}, {"score": "5"}, {"score": 4.5},
                  {"comment": "no score"}, {"rating": "good"}):
        refused = rpc.intake.submit_csat(number, wrong, CUSTOMER)
        assert refused["status"] == 400 and "score" in refused["errors"], (wrong, refused)
    assert snapshot(db, number) == before  # nothing stored for bad input
    rated = rpc.intake.submit_csat(number, {"score": 4, "comment": "Quick"}, CUSTOMER)
    assert rated["ok"] and rated["ticket"]["csat"]["score"] == 4
    assert rated["ticket"]["csat"]["satisfied"] is True
    before = snapshot(db, number)
    again = rpc.intake.submit_csat(number, {"score": 1}, CUSTOMER)
    assert again["status"] == 409 and "already" in again["errors"]["score"][0]
    assert snapshot(db, number) == before
    try:
        [rating] = eventually(lambda: tap.of_type(ev.TICKET_RATED))
        assert (rating["data"]["number"], rating["data"]["score"], rating["data"]["satisfied"],
                rating["data"]["comment"]) == (number, 4, True, "Quick")
    finally:
        tap.close()


def test_attachments_live_in_gridfs_and_follow_visibility(rpc, db):
    number = file(rpc, subject="Screenshot")
    up = rpc.intake.add_attachment(number, {"filename": "../../shot.png",
                                            "content_type": "image/png",
                                            "data": base64.b64encode(PNG).decode()}, CUSTOMER)
    assert up["ok"], up
    assert up["attachment"]["filename"] == "shot.png"
    stored = db("intake")["attachments.files"].find_one({"_id": up["attachment"]["id"]})
    assert stored["length"] == len(PNG)
    got = rpc.intake.get_attachment(number, up["attachment"]["id"], CUSTOMER)
    assert base64.b64decode(got["data"]) == PNG
    assert rpc.intake.get_attachment(number, up["attachment"]["id"], STRANGER)["status"] == 404

    note = rpc.intake.add_attachment(number, {"filename": "internal.txt", "public": False,
                                              "content_type": "text/plain",
                                              "data": base64.b64encode(b"secret").decode()}, AGENT)
    assert note["ok"]
    seen = rpc.intake.get_ticket(number, CUSTOMER)["ticket"]["attachments"]
    assert [a["filename"] for a in seen] == ["shot.png"]
    assert rpc.intake.get_attachment(number, note["attachment"]["id"], CUSTOMER)["status"] == 404


@pytest.mark.parametrize("upload, field", [
    ({"filename": "run.exe", "content_type": "application/octet-stream",
      "data": base64.b64encode(b"MZ").decode()}, "filename"),
    ({"filename": "x.png", "content_type": "text/html",
      "data": base64.b64encode(b"<b>").decode()}, "content_type"),
    ({"filename": "big.png", "content_type": "image/png",
      "data": base64.b64encode(b"\0" * (5 * 1024 * 1024 + 1)).decode()}, "data"),
    ({"filename": "x.png", "content_type": "image/png", "data": "not base64!"}, "data"),
])
def test_bad_attachments_are_refused_and_store_nothing(rpc, db, upload, field):
    number = file(rpc, subject="Bad upload")
    before = snapshot(db, number)
    result = rpc.intake.add_attachment(number, upload, CUSTOMER)
    assert result["status"] == 400 and field in result["errors"]
    assert snapshot(db, number) == before


def test_reopen_within_window_then_follow_up(rpc, db, clock):
    number = file(rpc, subject="Reopen me")
    solve(rpc, number)
    assert rpc.intake.change_status(number, {"status": "closed"}, CUSTOMER)["ok"]
    clock.at += timedelta(days=3)
    assert rpc.intake.change_status(number, {"status": "open"}, CUSTOMER)["ok"]
    solve(rpc, number)
    assert rpc.intake.change_status(number, {"status": "closed"}, CUSTOMER)["ok"]
    assert rpc.intake.create_follow_up(number, {"body": "x"}, STRANGER)["status"] == 404

    clock.at += timedelta(days=15)
    late = rpc.intake.change_status(number, {"status": "open"}, CUSTOMER)
    assert late["status"] == 409 and "follow-up" in late["errors"]["status"][0]
    follow = rpc.intake.create_follow_up(number, {"body": "It jams again"}, CUSTOMER)
    assert follow["ok"], follow
    new = follow["ticket"]
    assert new["follow_up_of"] == number and new["description"] == "It jams again"
    assert rpc.intake.get_ticket(number, CUSTOMER)["ticket"]["follow_ups"] == [new["number"]]
    assert rpc.intake.create_follow_up(new["number"], {"body": "x"}, CUSTOMER)["status"] == 409


def create_with_key(rpc, requester, key, subject):
    return rpc.intake.create_ticket({
        "ticket": {"subject": subject, "description": f"{subject}: details only I know",
                   "department": "technical"},
        "requester": requester, "channel": "api", "idempotency_key": key})


def test_idempotency_keys_belong_to_their_requester(runner, rpc, db):
    key = f"retry-{uuid.uuid4().hex}"
    mine = create_with_key(rpc, CUSTOMER, key, "Mine")
    theirs = create_with_key(rpc, STRANGER, key, "Theirs")
    assert mine["created"] is True and theirs["created"] is True, (mine, theirs)
    assert mine["ticket"]["id"] != theirs["ticket"]["id"]
    assert (theirs["ticket"]["subject"], theirs["ticket"]["description"]) == (
        "Theirs", "Theirs: details only I know")
    assert theirs["ticket"]["requester_id"] == STRANGER["id"]

    # Each requester's retry finds their own ticket, and only theirs.
    for requester, first, subject in ((CUSTOMER, mine, "Mine"), (STRANGER, theirs, "Theirs")):
        retry = create_with_key(rpc, requester, key, subject)
        assert retry["created"] is False
        assert [retry["ticket"][f] for f in ("id", "number", "subject", "description")] == [
            first["ticket"][f] for f in ("id", "number", "subject", "description")]
    # The same key with a different request is a reused (or guessed) key: refused, and
    # neither a new ticket nor the first one comes back.
    before = db("intake").tickets.count_documents({})
    changed = create_with_key(rpc, CUSTOMER, key, "Changed on retry")
    assert changed["status"] == 422 and "idempotency_key" in changed["errors"], changed
    assert "ticket" not in changed
    assert db("intake").tickets.count_documents({}) == before
    assert rpc.intake.get_ticket(mine["ticket"]["number"], STRANGER)["status"] == 404
    assert rpc.intake.get_ticket(theirs["ticket"]["number"], CUSTOMER)["status"] == 404
    stored = db("intake").tickets.find({"idempotency_key": key})
    assert sorted(t["requester_id"] for t in stored) == ["cust-1", "cust-2"]


def test_the_old_global_idempotency_index_is_replaced(config):
    """A database made before keys were per requester still carries the global unique
    index; starting intake on it must drop it, or a second requester's key would fail."""
    database = service_database(config["MONGO_URI"], config["MONGO_DB"] + "legacy", "intake")
    try:
        database.tickets.create_index("idempotency_key", unique=True, sparse=True)
        database.tickets.insert_many([
            {"_id": "a", "number": 1, "requester_id": "cust-1", "idempotency_key": "k"},
            {"_id": "b", "number": 2, "requester_id": "cust-1"}])
        TicketRepository(database).ensure_indexes()
        TicketRepository(database).ensure_indexes()  # a restart: nothing left to drop
        assert "idempotency_key_1" not in database.tickets.index_information()
        database.tickets.insert_many([
            {"_id": "c", "number": 3, "requester_id": "cust-2", "idempotency_key": "k"},
            {"_id": "d", "number": 4, "requester_id": "cust-1"}])  # keyless ones never clash
        with pytest.raises(DuplicateKeyError):
            database.tickets.insert_one({"_id": "e", "number": 5, "requester_id": "cust-1",
                                         "idempotency_key": "k"})
    finally:
        database.client.drop_database(database.name)


def test_a_customer_cannot_put_their_own_ticket_on_pending(runner, rpc, db, config):
    """A move by the wrong role is refused with the moves that role may make, and leaves
    no trace: ticket, audit history, outbox and the event stream are as before."""
    number = file(rpc, subject="Waiting on whom?")
    assert rpc.intake.change_status(number, {"status": "open"}, AGENT)["ok"]
    intake = db("intake")
    ticket_id = intake.tickets.find_one({"number": number})["_id"]

    def state():
        return (intake.tickets.find_one({"_id": ticket_id}, projection={"settle": 0}),
                list(intake.audit.find({"ticket_id": ticket_id}).sort("_id", 1)),
                list(intake.outbox.find({"payload.data.ticket_id": ticket_id})))

    tap = EventTap(config, ev.STATUS_CHANGED)
    try:
        settled(intake)
        before = state()
        refused = rpc.intake.change_status(number, {"status": "pending"}, CUSTOMER)
        assert (refused["ok"], refused["status"]) == (False, 409)
        assert refused["errors"]["allowed"] == ["solved"]  # open -> solved only, for a customer
        assert "customer" in refused["errors"]["status"][0]
        assert state() == before
        # Intake publishes in commit order: once a later move's event is in, a status_changed
        # from the refused move would have been seen before it.
        assert rpc.intake.change_status(number, {"status": "pending"}, AGENT)["ok"]
        moves = eventually(lambda: [(e["data"]["old_status"], e["data"]["new_status"],
                                     e["data"]["actor_role"])
                                    for e in tap.of_type(ev.STATUS_CHANGED)
                                    if e["data"]["number"] == number])
        assert moves == [("open", "pending", "agent")]
    finally:
        tap.close()


def test_a_tag_on_many_tickets_is_renamed_in_batches_each_ticket_announced(
        runner, rpc, db, config, monkeypatch):
    monkeypatch.setattr(intake_service, "RENAME_BATCH", 2)  # 5 tickets: 3 transactions
    numbers = [file(rpc, subject=f"Batch {i}", tags=["batchy", "keep"]) for i in range(5)]
    tap = EventTap(config, ev.TICKET_UPDATED)
    try:
        renamed = rpc.intake.rename_tag({"old": "batchy", "new": "batched"}, SUPERVISOR)
        assert renamed["ok"] and renamed["tickets"] == numbers
        updated = eventually(lambda: len(got := [e for e in tap.of_type(ev.TICKET_UPDATED)
                                                 if e["data"]["number"] in numbers]) == 5 and got)
        assert sorted(e["data"]["number"] for e in updated) == numbers
    finally:
        tap.close()
    intake = db("intake")
    assert intake.tickets.count_documents({"tags": "batchy"}) == 0
    assert intake.tickets.count_documents({"tags": ["batched", "keep"]}) == 5
    assert intake.tags.find_one({"_id": "batchy"}) is None
    assert intake.tags.find_one({"_id": "batched"})["count"] == 5
    history = rpc.intake.get_history(numbers[0], SUPERVISOR)["history"]
    assert ("tags", ["batchy", "keep"], ["batched", "keep"], "sup-1") in [
        (h["field"], h["old"], h["new"], h["actor_id"]) for h in history]


def test_an_added_attachment_is_announced(runner, rpc, config):
    number = file(rpc, subject="Announce my file")
    tap = EventTap(config, ev.ATTACHMENT_ADDED)
    try:
        refused = rpc.intake.add_attachment(number, {"filename": "x.exe",
                                                     "content_type": "application/octet-stream",
                                                     "data": base64.b64encode(b"MZ").decode()},
                                            CUSTOMER)
        assert refused["status"] == 400
        up = rpc.intake.add_attachment(number, {"filename": "shot.png", "content_type": "image/png",
                                                "data": base64.b64encode(PNG).decode()}, CUSTOMER)
        note = rpc.intake.add_attachment(number, {"filename": "n.txt", "public": False,
                                                  "content_type": "text/plain",
                                                  "data": base64.b64encode(b"x").decode()}, AGENT)
        got = eventually(lambda: len(e := [x["data"] for x in tap.of_type(ev.ATTACHMENT_ADDED)
                                           if x["data"]["number"] == number]) == 2 and e)
        # The refused file was never announced: events come in commit order, these two only.
        assert [(e["attachment_id"], e["public"], e["author_role"], e["size"]) for e in got] == [
            (up["attachment"]["id"], True, "customer", len(PNG)),
            (note["attachment"]["id"], False, "agent", 1)]
        assert "filename" not in got[0]
    finally:
        tap.close()


def test_internal_notes_and_their_files_never_reach_the_customer(runner, rpc):
    number = file(rpc, subject="Notes stay inside")
    assert rpc.intake.add_message(number, {"body": "We are on it."}, AGENT)["ok"]
    assert rpc.intake.add_message(number, {"body": "NOTE-7f3: customer is on the old plan",
                                           "public": False}, AGENT)["ok"]
    secret = rpc.intake.add_attachment(number, {"filename": "NOTE-7f3-plan.txt", "public": False,
                                                "content_type": "text/plain",
                                                "data": base64.b64encode(b"owes 300").decode()},
                                       AGENT)
    assert secret["ok"], secret

    seen = rpc.intake.get_ticket(number, CUSTOMER)["ticket"]
    assert [m["body"] for m in seen["messages"]] == ["We are on it."]
    assert seen["attachments"] == []
    listed = rpc.intake.list_tickets({}, CUSTOMER)["tickets"]
    assert number in [t["number"] for t in listed]
    for customer_view in (seen, listed):
        assert "NOTE-7f3" not in repr(customer_view) and secret["attachment"]["id"] not in repr(
            customer_view)

    staff = rpc.intake.get_ticket(number, AGENT)["ticket"]
    assert [(m["body"], m["public"]) for m in staff["messages"]] == [
        ("We are on it.", True), ("NOTE-7f3: customer is on the old plan", False)]
    assert [(a["filename"], a["public"]) for a in staff["attachments"]] == [
        ("NOTE-7f3-plan.txt", False)]
