from datetime import datetime, timezone

import pytest

from services.search.domain import (MUST_MATCH, PUBLIC, SUGGESTABLE,
                                    answer_document, answer_draft, answer_record, answer_ref,
                                    clean_query, department_scope, fetch_query, present_hit, search_query,
                                    similar_query, suggest_query, ticket_document, visible_to)


def text_clauses(query: dict) -> list[dict]:
    """Every multi_match in a query, wherever it is nested."""
    if isinstance(query, dict):
        found = [query["multi_match"]] if "multi_match" in query else []
        return found + [c for v in query.values() for c in text_clauses(v)]
    if isinstance(query, list):
        return [c for v in query for c in text_clauses(v)]
    return []


def test_suggest_query_structure():
    q = suggest_query("printer jams", "ru", 5)
    assert q["size"] == 5
    bool_q = q["query"]["bool"]
    clauses = text_clauses(bool_q["must"])
    assert all(c["query"] == "printer jams" for c in clauses)
    assert any(c.get("fuzziness") == "AUTO" for c in clauses)
    # confidence comes from matching most of the words, on every text clause
    assert all(c["minimum_should_match"] == MUST_MATCH for c in clauses)
    # language only breaks ties: it is a `should`, never a must/filter
    assert bool_q["should"] == [{"term": {"language": {"value": "ru", "boost": 0.5}}}]
    assert "language" not in repr(bool_q["must"]) + repr(bool_q["filter"])
    # suggestable documents, narrowed to what the reader may see
    assert bool_q["filter"] == [SUGGESTABLE, visible_to(None)]
    public, tickets = SUGGESTABLE["bool"]["should"]
    assert public == PUBLIC
    assert {"terms": {"status": ["solved", "closed"]}} in tickets["bool"]["filter"]
    assert q["highlight"]["encoder"] == "html"


def test_a_spelled_query_is_matched_exactly_with_no_fuzzy_clause():
    clauses = text_clauses(suggest_query("reset pasword", "en", 5, spelled="reset password"))
    assert not any("fuzziness" in c for c in clauses)
    typo = [c for c in clauses if c["fields"] == ["title^2", "body", "resolution"]]
    assert [c["query"] for c in typo] == ["reset password"]  # the typo clause, corrected
    assert {c["query"] for c in clauses if c not in typo} == {"reset pasword"}  # as typed


def fields_searched_in(way: dict) -> set[str]:
    return {f.split("^")[0].split(".")[0] for c in text_clauses(way) for f in c["fields"]}


@pytest.mark.parametrize("reader", [None, {"id": "c1", "role": "customer"}])
def test_other_peoples_tickets_are_never_suggested(reader):
    """Only an approved answer (personal data removed) carries someone else's ticket out."""
    q = suggest_query("printer jams", None, 5, reader)["query"]["bool"]
    assert fields_searched_in(q["must"]) == {"title", "body", "resolution"}
    assert q["filter"][1] == visible_to(reader)
    tickets = repr(q["filter"][1]).count("'ticket'")
    assert tickets == (1 if reader else 0)
    if reader:
        assert "'requester_id': 'c1'" in repr(q["filter"][1])  # their own, in full


def test_staff_match_every_suggestable_document_on_every_field():
    q = suggest_query("printer jams", None, 5, AGENT)["query"]["bool"]
    assert fields_searched_in(q["must"]) == {"title", "body", "resolution"}
    assert q["filter"] == [SUGGESTABLE, {"terms": {"kind": ["article", "ticket", "answer"]}}]


def test_long_texts_are_matched_without_stop_words_and_short_ones_as_typed():
    def analyzers(text):
        return [c.get("analyzer") for c in text_clauses(suggest_query(text, None, 5, AGENT))]
    assert set(analyzers("forgot my password")) == {None}
    description = "Hi, I forgot my password and now I cannot get into my account at all"
    assert sorted(analyzers(description)) == sorted(
        ["russian_query", "english_query", "plain_query", "plain_query"])


def test_must_match_falls_with_the_length_of_the_text():
    tiers = [t.split("<") for t in MUST_MATCH.split()]
    counts = [int(n) for n, _ in tiers]
    shares = [int(p.rstrip("%")) for _, p in tiers]
    assert counts == sorted(counts) and shares == sorted(shares, reverse=True)
    assert counts[0] == 2  # one or two words: all of them


def test_suggest_query_without_language_has_no_preference():
    assert suggest_query("vpn", None, 3)["query"]["bool"]["should"] == []


