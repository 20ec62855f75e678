"""The knowledge loop against the real broker, Mongo wire server and Elasticsearch: questions
that got no confident suggestion are recorded (redacted) and grouped into gaps with solved
tickets no article covers, a gap becomes draft articles that once published cover its
tickets, and the deflection funnel counts what suggest visits did."""
import json
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from nameko.testing.utils import get_extension

from services.common.clock import FixedClock
from services.common.nameko_support import ClockProvider
from services.intake.service import IntakeService
from services.search.service import SearchService
from tests.support import eventually, running

ARTICLES = json.loads((Path(__file__).parents[2] / "deploy/demo/articles.json").read_text())
AGENT = {"id": "agent-1", "role": "agent", "name": "Agent One"}
SUPERVISOR = {"id": "sup-1", "role": "supervisor", "name": "Sue"}
CUSTOMER = {"id": "cust-olga", "role": "customer", "name": "Olga Smirnova"}
OUT_OF_SCOPE = "Olga Smirnova: моя квантовая кофеварка телепортирует чашки, пишите olga@mail.ru"
PRINTER = [("en", "Printer jams paper", "The office printer jams on every second page."),
           ("ru", "Принтер зажёвывает бумагу", "Принтер в офисе мнёт каждый второй лист."),
           ("en", "Paper stuck in the printer", "Sheets keep getting stuck inside the printer.")]
PRINTER_ANSWERS = {"en": "Hi Olga, open the rear tray, remove the stuck sheet and clean the "
                         "rollers. Regards, Agent One",
                   "ru": "Здравствуйте, Ольга! Откройте заднюю крышку, достаньте застрявший "
                         "лист и протрите ролики."}


@pytest.fixture(scope="module")
def runner(config, rpc):
    with running(config, IntakeService, SearchService) as r:
        for article in ARTICLES:
            assert rpc.search.upsert_article(article)["ok"]
        yield r


@pytest.fixture
def clock(runner):
    provider = get_extension(runner.service_map["search"], ClockProvider)
    original = provider.clock
    provider.clock = FixedClock(original.now() + timedelta(days=3))  # apart from other tests
    yield provider.clock
    provider.clock = original


def visit() -> str:
    return secrets.token_hex(16)


def suggest(rpc, q, session, language="ru", actor=None):
    found = rpc.search.suggest({"q": q, "language": language, "session": session}, actor)
    assert found["ok"] and not found["degraded"], found
    return found["results"]


def test_an_unanswered_question_is_kept_redacted_with_its_vector(runner, rpc, db):
    session = visit()
    assert suggest(rpc, OUT_OF_SCOPE, session, actor=CUSTOMER) == []
    record = db("search").suggest_sessions.find_one({"_id": session})
    assert record["abstained"] is True and record["language"] == "ru"
    assert record["vector"] and len(record["vector"]) == 512 * 2
    for personal in ("Olga", "Smirnova", "olga@mail.ru"):
        assert personal not in record["question"], record["question"]
    assert "кофеварка" in record["question"]
    gaps = rpc.search.knowledge_gaps({"days": 1})["gaps"]
    mine = [g for g in gaps if session in g["questions"]]
    assert mine and any("кофеварка" in e for e in mine[0]["examples"]["ru"])


def test_a_confident_answer_is_no_gap_and_a_call_without_a_visit_is_not_recorded(runner, rpc,
                                                                                 db):
    session = visit()
    shown = suggest(rpc, "сброс пароля", session)
    assert shown
    record = db("search").suggest_sessions.find_one({"_id": session})
    assert record["abstained"] is False and record["vector"] is None
    assert f"article:{shown[0]['id']}" in record["shown"]
    before = db("search").suggest_sessions.count_documents({})
    assert rpc.search.suggest({"q": "сброс пароля"}, None)["ok"]
    assert db("search").suggest_sessions.count_documents({}) == before


