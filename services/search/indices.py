"""Index definitions: versioned names behind stable aliases, Russian and English analysis."""
from __future__ import annotations

VERSION = 1
KINDS = ("articles", "tickets")


def _text() -> dict:
    return {"type": "text", "analyzer": "standard", "fields": {
        "ru": {"type": "text", "analyzer": "russian"},
        "en": {"type": "text", "analyzer": "english"}}}


MAPPING = {
    "settings": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
    "mappings": {"dynamic": "strict", "properties": {
        "kind": {"type": "keyword"},
        "article_id": {"type": "keyword"},
        "number": {"type": "integer"},
        "title": _text(),
        "body": _text(),
        "resolution": _text(),
        "department": {"type": "keyword"},
        "category": {"type": "keyword"},
        "priority": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "language": {"type": "keyword"},
        "requester_id": {"type": "keyword"},
        "assignee_id": {"type": "keyword"},
        "published": {"type": "boolean"},
        "solved_at": {"type": "date"},
        "updated_at": {"type": "date"},
    }},
}


def alias(prefix: str, kind: str) -> str:
    return f"{prefix}-{kind}"


def versioned(prefix: str, kind: str, version: int = VERSION) -> str:
    return f"{prefix}-{kind}-v{version}"
