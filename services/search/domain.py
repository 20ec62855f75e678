"""Search rules with no I/O: what goes into the index, who may see which document, how people's
words become a query, and which hits are good enough to show."""
from __future__ import annotations

import hashlib
import re
from html import escape

from services.intake.schemas import STAFF

from .redact import redact
from .semantic import for_index

LANG_FIELDS = ("title", "body", "resolution")
ANSWERED = ("solved", "closed")

# Confidence: a hit must match most of the customer's words (up to 2 words: all of them; 3-5:
# 70 %); the share falls as texts grow (6-9: half; 10+: a fifth), because the ticket form sends
# a whole subject and description.  Scores alone cannot say this; they depend on corpus size.
# Tuned with bench/relevance (BENCHMARKS.md: long queries hit@1 0 -> .90, silence kept).
MUST_MATCH = "2<70% 5<50% 9<20%"
# Longer than this many words: stop words are dropped before matching (indices.ANALYSIS).
LONG_QUERY_WORDS = 8
QUERY_ANALYZERS = {"ru": "russian_query", "en": "english_query", None: "plain_query"}

# Control characters (except tab/newline) carry no meaning in a query and upset highlighters.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean_query(text: str) -> str:
    """User text is only ever matched as words, never parsed as Lucene syntax; this just drops
    control characters and squeezes whitespace."""
    return " ".join(_CONTROL.sub(" ", text).split())


def text_field(variant: str | None, names: tuple[str, ...]) -> list[str]:
    """Analysed variants of the searchable fields ``names``, title weighted over body:
    ``variant`` is "ru", "en" or None (the plain, standard-analysed fields)."""
    fields = []
    for name in names:
        weight = {"title": 3.0, "resolution": 1.5}.get(name, 1.0)
        if variant is None:
            fields.append(f"{name}^{weight * 0.5}")
        else:
            fields.append(f"{name}.{variant}^{weight}")
    return fields


# ---------------------------------------------------------------------------- who sees what

def is_staff(actor: dict | None) -> bool:
    return bool(actor) and actor.get("role") in STAFF


PUBLISHED_ARTICLES = {"bool": {"filter": [{"term": {"kind": "article"}},
                                          {"term": {"published": True}}]}}
# Answers an agent approved for reuse, personal data removed (see approve_answer): the only
# way another customer's solved ticket reaches the public.
PUBLISHED_ANSWERS = {"bool": {"filter": [{"term": {"kind": "answer"}},
                                         {"term": {"published": True}}]}}
PUBLIC = {"bool": {"should": [PUBLISHED_ARTICLES, PUBLISHED_ANSWERS], "minimum_should_match": 1}}
ANSWERED_TICKETS = {"bool": {"filter": [{"term": {"kind": "ticket"}},
                                        {"terms": {"status": list(ANSWERED)}},
                                        {"exists": {"field": "resolution"}}]}}


def department_scope(actor: dict | None) -> list[dict]:
    """A department-scoped agent (``departments`` in the actor) finds tickets of those
    departments only, articles all; other readers are not narrowed here (an empty list)."""
    scope = (actor or {}).get("departments")
    if not is_staff(actor) or scope is None:
        return []
    return [{"bool": {"should": [{"bool": {"must_not": [{"term": {"kind": "ticket"}}]}},
                                 {"terms": {"department": list(scope)}}],
                      "minimum_should_match": 1}}]


def visible_to(actor: dict | None) -> dict:
    """One filter clause saying which documents ``actor`` may find, inside the query itself:
    staff see every ticket, article (drafts too) and answer, a department-scoped agent tickets
    of their departments only; a customer sees published articles and approved answers and
    their own tickets; anyone else (not signed in) only the former."""
    if is_staff(actor):
        every = {"terms": {"kind": ["article", "ticket", "answer"]}}
        scope = department_scope(actor)
        return {"bool": {"filter": [every, *scope]}} if scope else every
    if actor and actor.get("role") == "customer":
        return {"bool": {"should": [PUBLIC, own_tickets(actor)], "minimum_should_match": 1}}
    return PUBLIC


