"""Ticket operations on the real broker and Mongo wire server (issue 14): merge moves the
thread in one transaction, closes the duplicate (its clock stops, its agent's slot is freed)
and mails the requester once; links are symmetrical; a department change re-routes (an agent
of the new department) and re-clocks (the new department's SLA policy); an @mention in an
internal note and following a ticket mail the colleagues; department-scoped agents get 404."""
import pytest

from services.common import events as ev
from services.intake.service import IntakeService
from services.routing.service import RoutingService
from services.sla.service import SlaService
from tests.support import EventTap, eventually, mongo_commands_sent, queues_drained, running

ANNA = {"id": "anna", "name": "Anna Billing", "email": "anna@desk.test",
        "departments": ["billing"], "languages": ["en"], "capacity": 10}
TOM = {"id": "tom", "name": "Tom Tech", "email": "tom@desk.test",
       "departments": ["technical"], "languages": ["ru", "en"], "capacity": 10}
SUPERVISOR = {"id": "sup", "role": "supervisor", "name": "Sam"}
ANNA_ACTOR = {"id": "anna", "role": "agent", "name": "Anna Billing"}
SCOPED_TOM = {"id": "tom", "role": "agent", "name": "Tom Tech", "departments": ["technical"]}
POLICIES = [{"id": "billing-normal", "name": "Billing", "priority": "normal",
             "department": "billing", "targets": {"first_response": 60, "resolution": 600}},
            {"id": "technical-normal", "name": "Technical", "priority": "normal",
             "department": "technical", "targets": {"first_response": 15, "resolution": 120}}]


@pytest.fixture(scope="module", autouse=True)
def services(config, rpc, sink):
    cfg = dict(config, SMTP_RELAY_HOST="127.0.0.1", SMTP_RELAY_PORT=sink.port,
               MAIL_FROM="support@desk.test", PORTAL_URL="http://portal.test")
    with running(cfg, IntakeService, RoutingService, SlaService):
        for dept in ("billing", "technical", "legal"):  # nobody works in legal
            assert rpc.routing.upsert_department({"id": dept, "name": dept.title()})["ok"]
        for agent in (ANNA, TOM):
            assert rpc.routing.upsert_agent(agent)["ok"]
        for policy in POLICIES:
            assert rpc.sla.upsert_policy(policy)["ok"]
        yield


def file(rpc, subject, requester="cust-1", email="carl@example.com", department="billing",
         language="en"):
    filed = rpc.intake.create_ticket({"ticket": {
        "subject": subject, "description": f"About {subject}", "department": department,
        "language": language, "requester_email": email, "requester_name": "Carl"},
        "requester": {"id": requester, "role": "customer", "name": "Carl"}, "channel": "api",
        "idempotency_key": None})
    assert filed["ok"], filed
    return filed["ticket"]


def settled(rpc, number, actor=SUPERVISOR):
    """Routing assigned it and the SLA clock runs (both recorded by intake)."""
    return eventually(lambda: (lambda t: t if t["assignee_id"] and t["sla"] else None)(
        rpc.intake.get_ticket(number, actor)["ticket"]))


def active_agent(db, ticket_id):
    found = db("routing").assignments.find_one({"_id": ticket_id, "active": True})
    return found and found["agent_id"]


