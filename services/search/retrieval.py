"""Suggestions and similar tickets: lexical candidates (Elasticsearch, Russian/English analysed
fields, typo tolerant) UNION semantic candidates (nearest sentence vectors kept in process),
fused so exact terms still win, one document per translation group shown in the reader's
language, and a calibrated confidence below which nothing is suggested."""
from __future__ import annotations

import ctypes
import functools
import json
import math
import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from . import domain, semantic, understanding
from .index import SearchIndex

CONFIDENCE_FILE = Path(__file__).with_name("confidence.json")
SEMANTIC_CANDIDATES = 20
REFRESH_MARGIN = timedelta(seconds=10)
# A refresh that brought in at least this many records (the first one, after a restart) gives
# the memory its reading left behind back to the operating system.
BULK_REFRESH = 1000
LEXICAL_CANDIDATES = 20
# A semantic candidate this far below the best cosine is noise next to it; so is any answer
# this far below the best fused score.
COSINE_BAND = 0.2
FUSED_BAND = 0.2
# Found by meaning alone, a document must be at least this close (USE cosines of unrelated
# texts sit around 0-0.2; answers to a question above 0.3 in bench/relevance).
MIN_COSINE = 0.25


@functools.lru_cache(maxsize=4)
def load_confidence(path: Path = CONFIDENCE_FILE) -> dict:
    return json.loads(path.read_text())


def embed_records(kind: str, records: list[dict], everything: bool = False
                  ) -> list[tuple[str, bytes, str]]:
    """Encode the records whose text changed since their vectors were made (``everything``:
    all of them, after a model change), in one batch; the records get their new vectors too,
    so the index copy carries them."""
    todo = _stale(kind, records, everything)
    return _store(todo, _packed([texts for _, _, texts in todo]))


def embed_batches(kind: str, batches: Iterable[list[dict]], everything: bool = False,
                  workers: int = 1) -> Iterator[tuple[list[dict], list[tuple[str, bytes, str]]]]:
    """``embed_records`` over many batches, yielding ``(batch, encoded)`` in order.  With
    ``workers`` > 1 the encoding runs in that many processes, a few batches ahead of the
    consumer: one encoder thread is the bottleneck of a rebuild that re-encodes (the model is
    pinned to one BLAS thread), and the consumer's bulk indexing overlaps with it."""
    if workers <= 1:
        for batch in batches:
            yield batch, embed_records(kind, batch, everything)
        return
    ahead: deque = deque()

    def oldest():
        batch, todo, packed = ahead.popleft()
        return batch, _store(todo, packed.result())

    # spawn, not fork: the caller may run threads (the bulk indexer's) holding locks.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")
                             ) as pool:
        for batch in batches:
            todo = _stale(kind, batch, everything)
            ahead.append((batch, todo, pool.submit(_packed, [texts for _, _, texts in todo])))
            if len(ahead) > 2 * workers:
                yield oldest()
        while ahead:
            yield oldest()


def _stale(kind: str, records: list[dict], everything: bool) -> list[tuple[dict, str, list[str]]]:
    todo = []
    for record in records:
        key = semantic.vectors_key(domain.TO_DOCUMENT[kind](record))
        if key and (everything or record.get("vectors_key") != key):
            todo.append((record, key, semantic.passages(domain.TO_DOCUMENT[kind](record))))
    return todo


def _packed(passages: list[list[str]]) -> list[bytes]:
    """Each record's passages encoded (in one batch) and packed."""
    vectors = semantic.encode([p for texts in passages for p in texts])
    out, start = [], 0
    for texts in passages:
        out.append(semantic.pack(vectors[start:start + len(texts)]))
        start += len(texts)
    return out


def _store(todo: list[tuple[dict, str, list[str]]], packed: list[bytes]
           ) -> list[tuple[str, bytes, str]]:
    out = []
    for (record, key, _), blob in zip(todo, packed):
        record.update(vectors=blob, vectors_key=key)
        out.append((record["_id"], blob, key))
    return out


def present(candidate: Candidate) -> dict:
    return dict(domain.present_hit(candidate.hit), score=round(candidate.fused, 3))


@dataclass
class Candidate:
    id: str
    hit: dict | None = None
    lexical: float = 0.0      # Elasticsearch score / best one (0: not a lexical match)
    cosine: float = 0.0
    fused: float = 0.0


def fuse(candidates: dict[str, Candidate], weight: float) -> list[Candidate]:
    """cosine + weight x normalised lexical score: a document matching the words (an error
    code, a product name) beats one that is only about the same thing."""
    for c in candidates.values():
        c.fused = c.cosine + weight * c.lexical
    return sorted(candidates.values(), key=lambda c: (-c.fused, c.id))


def features(ranked: list[Candidate], known_share: float) -> list[float]:
    """What the confidence model sees of an answer list (see bench/relevance/calibrate.py)."""
    top = ranked[0]
    second = ranked[1].fused if len(ranked) > 1 else 0.0
    return [top.cosine, top.lexical, float(top.lexical > 0), top.fused - second, known_share]


