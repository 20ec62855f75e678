"""Personal data out of a solved ticket before an agent approves it as a public answer: email
addresses, phone numbers, order/invoice/account numbers, postal addresses and people's names
(the ones the ticket knows, plus names after greetings and sign-offs), in Russian and English.
Pure functions; the agent sees the result (and what was removed) before approving it."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

PLACEHOLDERS = {"email": "[email]", "phone": "[phone]", "order": "[number]",
                "address": "[address]", "name": "[name]"}

_NAME = r"[A-ZА-ЯЁ][a-zа-яё]+(?:-[A-ZА-ЯЁ][a-zа-яё]+)?"
_FULL_NAME = rf"{_NAME}(?:\s+{_NAME}){{0,2}}"

# Order of application matters: emails before phones (digits in addresses), numbers last.
PATTERNS: list[tuple[str, re.Pattern]] = [  # group 1, if any, is what goes
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("address", re.compile(
        r"(?i)\b(?:ул\.|улица|пр-т|проспект|пер\.|переулок|ш\.|шоссе|бульвар|б-р|наб\.|"
        r"набережная|пл\.|площадь)\s*[А-ЯЁA-Zа-яё\w.-]+(?:\s+[А-ЯЁа-яё\w.-]+){0,2}"
        r"(?:,?\s*(?:д\.|дом)\s*\d+\w*)?(?:,?\s*(?:к\.|корп\.|корпус|стр\.)\s*\d+\w*)?"
        r"(?:,?\s*(?:кв\.|квартира|оф\.|офис)\s*\d+\w*)?")),
    ("address", re.compile(
        r"\b\d{1,5}\s+(?:[A-Z][a-z]+\s+){1,3}(?:Street|St|Avenue|Ave|Road|Rd|Lane|Ln|"
        r"Boulevard|Blvd|Drive|Dr|Court|Ct|Way|Place|Pl|Square|Sq)\b\.?"
        r"(?:,?\s*(?:Apt|Apartment|Suite|Unit|Flat)\.?\s*#?\w+)?")),
    ("phone", re.compile(r"(?<![\w/])\+?\d[\d\s().-]{7,}\d(?![\w/])")),
    ("order", re.compile(
        r"(?i)\b(?:order|invoice|account|contract|booking|tracking|заказ[а-я]*|сч[её]т[а-я]*|"
        r"договор[а-я]*|аккаунт[а-я]*|накладн[а-я]*|трек)\s*(?:№|#|no\.?|n\.?|номер)?\s*[:-]?\s*"
        r"([A-ZА-Я]{0,4}-?\d[\d-]{2,})")),
    ("order", re.compile(r"(?:№|#)\s*[A-ZА-Я]{0,4}-?\d{3,}")),
    ("order", re.compile(r"\b[A-ZА-Я]{1,4}-?\d{5,}\b|\b\d{6,}\b")),
]
GREETING_WORDS = (r"(?:hello|hi|hey|dear|good (?:morning|afternoon|evening)|здравствуйте|"
                  r"добрый день|добрый вечер|доброе утро|привет|уважаемый|уважаемая)")
SIGN_OFF_WORDS = (r"(?:regards|best regards|kind regards|best|cheers|thanks|thank you|"
                  r"sincerely|с уважением|спасибо|всего доброго|до свидания)")
# A name follows a greeting after a comma or a space ("Hello, John"; "Hello! Open" is not one).
GREETING = re.compile(rf"(?i:\b{GREETING_WORDS}),?\s+({_FULL_NAME})")
SIGN_OFF = re.compile(rf"(?i:\b{SIGN_OFF_WORDS})[,.!]?\s*(?:\n\s*)?({_FULL_NAME})\s*$", re.M)
# Words after a greeting that are not names ("Hello Support", "Добрый день Команда").
NOT_NAMES = {"support", "team", "there", "all", "everyone", "команда", "поддержка", "коллеги",
             "again", "ещё", "еще", "снова"}


@dataclass
class Redacted:
    text: str
    removed: dict[str, int] = field(default_factory=dict)   # kind -> how many


def redact(text: str, names: list[str] | tuple[str, ...] = ()) -> Redacted:
    """``text`` with personal data replaced by placeholders; ``names`` are people the ticket
    knows (requester, agents), matched as whole words, each part of a full name too."""
    removed: dict[str, int] = {}

    def sub(kind: str, pattern: re.Pattern, value: str, group: int = 0) -> str:
        def replace(m: re.Match) -> str:
            if kind == "name" and group and m.group(group).split()[0].lower() in NOT_NAMES:
                return m.group(0)
            removed[kind] = removed.get(kind, 0) + 1
            if not group:
                return PLACEHOLDERS[kind]
            start, end = m.span(group)
            return m.group(0)[:start - m.start()] + PLACEHOLDERS[kind] + \
                m.group(0)[end - m.start():]
        return pattern.sub(replace, value)

    for kind, pattern in PATTERNS:
        text = sub(kind, pattern, text, group=min(pattern.groups, 1))
    known = sorted({part for n in names for part in re.findall(r"[\w-]{2,}", n or "")},
                   key=len, reverse=True)
    if known:
        text = sub("name", re.compile(
            r"(?<!\w)(?:" + "|".join(map(re.escape, known)) + r")(?!\w)", re.I), text)
    text = sub("name", GREETING, text, group=1)
    text = sub("name", SIGN_OFF, text, group=1)
    return Redacted(text, removed)