def test_merge_moves_the_thread_closes_the_duplicate_and_tells_the_requester(
        config, rpc, db, sink):
    tap = EventTap(config, ev.TICKET_MERGED, ev.STATUS_CHANGED)
    survivor = file(rpc, "Invoice wrong")
    duplicate = file(rpc, "Invoice wrong again")
    a, b = survivor["number"], duplicate["number"]
    assert rpc.intake.add_message(b, {"body": "Here is the invoice", "public": True},
                                  {"id": "cust-1", "role": "customer", "name": "Carl"})["ok"]
    assert rpc.intake.add_message(a, {"body": "We are looking", "public": True},
                                  ANNA_ACTOR)["ok"]
    settled(rpc, b)
    assert active_agent(db, duplicate["id"]) == "anna"

    # A department-scoped agent of another department cannot merge into or from it: 404.
    assert rpc.intake.merge_ticket(b, a, SCOPED_TOM)["status"] == 404
    assert rpc.intake.merge_ticket(b, b, SUPERVISOR)["status"] == 409
    other = file(rpc, "Someone else's", requester="cust-2", email="dora@example.com")
    refused = rpc.intake.merge_ticket(other["number"], a, SUPERVISOR)
    assert refused["status"] == 409 and "link them instead" in refused["errors"]["into"][0]
    settled(rpc, other["number"])
    load_before = db("routing").agents.find_one({"_id": "anna"})["load"]

    merged = rpc.intake.merge_ticket(b, a, ANNA_ACTOR)
    assert merged["ok"] and merged["merged"] is True
    thread = merged["ticket"]["messages"]
    assert [m["body"] for m in thread] == [
        "Invoice wrong again\n\nAbout Invoice wrong again", "Here is the invoice",
        "We are looking"]
    assert [m.get("merged_from") for m in thread] == [b, b, None]
    assert merged["ticket"]["merged_from"] == [b]
    old = rpc.intake.get_ticket(b, {"id": "cust-1", "role": "customer"})["ticket"]
    assert (old["status"], old["merged_into"]) == ("closed", a)  # the customer sees where

    again = rpc.intake.merge_ticket(b, a, ANNA_ACTOR)  # a retry changes nothing
    assert again["ok"] and again["merged"] is False
    assert rpc.intake.get_ticket(a, SUPERVISOR)["ticket"]["messages"] == thread
    assert rpc.intake.merge_ticket(other["number"], b, SUPERVISOR)["status"] == 409
    assert rpc.intake.change_status(b, {"status": "open"}, SUPERVISOR)["status"] == 409

    # Events: the survivor's combined state; the duplicate closed like any close.
    announced = eventually(lambda: tap.of_type(ev.TICKET_MERGED))
    assert len(announced) == 1
    data = announced[0]["data"]
    assert (data["number"], data["merged_number"]) == (a, b)
    assert data["ticket"]["conversation"] == [
        "Invoice wrong again\n\nAbout Invoice wrong again", "Here is the invoice",
        "We are looking"]
    assert data["merged_ticket"]["status"] == "closed"
    assert eventually(lambda: [e for e in tap.of_type(ev.STATUS_CHANGED)
                               if e["data"]["number"] == b
                               and e["data"]["new_status"] == "closed"])
    # Routing freed the duplicate's slot; the SLA clock of the duplicate stopped.
    eventually(lambda: active_agent(db, duplicate["id"]) is None)
    assert db("routing").agents.find_one({"_id": "anna"})["load"] == load_before - 1
    eventually(lambda: [i for i in db("sla").clocks.find_one({"_id": duplicate["id"]})[
        "inputs"] if i["kind"] == "status" and i["status"] == "closed"])
    # The history says who merged what.
    history = rpc.intake.get_history(a, SUPERVISOR)["history"]
    assert [(h["field"], h["new"], h["actor_name"]) for h in history
            if h["field"] == "merged_from"] == [("merged_from", [b], "Anna Billing")]

    # One mail to the requester about the merge, however often it is delivered.
    eventually(lambda: queues_drained(config["_vhost"], "intake"))
    mails = eventually(lambda: [m for m in sink.about(b) if "Merged into" in m["Subject"]])
    assert len(mails) == 1 and mails[0]["To"] == "carl@example.com"
    assert f"merged into request #{a}" in mails[0].get_content()
    tap.close()


def test_links_are_symmetrical_and_removable(rpc):
    one, two = file(rpc, "Printer A"), file(rpc, "Printer B", requester="cust-3")
    linked = rpc.intake.link_tickets(one["number"], two["number"], True, ANNA_ACTOR)
    assert linked["ok"] and linked["ticket"]["links"] == [two["number"]]
    assert rpc.intake.get_ticket(two["number"], ANNA_ACTOR)["ticket"]["links"] == [
        one["number"]]
    assert rpc.intake.link_tickets(one["number"], two["number"], True, ANNA_ACTOR)[
        "changed"] is False
    assert rpc.intake.link_tickets(one["number"], two["number"], True, SCOPED_TOM)[
        "status"] == 404
    # customers never see links
    assert rpc.intake.get_ticket(one["number"], {"id": "cust-1", "role": "customer"})[
        "ticket"]["links"] == []
    assert rpc.intake.link_tickets(two["number"], one["number"], False, ANNA_ACTOR)["ok"]
    for number in (one["number"], two["number"]):
        assert rpc.intake.get_ticket(number, ANNA_ACTOR)["ticket"]["links"] == []


