from datetime import datetime, timezone

import pytest

from services.search.domain import (MUST_MATCH, RELATIVE_CUTOFF, confident_hits, present_hit,
                                    suggest_query, ticket_document)


def test_suggest_query_structure():
    q = suggest_query("printer jams", "ru", 5)
    assert q["size"] == 5
    bool_q = q["query"]["bool"]
    (text_match,) = bool_q["must"]
    clauses = text_match["bool"]["should"]
    assert text_match["bool"]["minimum_should_match"] == 1
    assert all(c["multi_match"]["query"] == "printer jams" for c in clauses)
    assert any(c["multi_match"].get("fuzziness") == "AUTO" for c in clauses)
    # confidence comes from matching most of the words, on every text clause
    assert all(c["multi_match"]["minimum_should_match"] == MUST_MATCH for c in clauses)
    # language only breaks ties: it is a `should`, never a must/filter
    assert bool_q["should"] == [{"term": {"language": {"value": "ru", "boost": 0.5}}}]
    assert "language" not in repr(bool_q["must"]) + repr(bool_q["filter"])
    assert bool_q["filter"] == [{"bool": {"should": [
        {"term": {"kind": "ticket"}}, {"term": {"published": True}}]}}]
    assert q["highlight"]["encoder"] == "html"


def test_suggest_query_without_language_has_no_preference():
    assert suggest_query("vpn", None, 3)["query"]["bool"]["should"] == []


def hits(*scores):
    return [{"_id": str(i), "_score": s} for i, s in enumerate(scores)]


@pytest.mark.parametrize("scores, kept", [
    ((), []),
    ((0.5,), ["0"]),  # no absolute floor: the best hit is always kept
    ((10.0, 10.0 * RELATIVE_CUTOFF, 10.0 * RELATIVE_CUTOFF - 0.01), ["0", "1"]),
    ((10.0, 9.0, 4.0), ["0", "1", "2"]),
    ((20.0, 6.0), ["0"]),
])
def test_confident_hits(scores, kept):
    assert [h["_id"] for h in confident_hits(hits(*scores))] == kept


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
                   "snippet": "<mark>replace</mark> the drum", "language": "en", "score": 4.568}


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
    ("ticket", {"resolution": "", "body": "Broken"}, ""),
    ("ticket", {}, ""),
    ("article", {"body": "x" * 500}, "x" * 160),
])
def test_present_hit_fallback_snippet(kind, source, snippet):
    assert present_hit(hit(source, highlight={}, kind=kind))["snippet"] == snippet


def test_ticket_document_has_public_fields_only():
    ticket = {
        "_id": "t1", "number": 3, "subject": "VPN down", "description": "Cannot connect",
        "resolution": "Update the client", "department": "it", "category": None,
        "priority": "high", "tags": ["vpn"], "language": "en", "requester_id": "u1",
        "requester_email": "secret@example.com", "requester_name": "Secret Person",
        "assignee_id": "a1", "solved_at": datetime(2024, 5, 1, tzinfo=timezone.utc),
        "messages": [{"body": "INTERNAL NOTE", "public": False, "author_role": "agent"}],
    }
    doc = ticket_document(ticket)
    assert set(doc) == {"kind", "number", "title", "body", "resolution", "department",
                        "category", "priority", "tags", "language", "requester_id",
                        "assignee_id", "solved_at", "published"}
    text = repr(doc)
    assert "secret@example.com" not in text and "Secret Person" not in text
    assert "INTERNAL NOTE" not in text
    assert doc["kind"] == "ticket" and doc["published"] is False
    assert (doc["title"], doc["body"], doc["resolution"]) == (
        "VPN down", "Cannot connect", "Update the client")