def own_tickets(actor: dict) -> dict:
    return {"bool": {"filter": [{"term": {"kind": "ticket"}},
                                {"term": {"requester_id": actor["id"]}}]}}


def suggested_kinds(actor: dict | None) -> tuple[str, ...]:
    """The indices a reader's suggestions can come from: one not signed in is suggested only
    published articles and approved answers, so the tickets index (the big one) is not asked
    at all; customers (their own solved tickets) and staff ask all three."""
    return ("articles", "tickets", "answers") if actor else ("articles", "answers")


# Suggestions: published articles, approved answers and solved tickets, narrowed by
# ``visible_to``: another customer's ticket is never suggested, in any form.
SUGGESTABLE = {"bool": {"should": [PUBLIC, ANSWERED_TICKETS], "minimum_should_match": 1}}


def answer_ref(ticket_id: str) -> str:
    """The id of the approved answer made from a ticket: stable (feedback can name it),
    one-way (it gives nothing away about the ticket)."""
    return "answer-" + hashlib.sha256(f"search-answer:{ticket_id}".encode()).hexdigest()[:32]


ANSWER_REF = re.compile(r"answer-[0-9a-f]{32}")


# ---------------------------------------------------------------------------- queries

def _matches_text(text: str, names: tuple[str, ...] = LANG_FIELDS,
                  spelled: str | None = None) -> dict:
    """Morphology (language sub-fields) plus typo tolerance on plain words, over the fields
    ``names``: ``spelled``, the text with its typos already corrected against the knowledge
    base (understanding.Speller), matched exactly; without it, a fuzzy match of ``text``
    (~3/4 of Elasticsearch's CPU for a suggestion, BENCHMARKS.md).  A long text (a ticket's subject and
    description) is matched without stop words, so the share of words that must match counts
    words that carry meaning."""
    long = len(text.split()) > LONG_QUERY_WORDS

    def words(clause: dict, variant: str | None) -> dict:
        if long:
            clause["analyzer"] = QUERY_ANALYZERS[variant]
        return {"multi_match": clause}
    fuzzy_fields = [{"title": "title^2"}.get(name, name) for name in names]
    return {"bool": {"should": [
        *(words({"query": text, "type": "most_fields",
                 "fields": text_field(variant=variant, names=names),
                 "minimum_should_match": MUST_MATCH}, variant) for variant in QUERY_ANALYZERS),
        words({"query": spelled, "fields": fuzzy_fields, "minimum_should_match": MUST_MATCH}
              if spelled is not None else
              {"query": text, "fields": fuzzy_fields, "fuzziness": "AUTO", "prefix_length": 1,
               "minimum_should_match": MUST_MATCH}, None),
    ], "minimum_should_match": 1}}


HIGHLIGHT = {"fields": {"body": {}, "body.ru": {}, "body.en": {},
                        "resolution": {}, "resolution.ru": {}, "resolution.en": {}},
             "pre_tags": ["<mark>"], "post_tags": ["</mark>"],
             "fragment_size": 160, "number_of_fragments": 1, "encoder": "html"}
SHOWN_FIELDS = ["kind", "number", "title", "body", "resolution", "language", "article_id",
                "status", "updated_at", "requester_id", "translation_of"]


def suggest_query(text: str, language: str | None, limit: int,
                  actor: dict | None = None, spelled: str | None = None) -> dict:
    """``spelled``: see ``_matches_text``."""
    # The reader's language only breaks ties; it never makes a document match on its own.
    prefer_language = [{"term": {"language": {"value": language, "boost": 0.5}}}] if language else []
    return {
        "size": limit,
        "query": {"bool": {
            "must": [_matches_text(text, spelled=spelled)],
            "should": prefer_language,
            "filter": [SUGGESTABLE, visible_to(actor)],
        }},
        "highlight": HIGHLIGHT,
        "_source": SHOWN_FIELDS,
    }


# Similar tickets are for agents only (the portal checks the role before calling).
STAFF_READER = {"id": "search", "role": "agent"}


