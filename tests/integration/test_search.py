"""Search against the real Elasticsearch node, fed by the real intake service over RabbitMQ:
morphology, typos, confidence, who sees what, internal notes, similar tickets, filters,
articles' lifecycle, bad queries and the zero-downtime rebuild."""
import json
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from services.common import events as ev
from services.intake.service import IntakeService
from services.search.index import SearchIndex
from services.search.reindex import rebuild
from services.search.repository import SearchRepository
from services.search.service import SearchService
from tests.support import EventTap, eventually, running

ARTICLES = json.loads((Path(__file__).parents[2] / "deploy/demo/articles.json").read_text())
ALICE = {"id": "cust-alice", "role": "customer", "name": "Alice"}
BOB = {"id": "cust-bob", "role": "customer", "name": "Bob"}
AGENT = {"id": "agent-1", "role": "agent", "name": "Agent One"}


@pytest.fixture(scope="module", autouse=True)
def services(config, rpc):
    with running(config, IntakeService, SearchService) as runner:
        for article in ARTICLES:
            assert rpc.search.upsert_article(article)["ok"]
        yield runner


@pytest.fixture(scope="module")
def es(config):
    return Elasticsearch(config["ES_URL"])


def file(rpc, requester, subject, description, **fields):
    created = rpc.intake.create_ticket({"ticket": {"subject": subject, "description": description,
                                                   "department": "technical", **fields},
                                        "requester": requester, "channel": "api"})
    assert created["ok"], created
    return created["ticket"]


def solve(rpc, ticket, answer, note=None):
    number = ticket["number"]
    assert rpc.intake.add_message(number, {"body": answer}, AGENT)["ok"]
    if note:
        assert rpc.intake.add_message(number, {"body": note, "public": False}, AGENT)["ok"]
    assert rpc.intake.change_status(number, {"status": "solved"}, AGENT)["ok"]


def ids(result):
    assert result["ok"] and not result["degraded"], result
    return [r["id"] for r in result["results"]]


def suggested(rpc, q, actor=None, language=None):
    return ids(rpc.search.suggest({"q": q, "language": language}, actor))


def searched(rpc, actor, **query):
    return ids(rpc.search.search(query, actor))


def indexed(es, config, ticket_id, check=lambda doc: True):
    """Wait until the ticket is *searchable* (not only stored) in the state ``check`` wants."""
    def found():
        hits = es.search(index=f"{config['ES_INDEX_PREFIX']}-tickets",
                         body={"query": {"ids": {"values": [ticket_id]}}})["hits"]["hits"]
        return hits[0]["_source"] if hits and check(hits[0]["_source"]) else None
    return eventually(found)


# ---------------------------------------------------------------- morphology, typos, confidence

@pytest.mark.parametrize("word", ["пароль", "пароля", "паролем", "паролями"])
def test_russian_inflections_find_the_same_article(rpc, word):
    assert suggested(rpc, f"сброс {word}", language="ru")[0] == "reset-password-ru"


# ---------------------------------------------------------------- meaning, other language, translit

@pytest.mark.parametrize("typed, reader", [("zabyl parol", "ru"), ("pf,sk gfhjkm", "ru")])
def test_translit_and_wrong_layout_find_the_password_article(rpc, typed, reader):
    assert suggested(rpc, typed, language=reader)[0] == "reset-password-ru"


def test_a_question_finds_the_answer_written_only_in_the_other_language(rpc):
    assert rpc.search.upsert_article({
        "id": "api-rate-limit-en", "language": "en", "title": "API error 429: too many requests",
        "body": "The API allows 600 requests per minute per token. Above that it answers 429 "
                "with a Retry-After header: wait, batch your calls or ask for a higher "
                "limit."})["ok"]
    assert rpc.search.upsert_article({
        "id": "delivery-tracking-ru-only", "language": "ru", "title": "Как отследить доставку",
        "body": "Трек-номер приходит в письме после отправки заказа. Откройте Заказы, выберите "
                "заказ и нажмите Отследить."})["ok"]
    assert eventually(lambda: suggested(rpc, "ошибка 429 слишком много запросов",
                                        language="ru"))[0] == "api-rate-limit-en"
    assert eventually(lambda: suggested(rpc, "how do I track my parcel delivery",
                                        language="en"))[0] == "delivery-tracking-ru-only"
    # With a translation, the reader gets their own language.
    assert suggested(rpc, "I forgot my password", language="ru")[0] == "reset-password-ru"
    assert suggested(rpc, "забыл пароль", language="en")[0] == "reset-password"


