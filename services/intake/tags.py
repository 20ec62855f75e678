"""Tag rules with no I/O: one spelling per tag, however people type it."""
from __future__ import annotations

import re
import unicodedata

MAX_TAG_LENGTH = 50
_SPACES = re.compile(r"[\s_]+")
_ALLOWED = re.compile(r"^[\w.+#-]+$")


class TagError(ValueError):
    pass


def normalize_tag(raw: str) -> str:
    """NFKC (full-width letters, ligatures, composed accents become one form), case-folded,
    whitespace and underscores turned into single hyphens, trimmed."""
    tag = unicodedata.normalize("NFKC", raw).casefold().strip()
    tag = _SPACES.sub("-", tag).strip("-")
    # casefold can decompose again (e.g. 'ǰ'); normalise once more so equal tags compare equal.
    tag = unicodedata.normalize("NFKC", tag)
    if not tag:
        raise TagError("a tag cannot be blank")
    if len(tag) > MAX_TAG_LENGTH:
        raise TagError(f"a tag has at most {MAX_TAG_LENGTH} characters")
    if not _ALLOWED.match(tag):
        raise TagError(f"{raw!r}: use letters, digits and - . + #")
    return tag


def normalize_tags(raw_tags: list[str]) -> list[str]:
    """Normalised, duplicates removed, first spelling's order kept."""
    seen: dict[str, None] = {}
    for raw in raw_tags:
        seen.setdefault(normalize_tag(raw), None)
    return list(seen)


def usage_deltas(old: list[str], new: list[str]) -> dict[str, int]:
    """How the tag dictionary's usage counts move when a ticket's tags change."""
    deltas = {tag: 1 for tag in new if tag not in old}
    deltas.update({tag: -1 for tag in old if tag not in new})
    return deltas


def renamed(tags: list[str], old: str, new: str) -> list[str]:
    """A ticket's tags after ``old`` becomes ``new`` (a merge when it already had ``new``)."""
    return normalize_tags([new if tag == old else tag for tag in tags])


def prefix_pattern(prefix: str) -> str:
    """Anchored regex for autocomplete; the prefix is normalised and escaped, never a regex."""
    return "^" + re.escape(normalize_tag(prefix))
