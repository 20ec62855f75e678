"""Index definitions: versioned names behind stable aliases, Russian and English analysis."""
from __future__ import annotations

# 2: every ticket (status, public conversation), not only solved ones
# 3: documents carry search's revision counter as external version (older writes lose);
#    queries drop Russian and English stop words
# 4: approved answers (their own index), articles' translation link, sentence vectors
VERSION = 4
KINDS = ("articles", "tickets", "answers")


def _text() -> dict:
    return {"type": "text", "analyzer": "standard", "fields": {
        "ru": {"type": "text", "analyzer": "russian"},
        "en": {"type": "text", "analyzer": "english"}}}


# For long queries (a whole ticket description): the built-in russian/english analyzers,
# rebuilt as Elasticsearch documents them, plus the other language's stop words, so "the",
# "и", "my" do not count towards minimum_should_match (see domain.QUERY_ANALYZERS).
ANALYSIS = {
    "filter": {
        "english_stop": {"type": "stop", "stopwords": "_english_"},
        "russian_stop": {"type": "stop", "stopwords": "_russian_"},
        "english_stemmer": {"type": "stemmer", "language": "english"},
        "english_possessive_stemmer": {"type": "stemmer", "language": "possessive_english"},
        "russian_stemmer": {"type": "stemmer", "language": "russian"},
    },
    "analyzer": {
        "plain_query": {"tokenizer": "standard",
                        "filter": ["lowercase", "english_stop", "russian_stop"]},
        "russian_query": {"tokenizer": "standard",
                          "filter": ["lowercase", "russian_stop", "english_stop",
                                     "russian_stemmer"]},
        "english_query": {"tokenizer": "standard",
                          "filter": ["english_possessive_stemmer", "lowercase", "english_stop",
                                     "russian_stop", "english_stemmer"]},
    },
}

MAPPING = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0, "analysis": ANALYSIS},
    "mappings": {"dynamic": "strict", "properties": {
        "kind": {"type": "keyword"},
        "article_id": {"type": "keyword"},
        "translation_of": {"type": "keyword"},
        # float16 sentence vectors (semantic.pack), kept with the document, never searched
        "vectors": {"type": "binary"},
        "number": {"type": "integer"},
        "title": _text(),
        "body": _text(),
        "resolution": _text(),
        "conversation": _text(),
        "status": {"type": "keyword"},
        "department": {"type": "keyword"},
        "category": {"type": "keyword"},
        "priority": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "language": {"type": "keyword"},
        "requester_id": {"type": "keyword"},
        "assignee_id": {"type": "keyword"},
        "published": {"type": "boolean"},
        "created_at": {"type": "date"},
        "solved_at": {"type": "date"},
        "updated_at": {"type": "date"},
    }},
}


# Writes that answer only once their documents are searchable: an editor's saved article or
# approved answer is there when the page comes back.  Ticket copies are written from events
# nobody waits on; they become searchable at the next refresh, and waiting for it held
# search's ticket sync up to a second per batch (filed -> indexed p50 1.6 s at 30 tickets/s,
# BENCHMARKS.md fourteenth round).
WAITS_FOR_REFRESH = frozenset({"articles", "answers"})


def serving_settings(kind: str) -> dict:
    """Refreshes of an index in service.  Articles and answers refresh every second, so an
    editor's write waiting for one returns within a second.  Ticket copies keep
    Elasticsearch's default: every second while searches come, none on a shard no search has
    hit for 30 s (``index.search.idle.after``), whose next search waits for one refresh and
    sees every copy written.  A burst of filings nobody searches meanwhile is then indexed
    without a refresh a second: those refreshes were ~70 ms each and 2-3 of Elasticsearch's
    3.7 CPU-ms per ticket (BENCHMARKS.md, nineteenth round)."""
    return {"index": {"refresh_interval": "1s" if kind in WAITS_FOR_REFRESH else None}}


def mapping(kind: str) -> dict:
    """MAPPING with ``kind``'s serving settings, for an index that serves as soon as made.  A
    null ``refresh_interval`` in a new index's settings counts as set (no search-idle
    skipping, measured); in an update it removes the setting.  So it is left out here."""
    refresh = {key: value for key, value in serving_settings(kind)["index"].items()
               if value is not None}
    return dict(MAPPING, settings={**MAPPING["settings"], **refresh})


# While a rebuild loads documents: no refreshes, no replicas; serving_settings before the
# alias moves.
BUILD_SETTINGS = {"index": {"refresh_interval": "-1", "number_of_replicas": 0}}


def alias(prefix: str, kind: str) -> str:
    return f"{prefix}-{kind}"


def versioned(prefix: str, kind: str, version: int = VERSION, build: str | None = None) -> str:
    """``build`` tells apart successive rebuilds of the same mapping version."""
    return f"{prefix}-{kind}-v{version}" + (f"-{build}" if build else "")
