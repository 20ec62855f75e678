"""Versioned articles on the real stack (RabbitMQ, the Mongo wire server, Elasticsearch):
Elasticsearch only ever holds the published version, agents' edits wait for an editor,
scheduled versions are published by the timer when the (injected) clock says so, restore and
translations across versions, and a draft article from an approved answer."""
import time
from datetime import timedelta

import pytest
from elasticsearch import Elasticsearch, NotFoundError
from services.intake.service import IntakeService
from services.search.service import SearchService
from tests.support import eventually, frozen_clock, running

AGENT = {"id": "agent-7", "role": "agent", "name": "Agent Seven"}
EDITOR = {"id": "sup-1", "role": "supervisor", "name": "Sam Supervisor"}
CUSTOMER = {"id": "cust-9", "role": "customer", "name": "Carol"}
FIRST = {"title": "Pairing the zorblat scanner", "language": "en", "category": "hardware",
         "body": "Hold the zorblat button for five seconds until the light blinks.",
         "tags": ["zorblat"]}


@pytest.fixture(scope="module")
def runner(config):
    with running(config, IntakeService, SearchService) as r:
        yield r


@pytest.fixture
def clock(runner):
    with frozen_clock(runner, "search") as frozen:
        yield frozen


@pytest.fixture(scope="module")
def indexed(config):
    """The article as Elasticsearch has it (None: not indexed)."""
    es = Elasticsearch(config["ES_URL"])
    alias = f"{config.get('ES_INDEX_PREFIX', 'helpdesk')}-articles"

    def get(article_id: str) -> dict | None:
        try:
            return es.get(index=alias, id=article_id)["_source"]
        except NotFoundError:
            return None
    return get


def suggested(rpc, q, actor=None, language=None) -> list[str]:
    found = rpc.search.suggest({"q": q, "language": language}, actor)
    assert found["ok"] and not found["degraded"], found
    return [r["id"] for r in found["results"]]


def searched(rpc, actor, q) -> list[str]:
    found = rpc.search.search({"q": q, "kind": "article"}, actor)
    assert found["ok"] and not found["degraded"], found
    return [r["id"] for r in found["results"]]


def versions_of(rpc, article_id) -> dict[int, dict]:
    listed = rpc.search.list_versions(article_id)
    assert listed["ok"], listed
    return {v["number"]: v for v in listed["versions"]}