@pytest.mark.parametrize("query, article", [
    ("how to reset pasword", "reset-password"),      # missing letter
    ("dowload invoices", "invoice-download"),         # missing letter
    ("refnd payment", "refund-policy"),               # missing letter
    ("двухфакторная аутентификацыя", "two-factor-ru"),  # wrong letter, Russian
])
def test_typos_still_find_the_article(rpc, query, article):
    assert article in suggested(rpc, query)[:2]


@pytest.mark.parametrize("language, text, article", [
    ("en", "Cannot sign in anymore Hello, I forgot the password for my account and the old one "
     "is not accepted. I tried several times this morning. How do I get a new password?",
     "reset-password"),
    ("ru", "Нужен счёт для бухгалтерии Добрый день! Наш бухгалтер просит счёт за прошлый месяц в "
     "формате PDF. Я не нашла в кабинете, где скачать счета. Подскажите, пожалуйста, где они?",
     "invoice-download-ru"),
])
def test_a_whole_ticket_description_still_gets_the_right_article(rpc, language, text, article):
    """What the ticket form sends (static/suggest.js): subject + description, up to 500 chars."""
    assert suggested(rpc, text[:500], language=language)[0] == article


def test_a_long_text_about_nothing_we_know_gets_no_suggestions(rpc):
    assert suggested(rpc, "Partnership proposal We are a small marketing agency and would like "
                          "to discuss a partnership and a reseller agreement with your company. "
                          "Who is the right person to talk to about this?") == []


@pytest.mark.parametrize("nonsense", ["qwzx plorf vrumb", "кракозябра шмырдяк", "zzzz"])
def test_nonsense_gets_no_suggestions_rather_than_junk(rpc, nonsense):
    assert suggested(rpc, nonsense) == []


@pytest.mark.parametrize("q", ["title:* OR (", "\x00\x07 password \x1b reset", "a" * 500,
                               "\"unbalanced", "password) AND NOT (", "*", "{\"$gt\": \"\"}",
                               "<script>alert(1)</script>"])
def test_odd_queries_are_matched_as_words_never_as_syntax(rpc, q):
    for result in (rpc.search.suggest({"q": q}, None), rpc.search.search({"q": q}, AGENT)):
        assert result["ok"] and not result["degraded"], result


@pytest.mark.parametrize("payload", [{"q": ""}, {"q": "   "}, {"q": "\x00\x01"},
                                     {"q": "x" * 10_240}, {"q": 42}, {}, {"q": "a", "limit": 0},
                                     {"q": "a", "extra": 1}])
def test_bad_suggest_queries_are_refused_with_field_messages(rpc, payload):
    result = rpc.search.suggest(payload, None)
    assert result["ok"] is False and result["status"] == 400 and result["errors"]


@pytest.mark.parametrize("query", [{"sort": "random"}, {"page": 0}, {"page": 500, "per_page": 100},
                                   {"created_from": "yesterday"}, {"tags": "not-a-list"},
                                   {"q": "x" * 10_240}])
def test_bad_search_queries_are_refused(rpc, query):
    result = rpc.search.search(query, AGENT)
    assert result["ok"] is False and result["status"] == 400


# ---------------------------------------------------------------- what is indexed, who sees it

