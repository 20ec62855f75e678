"""Search rules with no I/O: what goes into the index, how a customer's words become a query,
and which hits are good enough to show."""
from __future__ import annotations

from html import escape

LANG_FIELDS = ("title", "body", "resolution")

# Hits scoring below this share of the best hit are noise next to it.
RELATIVE_CUTOFF = 0.35
# Confidence: a hit must match most of the customer's words (up to 2 words: all of them).
# Scores alone cannot say this; they depend on corpus size.
MUST_MATCH = "2<70%"


def text_field(boost_title: float = 3.0) -> list[str]:
    """Every analysed variant of the searchable fields, title weighted over body."""
    fields = []
    for name in LANG_FIELDS:
        weight = boost_title if name == "title" else (1.5 if name == "resolution" else 1.0)
        fields += [f"{name}.ru^{weight}", f"{name}.en^{weight}", f"{name}^{weight * 0.5}"]
    return fields


def suggest_query(text: str, language: str | None, limit: int) -> dict:
    """Morphology (language sub-fields) plus typo tolerance (fuzzy match on plain words)."""
    matches_text = {"bool": {"should": [
        {"multi_match": {"query": text, "type": "most_fields", "fields": text_field(),
                         "minimum_should_match": MUST_MATCH}},
        {"multi_match": {"query": text, "fields": ["title^2", "body", "resolution"],
                         "fuzziness": "AUTO", "prefix_length": 1,
                         "minimum_should_match": MUST_MATCH}},
    ], "minimum_should_match": 1}}
    # The reader's language only breaks ties; it never makes a document match on its own.
    prefer_language = [{"term": {"language": {"value": language, "boost": 0.5}}}] if language else []
    return {
        "size": limit,
        "query": {"bool": {
            "must": [matches_text], "should": prefer_language,
            # Only published articles; tickets here are solved ones by construction.
            "filter": [{"bool": {"should": [
                {"term": {"kind": "ticket"}},
                {"term": {"published": True}}]}}],
        }},
        "highlight": {"fields": {"body": {}, "body.ru": {}, "body.en": {},
                                 "resolution": {}, "resolution.ru": {}, "resolution.en": {}},
                      "pre_tags": ["<mark>"], "post_tags": ["</mark>"],
                      "fragment_size": 160, "number_of_fragments": 1,
                      "encoder": "html"},
        "_source": ["kind", "number", "title", "body", "resolution", "language", "article_id"],
    }


def confident_hits(hits: list[dict]) -> list[dict]:
    if not hits:
        return []
    top = hits[0]["_score"]
    return [h for h in hits if h["_score"] >= top * RELATIVE_CUTOFF]


def present_hit(hit: dict) -> dict:
    """For a solved ticket the answer is its resolution, so that is what the snippet shows."""
    src = hit["_source"]
    highlight = hit.get("highlight", {})
    answer_field = "resolution" if src["kind"] == "ticket" else "body"
    fragments = [frags[0] for name, frags in highlight.items()
                 if name.split(".")[0] == answer_field and frags]
    snippet = fragments[0] if fragments else escape((src.get(answer_field) or "")[:160])
    return {"kind": src["kind"], "id": hit["_id"], "number": src.get("number"),
            "title": src["title"], "snippet": snippet, "language": src.get("language"),
            "score": round(hit["_score"], 3)}


def ticket_document(ticket: dict) -> dict:
    """Public content only: no internal notes, no requester contact details."""
    return {"kind": "ticket", "number": ticket["number"], "title": ticket["subject"],
            "body": ticket["description"], "resolution": ticket["resolution"],
            "department": ticket["department"], "category": ticket.get("category"),
            "priority": ticket["priority"], "tags": ticket.get("tags", []),
            "language": ticket["language"], "requester_id": ticket["requester_id"],
            "assignee_id": ticket.get("assignee_id"), "solved_at": ticket["solved_at"],
            "published": False}


def article_document(article: dict) -> dict:
    return {"kind": "article", "article_id": article["_id"], "title": article["title"],
            "body": article["body"], "resolution": "", "language": article["language"],
            "category": article.get("category"), "tags": article.get("tags", []),
            "published": article["published"], "updated_at": article["updated_at"]}
