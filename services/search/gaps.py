"""Knowledge gaps, with no I/O: questions typed in the portal that got no confident suggestion
and solved tickets that no article covers, grouped by meaning (Russian and English in one
group: the sentence vectors share one space), and a draft article assembled from a group's
solved tickets for an editor to review, edit and publish.

Grouping is average-linkage agglomerative clustering over cosine similarity, stopped at
``THRESHOLD``: two groups merge while the mean cosine between their members is at least that.
The threshold was chosen on the 72 labelled solved tickets of bench/relevance/tickets.json (12
problems, Russian and English, in customers' words) with ``python -m bench.gaps.threshold``:
0.30 puts no two problems together (pairwise precision 1.00) and keeps 90 % of same-problem
pairs together (recall 0.90, F1 0.95); 0.25 merges different problems (precision 0.65), 0.35
splits more (recall 0.73).  Greedy single-pass clustering was worse at every threshold (best
F1 0.89), so the few extra milliseconds are worth it."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from .redact import GREETING_WORDS, SIGN_OFF_WORDS, redact

THRESHOLD = 0.30
# At most this many items are grouped at once (the newest): each merge scans an n x n matrix,
# so 600 items cost well under a second (bench/gaps/threshold.py measures it).
MAX_ITEMS = 600
EXAMPLES = 3              # examples shown per language
MAX_DRAFT_STEPS = 6       # distinct answers quoted in a draft
SAME_ANSWER = 0.9         # answers closer than this are the same advice said twice


@dataclass
class GapItem:
    """One question left without a confident suggestion, or one solved ticket no article
    covers; ``text`` is redacted already."""
    kind: str                 # "question" | "ticket"
    id: str
    text: str
    language: str | None
    at: datetime
    vector: np.ndarray


@dataclass
class Gap:
    key: str
    questions: list[str] = field(default_factory=list)   # suggest-session ids
    tickets: list[str] = field(default_factory=list)     # ticket ids (search's copy)
    languages: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)
    last_at: datetime | None = None

    @property
    def size(self) -> int:
        return len(self.questions) + len(self.tickets)


def cluster(vectors: np.ndarray, threshold: float = THRESHOLD) -> list[list[int]]:
    """Average-linkage agglomerative clustering of L2-normalised rows: each group's row
    indices, in order of their first member."""
    n = len(vectors)
    if n == 0:
        return []
    sims = (vectors @ vectors.T).astype(np.float64)
    np.fill_diagonal(sims, -np.inf)
    sizes = np.ones(n)
    members: list[list[int]] = [[i] for i in range(n)]
    while n > 1:
        i, j = np.unravel_index(int(np.argmax(sims)), sims.shape)
        if sims[i, j] < threshold:
            break
        merged = (sims[i] * sizes[i] + sims[j] * sizes[j]) / (sizes[i] + sizes[j])
        sims[i], sims[:, i] = merged, merged
        sims[i, i] = -np.inf
        sims[j], sims[:, j] = -np.inf, -np.inf
        sizes[i] += sizes[j]
        members[i] += members[j]
        members[j] = []
    return sorted((sorted(m) for m in members if m), key=lambda m: m[0])


def gap_key(ids: list[str]) -> str:
    return hashlib.sha1("\x1f".join(sorted(ids)).encode()).hexdigest()[:12]


def find_gaps(items: list[GapItem], limit: int, threshold: float = THRESHOLD) -> list[Gap]:
    """The biggest groups first (then the most recent); a group of one counts too (a
    question asked once is still a question the knowledge base could not answer)."""
    items = sorted(items, key=lambda it: it.at, reverse=True)[:MAX_ITEMS]
    if not items:
        return []
    groups = cluster(np.stack([it.vector for it in items]), threshold)
    gaps = []
    for rows in groups:
        members = [items[r] for r in rows]
        gap = Gap(key=gap_key([f"{m.kind}:{m.id}" for m in members]),
                  last_at=max(m.at for m in members))
        for m in members:
            (gap.questions if m.kind == "question" else gap.tickets).append(m.id)
            language = m.language or "?"
            gap.languages[language] = gap.languages.get(language, 0) + 1
            shown = gap.examples.setdefault(language, [])
            if len(shown) < EXAMPLES and m.text not in shown:
                shown.append(m.text)
        gaps.append(gap)
    gaps.sort(key=lambda g: (-g.size, -g.last_at.timestamp(), g.key))
    return gaps[:limit]


# ---------------------------------------------------------------------------- drafts

@dataclass
class Source:
    """A solved ticket of the group as the draft uses it: its subject, and its answer (the
    approved answer if an agent approved one, else the last public reply), both redacted."""
    ticket_id: str
    language: str
    title: str
    answer: str
    vector: np.ndarray


# A reply's greeting and sign-off, once the name in them is a placeholder, say nothing an
# article needs ("Hello [name],", "Здравствуйте!", "Regards, [name]").
_GREETING_LINE = re.compile(rf"(?i)^\s*{GREETING_WORDS}(?:,?\s*\[name\])?\s*[,!.]?\s*")
_SIGN_OFF_LINE = re.compile(rf"(?i)\s*{SIGN_OFF_WORDS}\s*[,.!]?\s*(?:\[name\])?\s*[.!]?\s*$")


def _tidy(answer: str) -> str:
    return _SIGN_OFF_LINE.sub("", _GREETING_LINE.sub("", answer)).strip()


def source(ticket: dict, approved: dict | None, names: list[str], vector: np.ndarray
           ) -> Source:
    answer = approved["body"] if approved else ticket.get("resolution") or ""
    return Source(ticket["_id"], ticket["language"], redact(ticket["title"], names).text,
                  _tidy(redact(answer, names).text), vector)


HEADINGS = {"en": ("Problem", "How we solved it", "Asked as"),
            "ru": ("Проблема", "Как решили", "Как спрашивали")}


def _central(sources: list[Source]) -> Source:
    """The one nearest the group's mean: its subject names the problem best."""
    mean = np.mean([s.vector for s in sources], axis=0)
    return max(sources, key=lambda s: (float(s.vector @ mean), s.ticket_id))