def test_internal_notes_are_never_indexed_or_found(rpc, es, config):
    ticket = file(rpc, ALICE, "Printer prints blank pages", "Every page comes out blank")
    solve(rpc, ticket, "Replace the toner cartridge and print a test page.",
          note="zanzibarquokka customer owes us money")
    doc = indexed(es, config, ticket["id"], lambda d: d["status"] == "solved")
    assert "zanzibarquokka" not in json.dumps(doc, ensure_ascii=False)
    assert "requester_email" not in doc
    assert doc["resolution"].startswith("Replace the toner")
    assert searched(rpc, AGENT, q="zanzibarquokka") == []
    assert suggested(rpc, "zanzibarquokka", AGENT) == []
    assert ticket["id"] in searched(rpc, AGENT, q="toner cartridge")


def test_customers_see_only_their_own_tickets(rpc, es, config):
    alice = file(rpc, ALICE, "Quarterly fjordexport report fails", "Export of fjordexport breaks")
    solve(rpc, alice, "The fjordexport limit was raised; run the export again.")
    indexed(es, config, alice["id"], lambda d: d["status"] == "solved")

    assert searched(rpc, ALICE, q="fjordexport") == [alice["id"]]
    assert searched(rpc, AGENT, q="fjordexport") == [alice["id"]]
    assert searched(rpc, BOB, q="fjordexport") == []
    assert searched(rpc, BOB, kind="ticket") == []          # no words, no filters: still scoped
    assert alice["id"] not in searched(rpc, None, q="fjordexport")
    # Filters cannot widen the scope either.
    assert searched(rpc, BOB, q="fjordexport", status="solved", department="technical") == []

    # Suggestions never show Bob (or anyone not signed in) Alice's ticket, in any form.
    for reader in (BOB, None):
        for q in ("fjordexport export limit", "Quarterly fjordexport report fails"):
            shown = rpc.search.suggest({"q": q}, reader)["results"]
            assert all(r["kind"] == "article" for r in shown), shown
            assert alice["id"] not in json.dumps(shown) and "fjordexport" not in json.dumps(shown)
    mine = rpc.search.suggest({"q": "fjordexport report fails"}, ALICE)["results"]
    assert [r["number"] for r in mine] == [alice["number"]]


def test_another_customers_answer_reaches_the_public_only_approved_and_redacted(rpc, es, config):
    alice = file(rpc, ALICE, "Order 58231 quokkaprint label missing for Alice Liddell",
                 "Ship to 221 Baker Street please, phone +44 20 7946 0958")
    solve(rpc, alice, "Hello Alice, the quokkaprint label for order #58231 is re-sent to "
                      "alice.liddell@example.com; reprint it from Orders, Labels. Regards, Anna")
    indexed(es, config, alice["id"], lambda d: d["status"] == "solved")

    def kinds(reader):
        return [r["kind"] for r in rpc.search.suggest({"q": "quokkaprint label"}, reader)[
            "results"]]
    for reader in (BOB, None):
        assert "ticket" not in kinds(reader) and "answer" not in kinds(reader)
    assert suggested(rpc, "quokkaprint label", AGENT)[0] == alice["id"]  # staff: in full

    draft = rpc.search.answer_draft({"number": alice["number"], "names": ["Alice Liddell", "Anna"]})
    assert draft["ok"], draft
    shown = draft["answer"]
    for private in ("Alice", "Liddell", "58231", "alice.liddell@", "Baker", "Anna"):
        assert private not in shown["title"] + shown["body"]
    assert "quokkaprint" in shown["body"] and shown["removed"]["email"] == 1
    # Not approved yet: still nothing of it for customers.
    assert "answer" not in kinds(BOB)
    # Customers cannot approve; agents can, and an edit cannot bring personal data back.
    approval = {"number": alice["number"], "names": ["Alice Liddell"], "title": shown["title"],
                "body": shown["body"] + " Questions: alice.liddell@example.com"}
    assert rpc.search.approve_answer(approval, BOB)["status"] == 403
    approved = rpc.search.approve_answer(approval, AGENT)
    assert approved["ok"] and "[email]" in approved["answer"]["body"], approved
    found = eventually(lambda: rpc.search.suggest({"q": "quokkaprint label"}, BOB)["results"])
    assert found[0]["kind"] == "answer" and found[0]["id"] == shown["id"]
    assert "ticket" not in [r["kind"] for r in found]
    text = json.dumps(found, ensure_ascii=False)
    for private in ("Alice", "Liddell", "58231", "alice.liddell", "7946", alice["id"]):
        assert private not in text
    assert found[0]["number"] is None
    assert kinds(None)[0] == "answer"
    # Its page: the approved text, nothing of the ticket, its requester or its approver.
    page = rpc.search.get_answer(shown["id"])
    assert page["ok"] and page["answer"]["body"] == approved["answer"]["body"]
    assert set(page["answer"]) == {"id", "title", "body", "language", "updated_at"}
    assert rpc.search.get_answer("answer-" + "0" * 32)["status"] == 404
    assert rpc.search.get_answer({"$ne": None})["status"] == 404
    # Withdrawn: gone again, page too.
    assert rpc.search.withdraw_answer(alice["number"])["ok"]
    eventually(lambda: "answer" not in kinds(BOB))
    assert rpc.search.get_answer(shown["id"])["status"] == 404
    # Only solved tickets with a public answer can become one.
    fresh = file(rpc, ALICE, "Unanswered quokkaprint question", "Nobody answered yet")
    indexed(es, config, fresh["id"])
    assert rpc.search.answer_draft({"number": fresh["number"]})["status"] == 409
    assert rpc.search.answer_draft({"number": 99_999_999})["status"] == 404


