"""The agent console and dashboard in Russian contain no untranslated strings: no English
message of the portal's catalog as a whole text (or a visible attribute), no raw status keys,
department ids or ``_schema`` keys.  Pages rendered over HTTP with ``?lang=ru``."""
import re
from html.parser import HTMLParser

import pytest
import requests
from babel.messages.pofile import read_po

from services.portal import i18n
from tests.e2e.conftest import DEMO_PASSWORD, STAFF, Browser, new_customer

SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt", "value", "data-prefix",
                    "data-replying", "data-viewing", "data-left", "data-late", "data-applied",
                    "data-template-label")
RAW_KEYS = {"new", "open", "pending", "on_hold", "solved", "closed", "general", "billing",
            "technical", "low", "normal", "high", "urgent", "breached", "soon", "ok", "none"}


class ShownText(HTMLParser):
    """Text nodes outside scripts and styles, and the attributes a person reads."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        kind = dict(attrs).get("type")
        for name, value in attrs:
            if name == "value" and not (tag == "input" and kind in ("submit", "button")):
                continue  # option and hidden values are keys, not shown
            if name in SHOWN_ATTRIBUTES and value and value.strip():
                self.found.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and data.strip():
            self.found.append(" ".join(data.split()))


def english_messages() -> list[re.Pattern]:
    """Each catalog message whose Russian differs, as a pattern for a whole shown text."""
    russian = read_po((i18n.SOURCE / "ru" / "LC_MESSAGES" / "messages.po").open("rb"))
    patterns = []
    for message in russian:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for english in ids:
            if english in strings or len(english) < 2:
                continue
            text = " ".join(english.split())
            pattern = re.escape(text)
            pattern = re.sub(r"%\\\(\w+\\\)[sd]", ".+?", pattern)
            patterns.append(re.compile(pattern))
    return patterns


def untranslated(html: str, patterns: list[re.Pattern]) -> list[str]:
    parser = ShownText()
    parser.feed(html)
    bad = []
    for text in parser.found:
        if text in RAW_KEYS or "_schema" in text:
            bad.append(text)
        elif any(p.fullmatch(text) for p in patterns):
            bad.append(text)
    return bad


@pytest.fixture(scope="module")
def ticket_number(portal):
    customer = new_customer(portal, name="Ирина Тестова", language="ru")
    made = requests.post(f"{portal}/api/tickets", timeout=15,
                         headers={"Authorization": f"Bearer {customer['token']}"}, json={
                             "subject": "Не работает принтер", "description": "Ошибка E42.",
                             "department": "technical", "language": "ru"})
    assert made.status_code == 201, made.text
    return made.json()["number"]


@pytest.mark.parametrize("who,paths", [
    ("agent", ["/agent/queue/mine", "/agent/queue/unassigned", "/agent/queue/breaching",
               "/agent/queue/pending", "/agent/queue/all", "/agent/queue/department",
               "/agent/queue/all?status=on_hold", "/agent/macros", "/agent/tickets/{n}"]),
    ("supervisor", ["/supervisor?days=7", "/agent/queue/all?sort=-number",
                    "/agent/tickets/{n}"]),
])
def test_russian_console_pages_have_no_untranslated_strings(portal, ticket_number, who, paths):
    patterns = english_messages()
    person = Browser(portal).sign_in(STAFF[who], DEMO_PASSWORD)
    for path in paths:
        url = f"{portal}{path.format(n=ticket_number)}"
        page = person.get(url + ("&" if "?" in url else "?") + "lang=ru", timeout=30)
        assert page.status_code == 200, (path, page.status_code)
        assert 'lang="ru"' in page.text, path
        assert untranslated(page.text, patterns) == [], path


def test_the_check_finds_english_and_raw_keys():
    """The checker itself: it must catch what it is there to catch."""
    patterns = english_messages()
    assert untranslated("<p>Nothing here.</p><span>on_hold</span><b>_schema: x</b>"
                        "<p>late by 5 min</p><script>var x = 'Nothing here.';</script>",
                        patterns) == ["Nothing here.", "on_hold", "_schema: x", "late by 5 min"]
    assert untranslated("<p>Ничего нет.</p>", patterns) == []
