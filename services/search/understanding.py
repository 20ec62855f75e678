"""What a customer meant to type: Russian typed in Latin letters ("zabyl parol") or in the
wrong keyboard layout ("ult crfxfnm", "зфыыцщкв"). A converted variant replaces the query only
when more of its words are known to the knowledge base than of the original's: applied blindly
it would wreck queries that were fine."""
from __future__ import annotations

import re
from collections import Counter
from itertools import combinations

import numpy as np

_EN = "`qwertyuiop[]asdfghjkl;'zxcvbnm,.~QWERTYUIOP{}ASDFGHJKL:\"ZXCVBNM<>"
_RU = "ёйцукенгшщзхъфывапролджэячсмитьбюЁЙЦУКЕНГШЩЗХЪФЫВАПРОЛДЖЭЯЧСМИТЬБЮ"
EN_TO_RU_LAYOUT = str.maketrans(_EN, _RU)
RU_TO_EN_LAYOUT = str.maketrans(_RU, _EN)

# Common Latin spellings of Russian (GOST-like and how people type), longest first.
_TRANSLIT = [("shch", "щ"), ("sch", "щ"), ("zh", "ж"), ("kh", "х"), ("ts", "ц"), ("ch", "ч"),
             ("sh", "ш"), ("yu", "ю"), ("ju", "ю"), ("ya", "я"), ("ja", "я"), ("yo", "ё"),
             ("jo", "ё"), ("ye", "е"), ("iy", "ий"), ("yy", "ый"), ("y", "ы"), ("a", "а"),
             ("b", "б"), ("v", "в"), ("w", "в"), ("g", "г"), ("d", "д"), ("e", "е"), ("z", "з"),
             ("i", "и"), ("j", "й"), ("k", "к"), ("l", "л"), ("m", "м"), ("n", "н"), ("o", "о"),
             ("p", "п"), ("r", "р"), ("s", "с"), ("t", "т"), ("u", "у"), ("f", "ф"), ("h", "х"),
             ("c", "ц"), ("x", "кс"), ("q", "к"), ("'", "ь")]
_TRANSLIT_RE = re.compile("|".join(re.escape(k) for k, _ in _TRANSLIT))
_TRANSLIT_MAP = dict(_TRANSLIT)
WORD = re.compile(r"[a-zа-яё0-9]+", re.I)
STEM = 5  # a word is known if a known word starts like it (Russian endings vary)


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def vocabulary(texts) -> set[str]:
    """Known words and their first STEM letters."""
    known: set[str] = set()
    for text in texts:
        for w in words(text):
            known.add(w)
            known.add(w[:STEM])
    return known


def known_share(text: str, known: set[str]) -> float:
    found = [w for w in words(text) if len(w) > 1]
    if not found:
        return 0.0
    return sum(w in known or w[:STEM] in known for w in found) / len(found)


def translit(text: str) -> str:
    return _TRANSLIT_RE.sub(lambda m: _TRANSLIT_MAP[m.group(0)], text.lower())


def variants(text: str) -> list[str]:
    if re.search("[а-яё]", text, re.I):
        return [text.translate(RU_TO_EN_LAYOUT)] if not re.search("[a-z]", text, re.I) else []
    return [translit(text), text.translate(EN_TO_RU_LAYOUT)]


def understood(text: str, known: set[str]) -> str:
    """``text`` itself, or the converted variant that the knowledge base knows clearly more
    words of (at least half of them, and more than of the original)."""
    best, share = text, known_share(text, known)
    for variant in variants(text):
        fit = known_share(variant, known)
        if fit >= 0.5 and fit > share + 0.2:
            best, share = variant, fit
    return best


# ---------------------------------------------------------------------------- typos

def max_edits(word: str) -> int:
    """Elasticsearch's ``fuzziness: AUTO``: none for 1-2 letters, one for 3-5, two for more."""
    return 0 if len(word) < 3 else 1 if len(word) < 6 else 2


def _deletes(word: str, edits: int) -> set[str]:
    """``word`` with up to ``edits`` (at most 2) letters removed, never the first
    (``prefix_length`` 1)."""
    found = {word}
    if edits:
        found.update(word[:i] + word[i + 1:] for i in range(1, len(word)))
    if edits > 1:
        found.update(word[:i] + word[i + 1:j] + word[j + 1:]
                     for i, j in combinations(range(1, len(word)), 2))
    return found


def _distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a swap of neighbours is one edit, as in
    Elasticsearch's fuzzy queries); anything over ``limit`` is reported as ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before, row = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if before is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, row = row, current
    return min(row[-1], limit + 1)


class Speller:
    """The knowledge base's words, for correcting a reader's typos before the query, so that
    Elasticsearch is asked for exact words instead of running a fuzzy clause (most of a
    suggestion's CPU).  A word it does not know as written is replaced by the nearest known
    one within ``max_edits`` that starts with the same letter, as the fuzzy clause would
    have matched it (the most frequent on a tie); codes with digits and short words are left
    alone.  Symmetric deletes (SymSpell), kept as sorted 64-bit hashes plus word numbers:
    12 bytes per delete; 40 articles (666 words): 14,047 deletes, 0.17 MB, built in 9 ms;
    10,000 words: 184,005 deletes, 2.2 MB, 0.13 s."""

    def __init__(self, texts):
        counts = Counter(w for text in texts for w in words(text)
                         if max_edits(w) and not any(c.isdigit() for c in w))
        self.words = sorted(counts, key=lambda w: (-counts[w], w))  # a tie goes to the first
        self.known = frozenset(self.words)
        # per word, so that no list of every delete is ever held at once
        per_word = [np.fromiter(map(hash, _deletes(w, max_edits(w))), np.int64)
                    for w in self.words]
        hashes = np.concatenate(per_word) if per_word else np.empty(0, np.int64)
        ids = np.repeat(np.arange(len(per_word), dtype=np.int32), [len(h) for h in per_word])
        order = np.argsort(hashes, kind="stable")
        self._hashes, self._ids = hashes[order], ids[order]

    def nearest(self, word: str) -> str | None:
        """The known word ``word`` was meant to be, or None if none is near enough."""
        limit = max_edits(word)
        keys = np.array([hash(d) for d in _deletes(word, limit)], dtype=np.int64)
        left = np.searchsorted(self._hashes, keys, "left")
        right = np.searchsorted(self._hashes, keys, "right")
        best = None
        # most frequent first: the first word one edit away is the answer; after one two
        # edits away, only a word one edit away can still beat it
        for n in np.unique(np.concatenate([self._ids[a:b] for a, b in zip(left, right)])):
            edits = _distance(word, self.words[n], limit)
            if edits <= limit:
                best, limit = n, edits - 1
                if limit < 1:
                    break
        return None if best is None else self.words[best]

    def correct(self, text: str) -> tuple[str, bool]:
        """``text`` with its typos corrected, and whether every word it could have corrected
        is now known (if not, a fuzzy query may still find something the vocabulary lacks)."""
        unresolved = False

        def fix(match: re.Match) -> str:
            nonlocal unresolved
            word = match.group(0).lower()
            if word in self.known or not max_edits(word) or any(c.isdigit() for c in word):
                return match.group(0)
            meant = self.nearest(word)
            unresolved = unresolved or meant is None
            return meant or match.group(0)
        return WORD.sub(fix, text), not unresolved