def test_every_ticket_is_searchable_and_follows_its_status(rpc, es, config):
    ticket = file(rpc, ALICE, "Webcam flickers in calls", "The webcam flickers", priority="high")
    indexed(es, config, ticket["id"])
    assert ticket["id"] in searched(rpc, AGENT, q="webcam", status="new", priority="high")
    assert searched(rpc, AGENT, q="webcam", status="solved") == []
    assert suggested(rpc, "webcam flickers", AGENT) == []   # not answered: not a suggestion

    solve(rpc, ticket, "Update the webcam driver from the vendor site.")
    indexed(es, config, ticket["id"], lambda d: d["status"] == "solved")
    eventually(lambda: ticket["id"] in suggested(rpc, "webcam flickering", AGENT))

    assert rpc.intake.change_status(ticket["number"], {"status": "open"}, ALICE)["ok"]
    indexed(es, config, ticket["id"], lambda d: d["status"] == "open")
    assert ticket["id"] not in suggested(rpc, "webcam flickering", AGENT)


def test_a_renamed_tag_reaches_the_index(rpc, es, config):
    """Renaming a tag changes tickets like a staff edit does: each is announced with
    ticket_updated, so search's copy of the tags follows."""
    supervisor = {"id": "sup-1", "role": "supervisor", "name": "Sue"}
    tap = EventTap(config, ev.TICKET_UPDATED)
    try:
        tagged = [file(rpc, ALICE, f"Roaming drops {i}", "The wlan roams badly",
                       tags=["wlan", "laptop"]) for i in range(2)]
        other = file(rpc, ALICE, "Roaming is fine", "Untouched", tags=["laptop"])
        for t in tagged:
            indexed(es, config, t["id"], lambda d: "wlan" in d["tags"])
        assert {t["id"] for t in tagged} <= set(searched(rpc, AGENT, tags=["wlan"]))

        renamed = rpc.intake.rename_tag({"old": "WLAN", "new": "Wi-Fi"}, supervisor)
        assert renamed["ok"] and renamed["tickets"] == [t["number"] for t in tagged]
        for t in tagged:
            indexed(es, config, t["id"], lambda d: d["tags"] == ["wi-fi", "laptop"])
        eventually(lambda: set(searched(rpc, AGENT, tags=["wi-fi"])) == {t["id"] for t in tagged})
        assert searched(rpc, AGENT, tags=["wlan"]) == []

        updates = {e["data"]["number"]: e["data"] for e in tap.of_type(ev.TICKET_UPDATED)}
        assert set(updates) == {t["number"] for t in tagged}  # the untouched one: no event
        for t in tagged:
            assert updates[t["number"]]["changes"] == {
                "tags": {"old": ["wlan", "laptop"], "new": ["wi-fi", "laptop"]}}
            assert updates[t["number"]]["actor_role"] == "supervisor"
        assert other["number"] not in updates
    finally:
        tap.close()