def fetch_query(ids: list[str], actor: dict | None, tickets_only: bool = False) -> dict:
    """Semantic candidates by id, only those ``actor`` may be suggested."""
    scope = ANSWERED_TICKETS if tickets_only else SUGGESTABLE
    return {"size": max(len(ids), 1), "_source": SHOWN_FIELDS,
            "query": {"bool": {"filter": [{"ids": {"values": ids}}, scope, visible_to(actor)]}}}


SIMILAR_FIELDS = ["title.ru", "title.en", "body.ru", "body.en", "conversation.ru",
                  "conversation.en"]


def similar_query(like: list, exclude_id: str | None, limit: int,
                  actor: dict | None = None) -> dict:
    """Solved tickets worded like ``like`` (documents or text), never the ticket itself; of
    a department-scoped agent's departments only."""
    return {
        "size": limit,
        "query": {"bool": {
            "must": [{"more_like_this": {
                "fields": SIMILAR_FIELDS, "like": like, "min_term_freq": 1, "min_doc_freq": 1,
                "max_query_terms": 30, "minimum_should_match": "30%"}}],
            "filter": [{"term": {"kind": "ticket"}}, {"terms": {"status": list(ANSWERED)}},
                       {"exists": {"field": "resolution"}}, *department_scope(actor)],
            "must_not": [{"ids": {"values": [exclude_id]}}] if exclude_id else [],
        }},
        "highlight": HIGHLIGHT,
        "_source": SHOWN_FIELDS,
    }


SORTS = {"relevance": ["_score", {"updated_at": {"order": "desc", "unmapped_type": "date"}}],
         "date": [{"updated_at": {"order": "desc", "unmapped_type": "date"}}, "_score"]}


def search_query(params: dict, actor: dict | None) -> dict:
    """Full text (optional) with filters, sorted and paged; visibility is always a filter."""
    filters = [visible_to(actor)]
    if params.get("kind"):
        filters.append({"term": {"kind": params["kind"]}})
    for name in ("status", "priority", "department", "assignee_id", "language", "category"):
        if params.get(name):
            filters.append({"term": {name: params[name]}})
    for tag in params.get("tags") or []:
        filters.append({"term": {"tags": tag}})
    dates = {op: params[key].isoformat() for op, key in (("gte", "created_from"),
                                                          ("lte", "created_to"))
             if params.get(key)}
    if dates:
        filters.append({"range": {"created_at": dates}})
    must = [_matches_text(params["q"])] if params.get("q") else [{"match_all": {}}]
    page, per_page = params.get("page", 1), params.get("per_page", 20)
    return {"from": (page - 1) * per_page, "size": per_page, "track_total_hits": True,
            "query": {"bool": {"must": must, "filter": filters}},
            "sort": SORTS[params.get("sort") or "relevance"],
            "highlight": HIGHLIGHT, "_source": SHOWN_FIELDS}


# ---------------------------------------------------------------------------- results

def present_hit(hit: dict) -> dict:
    """For a solved ticket the answer is its resolution, so that is what the snippet shows
    (only staff and the ticket's own requester ever get a ticket: ``visible_to``)."""
    src = hit["_source"]
    highlight = hit.get("highlight", {})
    doc_id = hit["_id"]
    answer_field = "resolution" if src["kind"] == "ticket" and src.get("resolution") else "body"
    fragments = [frags[0] for name, frags in highlight.items()
                 if name.split(".")[0] == answer_field and frags]
    snippet = fragments[0] if fragments else escape((src.get(answer_field) or "")[:160])
    score = hit.get("_score")
    return {"kind": src["kind"], "id": doc_id, "number": src.get("number"),
            "title": src["title"], "snippet": snippet, "language": src.get("language"),
            "status": src.get("status"), "score": round(score, 3) if score else None}


# ---------------------------------------------------------------------------- documents