def hit(source, highlight=None, score=4.56789, kind="ticket"):
    h = {"_id": "doc-1", "_score": score,
         "_source": {"kind": kind, "number": 9, "title": "T", "language": "en", **source}}
    if highlight is not None:
        h["highlight"] = highlight
    return h


def test_ticket_snippet_is_the_highlighted_resolution_not_the_question():
    out = present_hit(hit({"body": "plain", "resolution": "replace the drum"},
                          {"body.en": ["the <mark>printer</mark> jams"],
                           "resolution.en": ["<mark>replace</mark> the drum"]}))
    assert out == {"kind": "ticket", "id": "doc-1", "number": 9, "title": "T",
                   "snippet": "<mark>replace</mark> the drum", "language": "en",
                   "status": None, "score": 4.568}


def test_article_snippet_is_the_highlighted_body():
    out = present_hit(hit({"body": "plain"}, {"body.ru": ["<mark>принтер</mark> замял"]},
                          kind="article"))
    assert out["snippet"] == "<mark>принтер</mark> замял"


def test_present_hit_escapes_plain_text():
    out = present_hit(hit({"resolution": "<script>alert(1)</script> hi"}))
    assert "<script>" not in out["snippet"]
    assert out["snippet"].startswith("&lt;script&gt;alert(1)&lt;/script&gt;")


@pytest.mark.parametrize("kind, source, snippet", [
    ("ticket", {"resolution": "Restart it", "body": "Broken"}, "Restart it"),
    ("ticket", {"resolution": "", "body": "Broken"}, "Broken"),  # unanswered: the question
    ("ticket", {}, ""),
    ("article", {"body": "x" * 500}, "x" * 160),
])
def test_present_hit_fallback_snippet(kind, source, snippet):
    assert present_hit(hit(source, highlight={}, kind=kind))["snippet"] == snippet


STATE = {"subject": "VPN down", "description": "Cannot connect", "status": "solved",
         "department": "it", "category": None, "priority": "high", "tags": ["vpn"],
         "language": "en", "requester_id": "u1", "assignee_id": "a1",
         "conversation": ["Update the client", "thanks!"],
         "last_public_reply": "Update the client",
         "created_at": datetime(2024, 5, 1, tzinfo=timezone.utc),
         "updated_at": datetime(2024, 5, 2, tzinfo=timezone.utc),
         "solved_at": datetime(2024, 5, 2, tzinfo=timezone.utc)}


def test_ticket_document_is_the_state_intake_announced():
    """(What the state may hold, public content only, is intake's: test_intake_domain.)"""
    doc = ticket_document(3, STATE)
    assert set(doc) == {"kind", "number", "title", "body", "conversation", "resolution",
                        "status", "department", "category", "priority", "tags", "language",
                        "requester_id", "assignee_id", "created_at", "updated_at",
                        "solved_at", "published"}
    assert doc["kind"] == "ticket" and doc["published"] is False and doc["number"] == 3
    assert (doc["title"], doc["body"], doc["resolution"]) == (
        "VPN down", "Cannot connect", "Update the client")
    assert doc["conversation"] == "Update the client\nthanks!"


@pytest.mark.parametrize("status, reply", [("open", "we are looking"), ("solved", "")])
def test_only_an_answered_ticket_with_a_staff_reply_has_a_resolution(status, reply):
    state = dict(STATE, status=status, last_public_reply=reply)
    assert "resolution" not in ticket_document(1, state)


@pytest.mark.parametrize("raw, cleaned", [
    ("  title:* OR (  ", "title:* OR ("),
    ("pass\x00word\x07 reset\n\tnow", "pass word reset now"),
    ("\x00\x01", ""),
])
def test_clean_query_drops_control_characters_only(raw, cleaned):
    assert clean_query(raw) == cleaned


CUSTOMER = {"id": "c1", "role": "customer"}
AGENT = {"id": "a1", "role": "agent"}


def test_customer_sees_published_articles_answers_and_own_tickets_only():
    clause = visible_to(CUSTOMER)["bool"]
    public, tickets = clause["should"]
    assert clause["minimum_should_match"] == 1
    articles, answers = public["bool"]["should"]
    assert {"term": {"published": True}} in articles["bool"]["filter"]
    assert {"term": {"published": True}} in answers["bool"]["filter"]
    assert {"term": {"kind": "answer"}} in answers["bool"]["filter"]
    assert {"term": {"requester_id": "c1"}} in tickets["bool"]["filter"]


def test_staff_see_every_ticket_article_and_answer():
    assert visible_to(AGENT) == {"terms": {"kind": ["article", "ticket", "answer"]}}