def test_search_sorts_by_date_and_pages(rpc, es, config):
    made = [file(rpc, ALICE, f"Keyboard glyphmix issue {i}", "Keys type wrong glyphmix letters",
                 tags=["keyboard"]) for i in range(3)]
    for t in made:
        indexed(es, config, t["id"])
    newest_first = searched(rpc, AGENT, q="glyphmix", sort="date", per_page=2)
    assert newest_first == [made[2]["id"], made[1]["id"]]
    assert searched(rpc, AGENT, q="glyphmix", sort="date", per_page=2, page=2) == [made[0]["id"]]
    assert rpc.search.search({"q": "glyphmix"}, AGENT)["total"] == 3
    assert len(searched(rpc, AGENT, q="glyphmix", tags=["keyboard"])) == 3
    assert searched(rpc, AGENT, q="glyphmix", tags=["mouse"]) == []
    assert searched(rpc, AGENT, q="glyphmix", created_to="2000-01-01T00:00:00+00:00") == []


def test_similar_tickets_for_agents(rpc, es, config):
    jam = file(rpc, BOB, "Paper jam in the office printer", "The printer jams on every page")
    solve(rpc, jam, "Open the rear tray and remove the stuck paper, then clean the rollers.")
    other = file(rpc, BOB, "VPN disconnects every hour", "The VPN tunnel drops hourly")
    solve(rpc, other, "Upgrade the VPN client.")
    fresh = file(rpc, ALICE, "Printer paper jam again", "Paper keeps jamming in the printer")
    for t, status in ((jam, "solved"), (other, "solved"), (fresh, "new")):
        indexed(es, config, t["id"], lambda d, s=status: d["status"] == s)

    result = rpc.search.similar_tickets({"ticket_id": fresh["id"], "limit": 5})
    found = ids(result)
    assert found[0] == jam["id"] and fresh["id"] not in found and other["id"] not in found
    assert "rear tray" in result["results"][0]["snippet"]
    assert ids(rpc.search.similar_tickets({"text": "printer jams paper"}))[0] == jam["id"]
    # Given both, the text is compared and the ticket is left out (it may not be indexed yet).
    both = ids(rpc.search.similar_tickets({"ticket_id": jam["id"], "text": "printer jams paper"}))
    assert jam["id"] not in both
    assert rpc.search.similar_tickets({"limit": 3})["status"] == 400


# ---------------------------------------------------------------- articles

def test_article_lifecycle_and_translations(rpc):
    draft = {"id": "wifi-setup", "title": "Connecting to the office Wi-Fi", "language": "en",
             "body": "Choose the network Office-5G and sign in with your directory account.",
             "category": "network", "tags": ["wifi"], "published": False}
    assert rpc.search.create_article(draft)["ok"]
    assert rpc.search.create_article(draft)["status"] == 409
    assert "wifi-setup" not in suggested(rpc, "office wifi network")
    assert "wifi-setup" in searched(rpc, AGENT, q="office network", kind="article")  # staff: drafts
    assert "wifi-setup" not in searched(rpc, ALICE, q="office network")

    assert rpc.search.publish_article("wifi-setup")["article"]["published"] is True
    eventually(lambda: "wifi-setup" in suggested(rpc, "office wifi network"))
    edited = rpc.search.update_article("wifi-setup", {"title": "Office Wi-Fi: Office-6G"})
    assert edited["ok"] and edited["article"]["body"] == draft["body"]
    eventually(lambda: "wifi-setup" in suggested(rpc, "Office-6G wifi"))

    ru = dict(draft, id="wifi-setup-ru", language="ru", title="Подключение к офисному Wi-Fi",
              body="Выберите сеть Office-6G и войдите с учётной записью.", translation_of="wifi-setup")
    assert rpc.search.create_article(ru)["ok"]
    assert rpc.search.get_article("wifi-setup")["article"]["translations"] == [
        {"id": "wifi-setup-ru", "language": "ru", "published": False}]  # a draft, like `draft`
    assert rpc.search.create_article(dict(ru, id="x1", translation_of="nope"))["status"] == 400
    assert rpc.search.create_article(dict(ru, id="x2", language="en"))["status"] == 400
    assert rpc.search.update_article("wifi-setup", {"title": ""})["status"] == 400
    assert rpc.search.update_article("missing", {"title": "t"})["status"] == 404

    assert rpc.search.unpublish_article("wifi-setup")["ok"]
    eventually(lambda: "wifi-setup" not in suggested(rpc, "Office-6G wifi"))
    listed = rpc.search.list_articles({"category": "network", "published": False})["articles"]
    assert [a["id"] for a in listed] == ["wifi-setup", "wifi-setup-ru"]  # the copy is a draft too
    assert rpc.search.list_articles({"category": "network", "published": True})["articles"] == []