def ticket_document(number: int, state: dict) -> dict:
    """From the ticket state intake's events carry (events.TicketState: public content only,
    no requester contact details).  A solved or closed ticket's answer is its latest public
    staff reply."""
    doc = {"kind": "ticket", "number": number, "title": state["subject"],
           "body": state["description"], "conversation": "\n".join(state["conversation"]),
           "status": state["status"], "department": state["department"],
           "category": state.get("category"), "priority": state["priority"],
           "tags": state.get("tags", []), "language": state["language"],
           "requester_id": state["requester_id"], "assignee_id": state.get("assignee_id"),
           "created_at": state["created_at"], "updated_at": state["updated_at"],
           "solved_at": state.get("solved_at"), "published": False}
    if state["status"] in ANSWERED and state["last_public_reply"]:
        doc["resolution"] = state["last_public_reply"]
    return doc


def article_document(article: dict) -> dict:
    return {"kind": "article", "article_id": article["_id"], "title": article["title"],
            "body": article["body"], "language": article["language"],
            "translation_of": article.get("translation_of"),
            "vectors": for_index(article.get("vectors")),
            "category": article.get("category"), "tags": article.get("tags", []),
            "published": article["published"],
            "created_at": article.get("created_at") or article["updated_at"],
            "updated_at": article["updated_at"]}


BOOKKEEPING = ("_id", "indexed", "rev", "saved_at", "index_error", "index_rejections",
               "answer_ref", "assigned_at", "vectors_key", "changed_at")


def stored_ticket_document(stored: dict) -> dict:
    """Search's Mongo copy of a ticket is already the index document, plus bookkeeping."""
    doc = {k: v for k, v in stored.items() if k not in BOOKKEEPING}
    doc["vectors"] = for_index(stored.get("vectors"))
    return doc


def revision(stored: dict) -> int:
    """The stored revision counter, which is also the Elasticsearch external version (copies
    saved before counters existed count as 0: any later save supersedes them)."""
    rev = stored.get("rev")
    return rev if isinstance(rev, int) and not isinstance(rev, bool) else 0


def answer_draft(ticket: dict, names: list[str]) -> dict:
    """What an agent is shown before approving a solved ticket for reuse: its subject and
    answer with personal data replaced (and how much of each kind was removed)."""
    title, body = redact(ticket["title"], names), redact(ticket.get("resolution") or "", names)
    removed = dict(title.removed)
    for kind, count in body.removed.items():
        removed[kind] = removed.get(kind, 0) + count
    return {"id": answer_ref(ticket["_id"]), "number": ticket["number"], "title": title.text,
            "body": body.text, "language": ticket["language"], "removed": removed}


def answer_record(ticket: dict, approved: dict, names: list[str], actor: dict,
                  now) -> dict:
    """The approved answer as search keeps it: the agent's (possibly edited) text, redacted
    once more in case an edit brought personal data back."""
    return {"_id": answer_ref(ticket["_id"]), "ticket_id": ticket["_id"],
            "title": redact(approved["title"], names).text,
            "body": redact(approved["body"], names).text, "language": ticket["language"],
            "published": True, "approved_by": actor["id"], "approved_at": now,
            "updated_at": now}


def answer_document(answer: dict) -> dict:
    """The index copy: no link to the ticket it came from."""
    return {"kind": "answer", "title": answer["title"], "body": answer["body"],
            "language": answer["language"], "published": answer["published"],
            "vectors": for_index(answer.get("vectors")),
            "created_at": answer["approved_at"], "updated_at": answer["updated_at"]}


def public_answer_view(answer: dict) -> dict:
    """An approved answer as anyone may read it: its text, never who approved it or which
    ticket it came from."""
    return {"id": answer["_id"], "title": answer["title"], "body": answer["body"],
            "language": answer["language"], "updated_at": answer["updated_at"].isoformat()}


def answer_view(answer: dict) -> dict:
    return dict(public_answer_view(answer), published=answer["published"],
                approved_by=answer["approved_by"])


# index kind -> how its Mongo record becomes an index document
TO_DOCUMENT = {"articles": article_document, "tickets": stored_ticket_document,
               "answers": answer_document}