def _distinct_answers(sources: list[Source]) -> list[str]:
    """Answers in order of how central their ticket is, near-repeats of one already taken
    left out (by words: the same advice in other words differs, and is kept)."""
    mean = np.mean([s.vector for s in sources], axis=0)
    kept: list[str] = []
    for s in sorted(sources, key=lambda s: -float(s.vector @ mean)):
        words = set(re.findall(r"\w+", s.answer.lower()))
        if not words or any(_overlap(words, set(re.findall(r"\w+", k.lower()))) >= SAME_ANSWER
                            for k in kept):
            continue
        kept.append(s.answer.strip())
    return kept[:MAX_DRAFT_STEPS]


def _overlap(a: set, b: set) -> float:
    return len(a & b) / max(1, min(len(a), len(b)))


def draft_articles(key: str, sources: list[Source], questions: dict[str, list[str]]
                   ) -> list[dict]:
    """One unpublished article per language the group's tickets were written in (the most
    common language first; the others are its translations), each from that language's
    tickets: the central ticket's subject as title, its answers as the body, and how customers
    asked (``questions``: redacted question texts by language)."""
    by_language: dict[str, list[Source]] = {}
    for s in sources:
        by_language.setdefault(s.language, []).append(s)
    ordered = sorted(by_language, key=lambda lang: (-len(by_language[lang]), lang))
    articles = []
    for language in ordered:
        group = by_language[language]
        problem, solved, asked = HEADINGS.get(language, HEADINGS["en"])
        central = _central(group)
        lines = [f"{problem}: {central.title}", "", f"{solved}:"]
        lines += [f"- {answer}" for answer in _distinct_answers(group)]
        examples = [t.title for t in group if t.title != central.title][:EXAMPLES]
        examples += questions.get(language, [])[:EXAMPLES]
        if examples:
            lines += ["", f"{asked}:"] + [f"- {e}" for e in examples]
        articles.append({"id": f"gap-{key}-{language}", "title": central.title[:200],
                         "body": "\n".join(lines)[:50_000], "language": language,
                         "published": False, "tags": ["from-tickets"],
                         "translation_of": None if not articles else articles[0]["id"]})
    return articles