def test_funnel_counts_visits_per_language_and_per_answer(runner, rpc, clock):
    start = clock.now()
    solved, not_helped, nothing, late = visit(), visit(), visit(), visit()
    answer = suggest(rpc, "how to reset my password", solved, "en")[0]
    assert answer["id"] == "reset-password"
    assert rpc.search.record_suggest_opened({"session": solved, "result_kind": "article",
                                             "result_id": "reset-password"})["recorded"]
    for repeat in range(2):  # a repeated request changes nothing
        assert rpc.search.record_feedback({"q": "how to reset my password", "solved": True,
                                           "result_kind": "article",
                                           "result_id": "reset-password", "session": solved},
                                          None)["ok"]
    assert suggest(rpc, "how to reset my password", not_helped, "en")
    assert rpc.search.record_feedback({"q": "how to reset my password", "solved": False,
                                       "result_kind": "article", "result_id": "reset-password",
                                       "session": not_helped}, None)["ok"]
    assert rpc.search.record_suggest_filed({"session": not_helped, "number": 101})["recorded"]
    assert not rpc.search.record_suggest_filed({"session": not_helped, "number": 102})[
        "recorded"]  # only the first ticket of a visit counts
    assert suggest(rpc, "кофеварка телепортирует чашки", nothing) == []
    assert rpc.search.record_suggest_filed({"session": nothing, "number": 103})["recorded"]
    assert suggest(rpc, "кофеварка телепортирует чашки", late) == []
    clock.at = start + timedelta(minutes=31)  # past the window: not "filed anyway"
    assert not rpc.search.record_suggest_filed({"session": late, "number": 104})["recorded"]
    assert not rpc.search.record_suggest_filed({"session": visit(), "number": 105})["recorded"]
    assert rpc.search.record_suggest_opened({"session": solved, "result_kind": "article",
                                             "result_id": "x" * 65})["status"] == 400

    report = rpc.search.deflection_funnel({"since": start.isoformat(),
                                           "until": clock.now().isoformat()})
    assert report["ok"], report
    funnel = report["funnel"]
    assert funnel["languages"]["en"] == {"typed": 2, "shown": 2, "opened": 1, "solved": 1,
                                         "not_helped": 1, "filed": 1}
    assert funnel["languages"]["ru"] == {"typed": 2, "shown": 0, "opened": 0, "solved": 0,
                                         "not_helped": 0, "filed": 1}
    assert funnel["total"]["typed"] == 4 and funnel["deflection_rate"] == 0.5
    article = next(r for r in funnel["results"] if r["result"] == "article:reset-password")
    assert article == {"result": "article:reset-password", "title": "How to reset your password",
                       "shown": 2, "opened": 1, "solved": 1, "not_helped": 1, "filed": 1}
    failing = {f["question"]: f for f in funnel["failing"]}
    assert failing["кофеварка телепортирует чашки"]["visits"] == 2
    assert failing["how to reset my password"]["not_helped"] == 1
    only_ru = rpc.search.deflection_funnel({"since": start.isoformat(),
                                            "until": clock.now().isoformat(), "language": "ru"})
    assert set(only_ru["funnel"]["languages"]) == {"ru"}
    refused = rpc.search.deflection_funnel({"since": clock.now().isoformat(),
                                            "until": start.isoformat()})
    assert refused["status"] == 400 and "until" in refused["errors"]


def file_and_solve(rpc, language, subject, description):
    created = rpc.intake.create_ticket({"ticket": {
        "subject": subject, "description": description, "department": "technical",
        "language": language}, "requester": CUSTOMER,
        "channel": "api"})
    assert created["ok"], created
    number = created["ticket"]["number"]
    assert rpc.intake.add_message(number, {"body": PRINTER_ANSWERS[language]}, AGENT)["ok"]
    assert rpc.intake.change_status(number, {"status": "solved"}, AGENT)["ok"]
    return number


def printer_gap(rpc, numbers):
    gaps = rpc.search.knowledge_gaps({"days": 1})["gaps"]
    return next((g for g in gaps if set(numbers) & set(g["tickets"])), None)


def test_solved_tickets_on_one_problem_become_a_draft_that_once_published_covers_them(
        runner, rpc, db):
    numbers = [file_and_solve(rpc, *t) for t in PRINTER]
    gap = eventually(lambda: (lambda g: g if g and set(g["tickets"]) == set(numbers) else None)(
        printer_gap(rpc, numbers)), timeout=30)
    assert gap["languages"] == {"en": 2, "ru": 1}

    payload = {"tickets": [{"number": n, "names": ["Olga Smirnova", "Agent One"]}
                           for n in numbers]}
    assert rpc.search.draft_from_gap(payload, CUSTOMER)["status"] == 403
    made = rpc.search.draft_from_gap(payload, SUPERVISOR)
    assert made["ok"], made
    en, ru = made["draft"]["articles"]
    assert (en["language"], ru["language"], ru["translation_of"]) == ("en", "ru", en["id"])
    assert not en["published"] and "rear tray" in en["body"] and "ролики" in ru["body"]
    for personal in ("Olga", "Ольга", "Agent One"):
        assert personal not in en["body"] + ru["body"], (en["body"], ru["body"])
    again = rpc.search.draft_from_gap(payload, SUPERVISOR)  # the same group: the same drafts
    assert again["ok"] and [a["id"] for a in again["draft"]["articles"]] == [en["id"], ru["id"]]
    assert printer_gap(rpc, numbers)  # a draft covers nothing until it is published

    assert rpc.search.publish_article(en["id"])["ok"]
    assert eventually(lambda: printer_gap(rpc, numbers) is None, timeout=20)
    links = list(db("search").ticket_articles.find({}))
    assert {link["article_id"] for link in links if link["_id"] in {
        t["_id"] for t in db("search").tickets.find({"number": {"$in": numbers}})}} == {en["id"]}
    refused = rpc.search.draft_from_gap(payload, SUPERVISOR)
    assert refused["status"] == 409
    assert rpc.search.draft_from_gap({"tickets": [{"number": 999999}]}, SUPERVISOR)[
        "status"] == 404
    assert rpc.search.draft_from_gap({"tickets": []}, SUPERVISOR)["status"] == 400
