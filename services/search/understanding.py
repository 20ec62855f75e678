"""What a customer meant to type: Russian typed in Latin letters ("zabyl parol") or in the
wrong keyboard layout ("ult crfxfnm", "зфыыцщкв"). A converted variant replaces the query only
when more of its words are known to the knowledge base than of the original's: applied blindly
it would wreck queries that were fine."""
from __future__ import annotations

import re

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