@pytest.mark.parametrize("actor", [None, {"id": "x", "role": "system"}, {"id": "y"}])
def test_anyone_else_sees_published_articles_only(actor):
    assert "requester_id" not in repr(visible_to(actor))
    assert "ticket" not in repr(visible_to(actor))


def test_an_answer_draft_has_personal_data_removed_and_no_link_to_the_ticket():
    ticket = {"_id": "t9", "number": 9, "language": "en", "status": "solved",
              "title": "Order 88123 for Jane Roe never arrived",
              "resolution": "Hello Jane, we re-sent order #88123 to 12 Baker Street. Call "
                            "+44 20 7946 0958 or write jane.roe@example.com. Regards, Anna"}
    draft = answer_draft(ticket, ["Jane Roe", "Anna Agent"])
    text = draft["title"] + draft["body"]
    for private in ("Jane", "Roe", "88123", "Baker", "7946", "jane.roe@", "Anna"):
        assert private not in text
    assert draft["id"] == answer_ref("t9") != "t9"
    assert draft["removed"]["email"] == 1 and draft["removed"]["name"] >= 3
    record = answer_record(ticket, {"title": "Parcel lost", "body": "Mail jane.roe@example.com"},
                           ["Jane Roe"], AGENT, datetime(2024, 1, 1, tzinfo=timezone.utc))
    assert record["body"] == "Mail [email]"  # an edit cannot put personal data back
    doc = answer_document(record)
    assert doc["kind"] == "answer" and "t9" not in repr(doc) and "ticket_id" not in doc


def test_search_query_filters_sorts_and_pages():
    q = search_query({"q": "vpn", "status": "open", "priority": "high", "tags": ["a", "b"],
                      "department": "it", "assignee_id": "a1",
                      "created_from": datetime(2024, 1, 1, tzinfo=timezone.utc),
                      "sort": "date", "page": 3, "per_page": 10}, CUSTOMER)
    filters = q["query"]["bool"]["filter"]
    assert filters[0] == visible_to(CUSTOMER)  # visibility is always there, first
    for clause in ({"term": {"status": "open"}}, {"term": {"priority": "high"}},
                   {"term": {"tags": "a"}}, {"term": {"tags": "b"}},
                   {"term": {"department": "it"}}, {"term": {"assignee_id": "a1"}},
                   {"range": {"created_at": {"gte": "2024-01-01T00:00:00+00:00"}}}):
        assert clause in filters
    assert (q["from"], q["size"]) == (20, 10)
    assert "updated_at" in q["sort"][0]
    assert "query_string" not in repr(q)


def test_search_without_words_lists_everything_visible():
    q = search_query({"page": 1, "per_page": 5}, None)
    assert q["query"]["bool"]["must"] == [{"match_all": {}}]


def test_similar_query_excludes_the_ticket_and_wants_answers():
    q = similar_query([{"_index": "x", "_id": "t1"}], "t1", 4)
    assert q["query"]["bool"]["must_not"] == [{"ids": {"values": ["t1"]}}]
    assert {"terms": {"status": ["solved", "closed"]}} in q["query"]["bool"]["filter"]
    assert similar_query(["some text"], None, 4)["query"]["bool"]["must_not"] == []


SCOPED_AGENT = {"id": "a1", "role": "agent", "departments": ["billing"]}


def test_a_department_scoped_agent_finds_tickets_of_their_departments_only():
    (scope,) = department_scope(SCOPED_AGENT)
    assert {"terms": {"department": ["billing"]}} in scope["bool"]["should"]
    assert scope in visible_to(SCOPED_AGENT)["bool"]["filter"]
    assert visible_to(SCOPED_AGENT) in suggest_query("refund", "en", 5,
                                                     SCOPED_AGENT)["query"]["bool"]["filter"]
    assert visible_to(SCOPED_AGENT) in fetch_query(["t1"], SCOPED_AGENT)["query"]["bool"]["filter"]
    assert scope in similar_query(["refund"], None, 5, SCOPED_AGENT)["query"]["bool"]["filter"]
    assert scope in search_query({"q": "refund"}, SCOPED_AGENT)["query"]["bool"]["filter"][0][
        "bool"]["filter"]


@pytest.mark.parametrize("actor", [None, {"id": "c", "role": "customer", "departments": ["x"]},
                                   {"id": "s", "role": "supervisor"}, AGENT])
def test_nobody_else_is_narrowed_by_department(actor):
    assert department_scope(actor) == []