def test_a_department_change_reroutes_and_reclocks(config, rpc, db):
    tap = EventTap(config, ev.TICKET_ASSIGNED, ev.SLA_DEADLINES_SET)
    ticket = file(rpc, "Actually a technical problem")
    number = ticket["number"]
    before = settled(rpc, number)
    assert before["assignee_id"] == "anna" and before["sla"]["policy_id"] == "billing-normal"
    load_before = db("routing").agents.find_one({"_id": "anna"})["load"]

    assert rpc.intake.update_ticket(number, {"department": "technical"}, ANNA_ACTOR)["ok"]
    after = eventually(lambda: (lambda t: t if t["assignee_id"] == "tom"
                                and t["sla"]["policy_id"] == "technical-normal" else None)(
        rpc.intake.get_ticket(number, SUPERVISOR)["ticket"]))
    assert after["department"] == "technical"
    assert active_agent(db, ticket["id"]) == "tom"
    assert db("routing").agents.find_one({"_id": "anna"})["load"] == load_before - 1
    # 15 minutes to a first response under the technical policy, from the ticket's arrival
    assert after["sla"]["first_response_due"] < before["sla"]["first_response_due"]
    assert [e["data"]["agent_id"] for e in tap.of_type(ev.TICKET_ASSIGNED)
            if e["data"]["number"] == number] == ["anna", "tom"]
    # now Tom's (department-scoped) and no longer Anna's, if she were scoped
    assert rpc.intake.get_ticket(number, SCOPED_TOM)["ok"]

    # Into a department where nobody works: it waits in that queue, held by nobody.
    assert rpc.intake.update_ticket(number, {"department": "legal"}, SUPERVISOR)["ok"]
    eventually(lambda: rpc.intake.get_ticket(number, SUPERVISOR)["ticket"][
        "assignee_id"] is None)
    assert active_agent(db, ticket["id"]) is None
    assert db("routing").queue.find_one({"_id": ticket["id"]})["department"] == "legal"
    tap.close()


def test_mentions_and_followers_are_mailed(config, rpc, sink):
    ticket = file(rpc, "Refund question")
    number = ticket["number"]
    tom = {"id": "tom", "name": "Tom Tech", "email": "tom@desk.test", "language": "ru"}
    follower = {"id": "sup", "name": "Sam", "email": "sam@desk.test", "language": "en"}
    assert rpc.intake.follow_ticket(number, follower, True, ANNA_ACTOR)["status"] == 403
    followed = rpc.intake.follow_ticket(number, follower, True, SUPERVISOR)
    assert followed["ok"] and followed["ticket"]["agent_followers"] == [
        {"id": "sup", "name": "Sam"}]
    refused = rpc.intake.add_message(number, {"body": "@tom public?", "public": True},
                                     ANNA_ACTOR, [], [tom])
    assert refused["status"] == 400
    noted = rpc.intake.add_message(number, {"body": "@tom can you check the refund?",
                                            "public": False}, ANNA_ACTOR, [], [tom])
    assert noted["ok"] and noted["ticket"]["messages"][-1]["mentions"] == ["tom"]
    mention = eventually(lambda: [m for m in sink.about(number) if m["To"] == "tom@desk.test"])
    assert len(mention) == 1
    assert mention[0]["Subject"] == f"[#{number}] Anna Billing упомянул(а) вас: Refund question"
    assert "can you check the refund?" in mention[0].get_content()
    note = eventually(lambda: [m for m in sink.about(number) if m["To"] == "sam@desk.test"])
    assert note[0]["Subject"] == f"[#{number}] New message from Anna Billing: Refund question"
    # the internal note never reaches the customer
    assert not [m for m in sink.about(number) if m["To"] == "carl@example.com"
                and "refund?" in m.get_content()]
    eventually(lambda: queues_drained(config["_vhost"], "intake"))
    assert len([m for m in sink.about(number) if m["To"] == "tom@desk.test"]) == 1