def test_feedback_is_recorded_for_deflection_analytics(rpc, db):
    assert rpc.search.record_feedback({"q": "reset password", "result_kind": "article",
                                       "result_id": "reset-password", "solved": True}, ALICE)["ok"]
    assert rpc.search.record_feedback({"q": "reset password", "result_kind": "article",
                                       "result_id": "reset-password", "solved": False}, None)["ok"]
    assert rpc.search.record_feedback({"q": "x", "result_kind": "file", "result_id": "a",
                                       "solved": "maybe"}, None)["status"] == 400
    summary = rpc.search.feedback_summary()["results"]
    assert {"kind": "article", "id": "reset-password", "solved": 1, "not_solved": 1} in summary
    assert db("search").feedback.count_documents({"actor_id": "cust-alice"}) == 1


# ---------------------------------------------------------------- rebuild without downtime

def test_reindex_builds_a_new_index_and_switches_the_alias(rpc, es, config, db):
    index = SearchIndex(es, config["ES_INDEX_PREFIX"])
    repo = SearchRepository(db("search"))
    alias = index.alias("articles")
    before = list(es.indices.get_alias(name=alias))
    count_before = es.count(index=alias)["count"]

    report = rebuild(repo, index, "articles", show_progress=False)

    assert list(es.indices.get_alias(name=alias)) == [report["index"]] != before
    assert report["documents"] == repo.count("articles") == es.count(index=alias)["count"]
    assert report["documents"] >= count_before
    assert report["dropped"] == before and not es.indices.exists(index=before[0])
    assert es.indices.get_settings(index=report["index"])[report["index"]]["settings"][
        "index"]["refresh_interval"] == "1s"
    assert suggested(rpc, "сброс пароля")[0] == "reset-password-ru"  # still answering


def test_an_edit_made_during_a_rebuild_reaches_the_new_index(rpc, es, config, db):
    """The rebuild reads a snapshot; whatever is saved meanwhile is re-flagged for the sweep."""
    class EditsMidway(SearchRepository):
        def everything(self, kind, batch_size=2000):
            for n, doc in enumerate(super().everything(kind, batch_size)):
                if n == 1:  # an agent publishes a new article while the rebuild runs
                    assert rpc.search.create_article({
                        "id": "mid-rebuild", "title": "Rotating the xylophage key",
                        "body": "Rotate the xylophage key monthly.", "language": "en"})["ok"]
                yield doc

    index = SearchIndex(es, config["ES_INDEX_PREFIX"])
    report = rebuild(EditsMidway(db("search")), index, "articles", show_progress=False)
    assert report["requeued"] >= 1
    eventually(lambda: "mid-rebuild" in suggested(rpc, "xylophage key"))
    assert list(es.indices.get_alias(name=index.alias("articles"))) == [report["index"]]


@pytest.mark.parametrize("article_id", [{"$gt": ""}, ["reset-password"], 42, "../x", ""])
def test_article_ids_are_never_queries(rpc, article_id):
    assert rpc.search.get_article(article_id)["status"] == 404
    assert rpc.search.publish_article(article_id)["status"] == 404
    assert rpc.search.update_article(article_id, {"title": "pwned"})["status"] == 404