def confidence(values: list[float], model: dict) -> float:
    z = model["intercept"] + sum(w * v for w, v in zip(model["coefficients"], values))
    return 1.0 / (1.0 + math.exp(-z))


# ---------------------------------------------------------------------------- vectors in memory

@dataclass
class Neighbours:
    """The vector sets of one search process, refreshed from search's Mongo copy (every
    replica reads what any of them indexed): ``public`` holds published articles and approved
    answers, ``tickets`` answered tickets."""
    public: semantic.VectorSet = field(default_factory=semantic.VectorSet)
    tickets: semantic.VectorSet = field(default_factory=semantic.VectorSet)
    since: dict[str, datetime] = field(default_factory=dict)
    _known: set[str] | None = None
    _speller: understanding.Speller | None = None
    _languages: dict[tuple[str, str | None], str] | None = None  # (group, language) -> id
    _state: dict[str, int] = field(default_factory=dict)  # id -> hash of what was applied

    def refresh(self, store) -> int:
        """Everything on the first call, then what was indexed or encoded since the previous
        call (less a margin for replicas' clocks and writes in flight); unchanged records are
        skipped, so the matrix is rebuilt only when something in it changed."""
        changed = 0
        for kind in domain.TO_DOCUMENT:
            began = datetime.now(timezone.utc)
            for record in store.changed_since(kind, self.since.get(kind)):
                changed += self.apply(kind, record)
            self.since[kind] = began - REFRESH_MARGIN
        return self._settled(changed)

    def take(self, kind: str, records: list[dict]) -> int:
        """Records of ``kind`` this process has just indexed, as they were sent, without
        reading them back: a ticket sync's own copies are mostly open tickets, which hold no
        vectors, and the read per sync of every kind cost more than the sync's bulk.  What
        other replicas index reaches this one at the sweep's ``refresh``."""
        return self._settled(sum(self.apply(kind, record) for record in records))

    def _settled(self, changed: int) -> int:
        self.public.settle()
        self.tickets.settle()
        if changed >= BULK_REFRESH:
            release_freed_memory()
        return changed

    def apply(self, kind: str, record: dict) -> bool:
        doc = domain.TO_DOCUMENT[kind](record)
        target = self.tickets if kind == "tickets" else self.public
        listed = bool(doc.get("status") in domain.ANSWERED and doc.get("resolution")
                      if kind == "tickets" else doc.get("published"))
        state = hash((record.get("vectors_key"), listed, doc.get("translation_of"),
                      doc.get("title"), doc.get("body")))
        if self._state.get(record["_id"]) == state:
            return False
        self._state[record["_id"]] = state
        if not (listed and record.get("vectors")):
            target.drop(record["_id"])
        else:
            # Answered tickets need no entry (only their vectors); words for the vocabulary
            # are the knowledge base's only (see ``known``).
            entry = semantic.Entry(
                kind=doc["kind"], language=doc.get("language"),
                group=doc.get("translation_of") or record["_id"],
                text=" ".join(filter(None, (doc.get("title"), doc.get("body"))))
            ) if target is self.public else None
            target.put(record["_id"], entry, semantic.unpack(record["vectors"]))
        if target is self.public:
            self._known = self._languages = self._speller = None
        return True

    def known(self) -> set[str]:
        """The knowledge base's words (published articles, approved answers): never a
        private ticket's, which would tell a reader what other customers wrote."""
        if self._known is None:
            self._known = understanding.vocabulary(e.text for e in self.public.entries.values())
        return self._known

    def speller(self) -> understanding.Speller:
        """Typo correction against the same words as ``known``."""
        if self._speller is None:
            self._speller = understanding.Speller(e.text for e in self.public.entries.values())
        return self._speller

    def in_language(self, doc_id: str, language: str | None) -> str:
        """The translation of a public article in ``language``, if there is one."""
        entry = self.public.entries.get(doc_id)
        if not language or entry is None or entry.language == language:
            return doc_id
        if self._languages is None:
            self._languages = {(e.group, e.language): i for i, e in self.public.entries.items()}
        return self._languages.get((entry.group, language), doc_id)


