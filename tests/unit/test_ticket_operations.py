"""Merge and link rules (intake's domain) and the workspace's mention and activity rules
(portal's ticket_ops), without I/O."""
from datetime import datetime, timedelta, timezone

import pytest
from flask import Flask
from flask_babel import Babel

from services.intake import domain
from services.portal import ticket_ops

T0 = datetime(2030, 1, 15, 9, 0, tzinfo=timezone.utc)
AGENT = {"id": "a1", "role": "agent", "name": "Anna"}


def ticket(number, **extra):
    return {"_id": f"id-{number}", "number": number, "status": "open", "requester_id": "c1",
            "requester_name": "Carl", "subject": f"Subject {number}",
            "description": f"Description {number}", "created_at": T0 + timedelta(minutes=number),
            "messages": [], "attachments": [], **extra}


def refusal(call):
    with pytest.raises(domain.EditError) as caught:
        call()
    return caught.value.status, caught.value.errors


def test_merge_rules():
    a, b = ticket(1), ticket(2)
    assert domain.plan_merge(b, a, AGENT) is True
    assert refusal(lambda: domain.plan_merge(b, a, {"id": "c1", "role": "customer"}))[0] == 403
    assert refusal(lambda: domain.plan_merge(a, a, AGENT)) == (
        409, {"into": ["a ticket cannot be merged into itself"]})
    # again after it happened: nothing to do (idempotent), not an error
    assert domain.plan_merge(ticket(2, merged_into=1), a, AGENT) is False
    assert "already merged into #3" in refusal(
        lambda: domain.plan_merge(ticket(2, merged_into=3), a, AGENT))[1]["number"][0]
    assert "merge into that one" in refusal(
        lambda: domain.plan_merge(b, ticket(1, merged_into=5), AGENT))[1]["into"][0]
    assert refusal(lambda: domain.plan_merge(ticket(2, status="closed"), a, AGENT))[0] == 409
    assert refusal(lambda: domain.plan_merge(b, ticket(1, status="closed"), AGENT))[0] == 409
    assert "link them instead" in refusal(lambda: domain.plan_merge(
        ticket(2, requester_id="other"), a, AGENT))[1]["into"][0]
    # solved tickets may take part
    assert domain.plan_merge(ticket(2, status="solved"), ticket(1, status="pending"), AGENT)


def test_merged_thread_is_in_time_order_and_says_where_entries_came_from():
    a = ticket(1, messages=[{"id": "a1", "body": "first reply", "public": True,
                             "created_at": T0 + timedelta(minutes=10)},
                            {"id": "a2", "body": "later", "public": False,
                             "created_at": T0 + timedelta(minutes=30)}])
    b = ticket(2, messages=[{"id": "b1", "body": "in between", "public": True,
                             "created_at": T0 + timedelta(minutes=20)}],
               attachments=[{"id": "f1", "filename": "log.txt"}])
    thread = domain.merged_thread(b, a)
    assert [m["id"] for m in thread] == ["merged-id-2", "a1", "b1", "a2"]
    opening = thread[0]
    assert opening["body"] == "Subject 2\n\nDescription 2" and opening["merged_from"] == 2
    assert opening["author_role"] == "customer" and opening["public"] is True
    assert "merged_from" not in thread[1] and thread[2]["merged_from"] == 2
    survivor, push, merged = domain.merge_changes(b, a, T0 + timedelta(hours=1))
    assert push["messages"]["$sort"] == {"created_at": 1}
    assert [m["id"] for m in push["messages"]["$each"]] == ["merged-id-2", "b1"]
    assert push["attachments"] == {"$each": [{"id": "f1", "filename": "log.txt",
                                              "merged_from": 2}]}
    assert survivor == {"merged_from": [2], "updated_at": T0 + timedelta(hours=1)}
    assert merged == {"status": "closed", "closed_at": T0 + timedelta(hours=1),
                      "merged_into": 1, "updated_at": T0 + timedelta(hours=1)}
    # a second merge into the same survivor keeps the first one listed
    again, _, _ = domain.merge_changes(ticket(3), dict(a, merged_from=[2]), T0)
    assert again["merged_from"] == [2, 3]


def test_merge_fields_are_in_the_audit_history():
    rows = domain.audit_entries(ticket(2), domain.field_changes(
        ticket(2), {"merged_into": 1, "status": "closed", "links": [4]}), AGENT, T0)
    assert {r["field"] for r in rows} == {"merged_into", "status", "links"}