def test_the_index_serves_only_the_published_version_and_agents_wait_for_editors(
        runner, rpc, indexed):
    created = rpc.search.create_article(dict(FIRST, id="zorblat", published=True), EDITOR)
    assert created["ok"] and created["article"]["version"] == 1, created
    eventually(lambda: "zorblat" in suggested(rpc, "zorblat scanner pairing"))

    # An agent's edit is a version waiting for review: nothing changes for anyone.
    proposal = rpc.search.update_article("zorblat", {"title": "Pairing the quixel scanner"},
                                         AGENT)
    assert proposal["ok"], proposal
    assert proposal["version"]["status"] == "pending" and proposal["version"]["number"] == 2
    assert proposal["article"]["title"] == FIRST["title"] and proposal["article"]["version"] == 1
    assert indexed("zorblat")["title"] == FIRST["title"]
    assert "zorblat" not in searched(rpc, None, "quixel")
    assert "zorblat" not in searched(rpc, AGENT, "quixel")  # staff neither: never indexed
    assert versions_of(rpc, "zorblat")[2]["author_id"] == "agent-7"

    # Agents cannot publish, schedule or reject; nor can a malformed caller.
    for refused in (rpc.search.publish_version("zorblat", 2, {}, AGENT),
                    rpc.search.reject_version("zorblat", 2, {}, AGENT),
                    rpc.search.publish_article("zorblat", AGENT),
                    rpc.search.unpublish_article("zorblat", AGENT),
                    rpc.search.update_article("zorblat", {"body": "x", "publish_at":
                                                          "2030-01-01T00:00:00+00:00"}, AGENT),
                    rpc.search.update_article("zorblat", {"body": "x"}, {"role": "wizard"}),
                    rpc.search.update_article("zorblat", {"body": "x"}, CUSTOMER)):
        assert refused["status"] == 403, refused
    assert set(versions_of(rpc, "zorblat")) == {1, 2}  # refusals wrote nothing
    assert rpc.search.publish_version("zorblat", 9, {}, EDITOR)["status"] == 404
    bad_time = rpc.search.publish_version("zorblat", 2, {"publish_at": "soon"}, EDITOR)
    assert bad_time["status"] == 400 and "publish_at" in bad_time["errors"]

    # The editor publishes it: now the index has the new title.
    published = rpc.search.publish_version("zorblat", 2, {}, EDITOR)
    assert published["ok"] and published["version"]["status"] == "accepted", published
    assert published["article"]["version"] == 2 and published["version"]["decided_by"] == "sup-1"
    eventually(lambda: indexed("zorblat")["title"] == "Pairing the quixel scanner")
    eventually(lambda: "zorblat" in searched(rpc, None, "quixel"))

    # A second proposal is rejected; a rejected version cannot be published.
    rpc.search.update_article("zorblat", {"body": "Press any key."}, AGENT)
    rejected = rpc.search.reject_version("zorblat", 3, {"note": "too vague"}, EDITOR)
    assert rejected["ok"] and rejected["version"]["status"] == "rejected"
    assert rpc.search.reject_version("zorblat", 3, {}, EDITOR)["status"] == 409
    assert rpc.search.publish_version("zorblat", 3, {}, EDITOR)["status"] == 409
    assert indexed("zorblat")["body"] == FIRST["body"]

    # An agent's new article sent as published is a draft waiting for an editor.
    draft = rpc.search.create_article(dict(FIRST, id="zorblat-agent", title="Zorblat agent",
                                           published=True), AGENT)
    assert draft["ok"] and draft["article"]["published"] is False
    assert versions_of(rpc, "zorblat-agent")[1]["status"] == "pending"
    eventually(lambda: indexed("zorblat-agent") is not None)
    assert indexed("zorblat-agent")["published"] is False  # staff see drafts, as before
    assert rpc.search.publish_article("zorblat-agent", EDITOR)["article"]["published"] is True
    assert versions_of(rpc, "zorblat-agent")[1]["status"] == "accepted"


def test_restore_makes_a_new_version_equal_to_an_old_one_and_keeps_translations(
        runner, rpc, indexed):
    assert rpc.search.create_article(dict(FIRST, id="flumox", title="Flumox valve reset",
                                          body="Turn the flumox valve left.", published=True),
                                     EDITOR)["ok"]
    ru = dict(FIRST, id="flumox-ru", language="ru", title="Сброс клапана флюмокс",
              body="Поверните клапан флюмокс влево.", translation_of="flumox", published=True)
    assert rpc.search.create_article(ru, EDITOR)["ok"]
    edited = rpc.search.update_article("flumox", {"title": "Flumox valve: full reset",
                                                  "tags": ["flumox", "valve"]}, EDITOR)
    assert edited["version"]["status"] == "accepted" and edited["article"]["version"] == 2
    eventually(lambda: indexed("flumox")["title"] == "Flumox valve: full reset")

    diff = rpc.search.diff_versions("flumox", 2, {})
    changed = {f["field"]: f["lines"] for f in diff["diff"] if f["changed"]}
    assert changed["title"] == [{"op": "removed", "text": "Flumox valve reset"},
                                {"op": "added", "text": "Flumox valve: full reset"}]
    assert set(changed) == {"title", "tags"} and diff["against"] == 1

    restored = rpc.search.restore_version("flumox", 1, {}, EDITOR)
    assert restored["ok"], restored
    assert restored["version"]["number"] == 3 and restored["version"]["restored_from"] == 1
    one, three = (rpc.search.get_version("flumox", n)["version"] for n in (1, 3))
    assert {k: three[k] for k in ("title", "body", "tags", "category", "language")} == \
        {k: one[k] for k in ("title", "body", "tags", "category", "language")}
    assert restored["article"]["version"] == 3 and restored["article"]["title"] == \
        "Flumox valve reset"
    eventually(lambda: indexed("flumox")["title"] == "Flumox valve reset")
    assert sorted(versions_of(rpc, "flumox")) == [1, 2, 3]
    assert not any(f["changed"] for f in rpc.search.diff_versions(
        "flumox", 3, {"against": 1})["diff"])

    # The translation is still linked, and a Russian reader still gets it.
    article = rpc.search.get_article("flumox")["article"]
    assert article["translations"] == [{"id": "flumox-ru", "language": "ru", "published": True}]
    assert rpc.search.get_article("flumox-ru")["article"]["translation_of"] == "flumox"
    eventually(lambda: "flumox-ru" in suggested(rpc, "flumox valve", language="ru"))
    # An agent cannot move the translation link.
    assert rpc.search.update_article("flumox-ru", {"translation_of": None},
                                     AGENT)["status"] == 403