def test_notices_sent_together_each_name_the_request_that_filed_their_ticket(rpc, sink):
    """Tickets filed at once are acknowledged in one batch of mails, whose worker runs under
    the first filing's correlation id; each mail still carries its own filing's."""
    emails = [f"batch-{n}@example.com" for n in range(3)]
    pending = [rpc.intake.create_ticket.call_async({"ticket": {
        "subject": f"Batch {n}", "description": "Filed together", "department": "billing",
        "language": "en", "requester_email": email, "requester_name": "Carl"},
        "requester": {"id": f"batch-{n}", "role": "customer", "name": "Carl"},
        "channel": "api", "idempotency_key": None}) for n, email in enumerate(emails)]
    numbers = [reply.result()["ticket"]["number"] for reply in pending]
    notices = eventually(lambda: [m for number in numbers for m in sink.about(number)
                                  if "received" in m["Subject"].lower()]
                         if all(sink.about(number) for number in numbers) else None)
    assert len(notices) == 3
    ids = {m["X-Request-ID"] for m in notices}
    assert len(ids) == 3 and None not in ids


def _filing(subject: str, requester: str, key: str | None, tags=(), correlation_id=None):
    return {"command": {"ticket": {
        "subject": subject, "description": "Filed with others", "department": "billing",
        "language": "en", "requester_email": f"{requester}@example.com", "tags": list(tags)},
        "requester": {"id": requester, "role": "customer", "name": "Carl"}, "channel": "api",
        "idempotency_key": key}, "correlation_id": correlation_id}


def test_filings_sent_together_are_answered_each_and_written_in_one_insert(rpc, db, sink):
    """create_tickets (the portal's filings under way together): each filing answered as
    create_ticket would, in order; the untagged new ones written by one insert; a repeat of
    an earlier filing, or of one in the same request, answered with that filing's ticket; a
    tagged one written alone (its tag counts), a malformed one refused alone."""
    earlier = rpc.intake.create_ticket(_filing("Earlier", "req-0", "key-0")["command"])
    inserts = mongo_commands_sent(db("intake").name, "insert", "tickets")
    answers = rpc.intake.create_tickets([
        _filing("First", "req-1", "key-1", correlation_id="filing-1"),
        _filing("Tagged", "req-2", "key-2", tags=["vip"], correlation_id="filing-2"),
        dict(_filing("", "req-3", "key-3"), correlation_id="filing-3"),
        _filing("Earlier", "req-0", "key-0", correlation_id="filing-4"),
        _filing("Second", "req-5", None, correlation_id="filing-5"),
        _filing("First", "req-1", "key-1", correlation_id="filing-6"),
    ])
    first, tagged, malformed, repeat, second, twin = answers
    assert first["ok"] and first["created"] and first["ticket"]["subject"] == "First"
    assert tagged["created"] and tagged["ticket"]["tags"] == ["vip"]
    assert malformed["ok"] is False and malformed["status"] == 400
    assert list(malformed["errors"]) == ["ticket"] and "subject" in malformed["errors"]["ticket"]
    assert repeat["created"] is False and \
        repeat["ticket"]["number"] == earlier["ticket"]["number"]
    assert second["created"] and second["ticket"]["number"] not in (
        first["ticket"]["number"], tagged["ticket"]["number"])
    assert twin["created"] is False and twin["ticket"]["number"] == first["ticket"]["number"]
    # The untagged ones in one insert (the repeats refused by it); the tagged one alone.
    assert mongo_commands_sent(db("intake").name, "insert", "tickets") - inserts == 2
    # Each new ticket's received notice names the request that filed it.
    for answer, request_id in ((first, "filing-1"), (tagged, "filing-2"),
                               (second, "filing-5")):
        notice = eventually(lambda n=answer["ticket"]["number"]: [
            m for m in sink.about(n) if "received" in m["Subject"].lower()])
        assert [m["X-Request-ID"] for m in notice] == [request_id]