def release_freed_memory() -> None:
    """glibc keeps the heap that reading 100,000 records and their vectors used (pages of
    freed small blocks) mapped: measured, 56 of the search process's MB after the first
    load.  ``malloc_trim`` hands it back; elsewhere (no glibc) nothing happens."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------------------- the pipeline

class Retrieval:
    def __init__(self, index: SearchIndex, neighbours: Neighbours, model: dict | None = None):
        self.index, self.neighbours = index, neighbours
        self.model = model or load_confidence()

    def suggest(self, text: str, language: str | None, limit: int, actor: dict | None,
                abstain: bool = True) -> tuple[list[Candidate], float]:
        known = self.neighbours.known()
        text = understanding.understood(text, known)
        query = semantic.encode_query(text)
        near = self.neighbours.public.nearest(query, SEMANTIC_CANDIDATES)
        if domain.is_staff(actor):
            near += self.neighbours.tickets.nearest(query, SEMANTIC_CANDIDATES)
        near = _banded(near)
        # One round trip: the lexical search, and the semantic candidates (with their
        # translations in the reader's language, in case one is shown instead) by id, under
        # the reader's visibility filter.
        wanted = list(dict.fromkeys([i for i, _ in near] + [
            self.neighbours.in_language(i, language) for i, _ in near]))
        kinds = domain.suggested_kinds(actor)
        searches = [domain.suggest_query(text, language, LEXICAL_CANDIDATES, actor,
                                         spelled=self._spelled(text, kinds))]
        if wanted:
            searches.append(domain.fetch_query(wanted, actor))
        lexical_hits, fetched = (self.index.msearch(searches, kinds=kinds) + [[]])[:2]
        candidates = self._candidates(lexical_hits, fetched, near, query)
        ranked = fuse(candidates, self.model["lexical_weight"])
        ranked = [c for c in ranked if c.fused >= ranked[0].fused - FUSED_BAND] if ranked else []
        hits = {h["_id"]: h for h in fetched + lexical_hits}
        ranked = self._one_per_group(ranked, language, actor, hits)[:limit]
        if not ranked:
            return [], 0.0
        sure = confidence(features(ranked, understanding.known_share(text, known)), self.model)
        if abstain and sure < self.model["threshold"]:
            return [], sure
        return ranked, sure

    def _spelled(self, text: str, kinds: tuple[str, ...]) -> str | None:
        """``text`` with its typos corrected, for an exact query instead of a fuzzy one;
        None (fuzzy as before) when a word stays unknown and tickets are searched too: their
        words are not in the vocabulary (it is the knowledge base's only), so only a fuzzy
        query can still find a misspelt one there."""
        spelled, resolved = self.neighbours.speller().correct(text)
        return spelled if resolved or "tickets" not in kinds else None

    def similar(self, text: str, exclude_id: str | None, limit: int,
                reader: dict) -> list[Candidate]:
        """Answered tickets worded like ``text`` or meaning the same, never ``exclude_id``; of
        a department-scoped ``reader``'s departments only."""
        query = semantic.encode([text[:2000]])[0]
        near = _banded([(i, c) for i, c in self.neighbours.tickets.nearest(
            query, SEMANTIC_CANDIDATES + 1) if i != exclude_id])
        lexical = domain.similar_query([text], exclude_id, LEXICAL_CANDIDATES, reader)
        fetch = domain.fetch_query([i for i, _ in near], reader, tickets_only=True)
        lexical_hits, fetched = self.index.msearch([lexical, fetch], kinds=("tickets",))
        candidates = self._candidates(lexical_hits, fetched, near, query)
        return fuse(candidates, self.model["similar_lexical_weight"])[:limit]

    def _candidates(self, lexical_hits, fetched, near, query) -> dict[str, Candidate]:
        found: dict[str, Candidate] = {}
        top = lexical_hits[0]["_score"] if lexical_hits else 1.0
        for hit in lexical_hits:
            found[hit["_id"]] = Candidate(hit["_id"], hit, lexical=hit["_score"] / top)
        cosines = dict(near)
        for hit in fetched:  # semantic candidates the reader may see (ES filtered them)
            if hit["_id"] in cosines:  # (not a translation fetched only to be shown)
                found.setdefault(hit["_id"], Candidate(hit["_id"], hit))
        for c in found.values():
            c.cosine = cosines.get(c.id) or self._cosine(c.id, query)
        return {i: c for i, c in found.items() if c.lexical > 0 or c.cosine >= MIN_COSINE}

    def _cosine(self, doc_id: str, query: np.ndarray) -> float:
        for vectors in (self.neighbours.public, self.neighbours.tickets):
            if doc_id in vectors:
                return vectors.cosine(doc_id, query)
        return 0.0

    def _one_per_group(self, ranked: list[Candidate], language: str | None,
                       actor: dict | None, hits: dict[str, dict]) -> list[Candidate]:
        """An article and its translations are one answer: shown once, in the reader's
        language when that translation exists (its hit usually came with the candidates in
        ``hits``; otherwise it is fetched, under the reader's visibility filter)."""
        out, groups, swap = [], set(), {}
        for c in ranked:
            entry = self.neighbours.public.entries.get(c.id)
            group = entry.group if entry else c.id
            if group in groups:
                continue
            groups.add(group)
            shown = self.neighbours.in_language(c.id, language)
            if shown != c.id:
                swap[shown] = c
            out.append(c)
        missing = [i for i in swap if i not in hits]
        if missing:
            hits = dict(hits, **{h["_id"]: h for h in self.index.msearch(
                [domain.fetch_query(missing, actor)])[0]})
        for shown, c in swap.items():
            if shown in hits:
                c.id, c.hit = shown, hits[shown]
        return out


def _banded(near: list[tuple[str, float]]) -> list[tuple[str, float]]:
    near = sorted(near, key=lambda p: -p[1])
    return [(i, c) for i, c in near if c >= near[0][1] - COSINE_BAND] if near else []