def test_scheduled_versions_are_published_by_the_timer_when_due(runner, rpc, indexed, clock):
    assert rpc.search.create_article(dict(FIRST, id="grommel", title="Grommel belt tension",
                                          body="Tighten the grommel belt by hand.",
                                          published=True), EDITOR)["ok"]
    eventually(lambda: indexed("grommel") is not None)
    at = (clock.now() + timedelta(hours=1)).replace(microsecond=0)  # Mongo keeps ms
    scheduled = rpc.search.update_article("grommel", {
        "body": "Tighten the grommel belt with the torque key.",
        "publish_at": at.isoformat()}, EDITOR)
    assert scheduled["ok"] and scheduled["version"]["status"] == "scheduled", scheduled
    assert scheduled["version"]["publish_at"] == at.isoformat()
    # A draft never published yet can be scheduled too.
    assert rpc.search.create_article(dict(FIRST, id="grommel-new", title="Grommel spare parts",
                                          body="Order grommel spares.", published=False),
                                     EDITOR)["ok"]
    assert rpc.search.publish_version("grommel-new", 1, {"publish_at": at.isoformat()},
                                      EDITOR)["version"]["status"] == "scheduled"

    # Two timer rounds (every 2 s) with the clock before the time: nothing is published.
    time.sleep(4.5)
    assert rpc.search.get_version("grommel", 2)["version"]["status"] == "scheduled"
    assert indexed("grommel")["body"] == "Tighten the grommel belt by hand."
    assert indexed("grommel-new")["published"] is False

    clock.at = at + timedelta(seconds=1)
    eventually(lambda: indexed("grommel")["body"] ==
               "Tighten the grommel belt with the torque key.", timeout=15)
    eventually(lambda: indexed("grommel-new")["published"] is True, timeout=15)
    assert rpc.search.get_version("grommel", 2)["version"]["status"] == "accepted"
    assert rpc.search.get_article("grommel")["article"]["version"] == 2
    eventually(lambda: "grommel-new" in suggested(rpc, "grommel spares"))


def test_an_approved_answer_becomes_a_draft_article(runner, rpc, indexed):
    created = rpc.intake.create_ticket({"ticket": {
        "subject": "Blorft printer shows E77", "description": "E77 on the blorft printer.",
        "department": "technical"}, "requester": CUSTOMER, "channel": "api"})
    assert created["ok"], created
    number = created["ticket"]["number"]
    assert rpc.intake.add_message(number, {"body": "Clear the blorft tray, then restart."},
                                  AGENT)["ok"]
    assert rpc.intake.change_status(number, {"status": "solved"}, AGENT)["ok"]
    eventually(lambda: rpc.search.answer_draft({"number": number})["ok"])
    answer = rpc.search.approve_answer({"number": number, "title": "Blorft printer E77",
                                        "body": "Clear the blorft tray, then restart."}, AGENT)
    assert answer["ok"], answer
    answer_id = answer["answer"]["id"]

    assert rpc.search.promote_answer({"answer_id": answer_id}, CUSTOMER)["status"] == 403
    assert rpc.search.promote_answer({"answer_id": "answer-" + "0" * 32},
                                     AGENT)["status"] == 404
    made = rpc.search.promote_answer({"answer_id": answer_id, "id": "blorft-e77"}, AGENT)
    assert made["ok"] and made["created"], made
    article = made["article"]
    assert (article["id"], article["title"], article["published"], article["from_answer"]) == \
        ("blorft-e77", "Blorft printer E77", False, answer_id)
    assert versions_of(rpc, "blorft-e77")[1]["author_id"] == "agent-7"
    assert rpc.search.promote_answer({"answer_id": answer_id}, AGENT)["status"] == 409
    eventually(lambda: indexed("blorft-e77") is not None)
    assert indexed("blorft-e77")["published"] is False
    assert "blorft-e77" not in suggested(rpc, "blorft printer E77")