def test_link_rules():
    a, b = ticket(1), ticket(2, links=[1])
    assert domain.plan_link(a, b, AGENT, linked=True) is True
    assert domain.plan_link(ticket(1, links=[2]), b, AGENT, linked=True) is False  # already
    assert domain.plan_link(a, b, AGENT, linked=False) is False  # nothing to remove
    assert domain.plan_link(ticket(1, links=[2]), b, AGENT, linked=False) is True
    assert refusal(lambda: domain.plan_link(a, a, AGENT, True))[0] == 409
    assert refusal(lambda: domain.plan_link(a, b, {"id": "c", "role": "customer"}, True))[0] == 403
    assert domain.with_link([5, 2], 3, True) == [2, 3, 5]
    assert domain.with_link([5, 2], 5, False) == [2]


COLLEAGUES = [{"id": "anna", "name": "Anna Petrova", "email": "anna@desk.example",
               "languages": ["ru", "en"]},
              {"id": "annabel", "name": "Annabel Lee", "email": "annabel@desk.example",
               "languages": []},
              {"id": "nomail", "name": "No Mail", "email": ""}]


def test_mentions():
    found = ticket_ops.find_mentions("@anna please look", COLLEAGUES)
    assert found == [{"id": "anna", "name": "Anna Petrova", "email": "anna@desk.example",
                      "language": "ru"}]
    assert [c["id"] for c in ticket_ops.find_mentions("cc @Anna Petrova and @annabel",
                                                      COLLEAGUES)] == ["anna", "annabel"]
    assert [c["id"] for c in ticket_ops.find_mentions("@AnnabelLee?", COLLEAGUES)] == [
        "annabel"]
    assert ticket_ops.find_mentions("mail me@anna.example or @annab", COLLEAGUES) == []
    assert ticket_ops.find_mentions("@NoMail", COLLEAGUES) == []  # nowhere to tell them


def test_activity_log_from_the_audit_history():
    def row(field, old, new, minute, name="Anna"):
        return {"field": field, "old": old, "new": new, "actor_name": name,
                "actor_role": "agent", "at": f"2030-01-15T09:{minute:02d}:00+00:00"}

    history = [row("status", "open", "solved", 1), row("status", "solved", "open", 2),
               row("csat", None, {"score": 4}, 3, name=None), row("links", [], [7], 4),
               row("links", [7], [], 5), row("merged_from", [], [9], 6),
               row("department", "billing", "technical", 7), row("description", "a", "b", 8),
               row("agent_followers", [], [{"id": "anna", "name": "Anna"}], 9),
               row("assignee_id", None, "agent-tom", 10)]
    lines = ticket_ops.activity(history, {"agent-tom": "Tom Tech"})
    assert [(line["kind"], line["detail"]) for line in lines] == [
        ("assignee_id", "Tom Tech"), ("followed", "Anna"), ("department", "technical"), ("merged_from", "#9"),
        ("unlinked", "#7"), ("linked", "#7"), ("rated", "4"), ("reopened", "open"),
        ("solved", "solved")]
    assert (lines[6]["actor"], lines[6]["actor_role"]) == ("", "agent")
    assert lines[1]["at"].startswith("2030-01-15T09:09")


def test_typed_ticket_numbers():
    from services.portal.routes.agent_operations import number_field
    assert number_field(" #12 ") == 12 and number_field("12") == 12
    assert number_field("abc") == "abc" and number_field("¹") == "¹" and number_field(None) == ""


def test_refusals_are_translated():
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        shown = ticket_ops.refusal_messages({
            "into": ["tickets of different requesters cannot be merged; link them instead"],
            "number": ["this ticket was already merged into #12"], "allowed": ["x"],
            "other": ["something new"],
            "numbers": ["Must be a whole number (not text or a fraction)."]})
    assert shown == {"into": ["Tickets of different requesters cannot be merged; link them "
                              "instead."],
                     "number": ["This ticket was already merged into another one."],
                     "other": ["something new"], "numbers": ["Enter a ticket number."]}


def test_a_mention_is_a_live_item_for_the_mentioned_colleague_only():
    from services.common import events as ev
    from services.portal.live import LiveFeed, visible

    feed = LiveFeed()
    envelope = ev.new_event(ev.MESSAGE_ADDED, {
        "ticket_id": "t", "number": 7, "message_id": "m", "author_role": "agent",
        "author_id": "anna", "public": False, "added_at": T0, "mentioned_ids": ["tom"],
        "ticket": {"subject": "s", "description": "d", "status": "open",
                   "department": "billing", "priority": "normal", "language": "en",
                   "requester_id": "c", "created_at": T0, "updated_at": T0}}, T0)
    changed = feed.publish_event(envelope)
    assert changed["type"] == "message_added" and changed["people"] is None
    [_, mention] = feed.since(f"{feed.process}-0")
    assert (mention["type"], mention["number"], mention["people"]) == ("mention", 7, ["tom"])
    assert visible(mention, None, "tom") and visible(mention, frozenset({"billing"}), "tom")
    assert not visible(mention, None, "anna") and not visible(mention, None)
    assert not visible(mention, frozenset({"technical"}), "tom")
