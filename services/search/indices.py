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
    "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s",
                 "analysis": ANALYSIS},
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


# While a rebuild loads documents: no refreshes, no replicas; restored before the alias moves.
BUILD_SETTINGS = {"index": {"refresh_interval": "-1", "number_of_replicas": 0}}
SERVING_SETTINGS = {"index": {"refresh_interval": "1s"}}

# Writes that answer only once their documents are searchable: an editor's saved article or
# approved answer is there when the page comes back.  Ticket copies are written from events
# nobody waits on; they become searchable at the next scheduled refresh (within 1 s), and
# waiting for it held search's ticket sync up to a second per batch (filed -> indexed p50
# 1.6 s at 30 tickets/s, BENCHMARKS.md fourteenth round).
WAITS_FOR_REFRESH = frozenset({"articles", "answers"})


def alias(prefix: str, kind: str) -> str:
    return f"{prefix}-{kind}"


def versioned(prefix: str, kind: str, version: int = VERSION, build: str | None = None) -> str:
    """``build`` tells apart successive rebuilds of the same mapping version."""
    return f"{prefix}-{kind}-v{version}" + (f"-{build}" if build else "")
