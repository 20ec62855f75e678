"""The Russian pages contain no untranslated strings: customer pages, the agent console, the
supervisor dashboard (its chart labels too) and the administration tabs, also with a refused
form: no English message of the portal's catalog as a whole text (or a visible attribute), no
English validation message of the services, no raw status keys, department ids or
``_schema`` keys.  Pages rendered over HTTP with ``?lang=ru``."""
import json
import re
from html.parser import HTMLParser

import pytest
import requests
from babel.messages.pofile import read_po

from services.portal import field_messages, i18n
from tests.e2e.conftest import DEMO_PASSWORD, STAFF, Browser, new_customer

SHOWN_ATTRIBUTES = ("placeholder", "title", "aria-label", "alt", "value", "data-prefix",
                    "data-replying", "data-viewing", "data-left", "data-late", "data-applied",
                    "data-template-label")
RAW_KEYS = {"new", "open", "pending", "on_hold", "solved", "closed", "general", "billing",
            "technical", "low", "normal", "high", "urgent", "breached", "soon", "ok", "none"}


class ShownText(HTMLParser):
    """Text nodes outside scripts and styles, and the attributes a person reads.  An element
    marked ``translate="no"`` (an id, a rule's condition, a name an admin typed) is data,
    not text of the interface, and so is what a textarea holds: left out."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._hidden = 0
        self._kept: list[list] = []  # [tag, depth] of open translate="no" elements

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        if self._kept and self._kept[-1][0] == tag:
            self._kept[-1][1] += 1
        elif dict(attrs).get("translate") == "no" or tag == "textarea":  # typed, not shown
            self._kept.append([tag, 1])
        if self._kept:
            return
        kind = dict(attrs).get("type")
        for name, value in attrs:
            if name == "value" and not (tag == "input" and kind in ("submit", "button")):
                continue  # option and hidden values are keys, not shown
            if name in SHOWN_ATTRIBUTES and value and value.strip():
                self.found.append(value.strip())

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1
        if self._kept and self._kept[-1][0] == tag:
            self._kept[-1][1] -= 1
            if not self._kept[-1][1]:
                self._kept.pop()

    def handle_data(self, data):
        if not self._hidden and not self._kept and data.strip():
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
    # The services' English validation messages (shown translated when known).
    return patterns + [pattern for pattern, _rewrite in field_messages.KNOWN]


def untranslated(html: str, patterns: list[re.Pattern]) -> list[str]:
    parser = ShownText()
    parser.feed(html)
    bad = []
    for text in parser.found:
        if text in RAW_KEYS or "_schema" in text:
            bad.append(text)
        elif any(p.fullmatch(text) for p in patterns):
            bad.append(text)
    return bad + untranslated_chart_labels(html, patterns)


def untranslated_chart_labels(html: str, patterns: list[re.Pattern]) -> list[str]:
    """Labels in the dashboard's chart data (drawn by the script, so not text nodes)."""
    found = re.search(r'<script type="application/json" id="chart-data">(.*?)</script>', html,
                      re.S)
    if not found:
        return []
    labels: list[str] = []

    def walk(node, key=None):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif isinstance(node, list):
            for item in node:
                walk(item, key)
        elif isinstance(node, str) and key in ("label", "labels"):
            labels.append(node)
    walk(json.loads(found.group(1)))
    return [text for text in labels if text in RAW_KEYS or any(
        p.fullmatch(text) for p in patterns)]


@pytest.fixture(scope="module")
def customer(portal) -> dict:
    return new_customer(portal, name="Ирина Тестова", language="ru")


@pytest.fixture(scope="module")
def ticket_number(portal, customer):
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
        bad = untranslated(page.text, patterns)
        assert bad == [], (path, bad)


ADMIN_PAGES = ["/admin", "/admin/sla", "/admin/canned", "/admin/articles", "/admin/tags",
               "/admin/email", "/admin/access"]


@pytest.mark.parametrize("who", ["customer", "anonymous", "admin", "supervisor"])
def test_russian_customer_and_admin_pages_have_no_untranslated_strings(
        portal, customer, ticket_number, who):
    patterns = english_messages()
    person = Browser(portal)
    if who == "customer":
        person.sign_in(customer["email"], customer["password"])
        paths = ["/", "/kb", "/my/tickets", f"/my/tickets/{ticket_number}"]
    elif who == "anonymous":
        paths = ["/", "/kb", "/signin", "/signup", "/password/forgot"]
    else:  # admins edit, supervisors see the read-only pages
        person.sign_in(STAFF[who], DEMO_PASSWORD)
        paths = ADMIN_PAGES + ["/admin?department=general", "/admin/sla?policy=normal"]
    for path in paths:
        page = person.get(f"{portal}{path}", params={"lang": "ru"}, timeout=30)
        assert page.status_code == 200, (path, page.status_code)
        assert 'lang="ru"' in page.text, path
        bad = untranslated(page.text, patterns)
        assert bad == [], (path, bad)


@pytest.mark.parametrize("page,action,form", [
    ("/admin/sla", "/admin/sla/policies", {
        "name": "Плохая", "priority": "low", "targets.first_response": "-5",
        "targets.resolution": "x", "warning_threshold": "7"}),
    ("/admin/sla", "/admin/sla/calendars", {
        "name": "Плохой", "time_zone": "Mars/Olympus", "hours.mon": "09:00-18:00",
        "holidays": "soon"}),
    ("/admin", "/admin/departments", {"id": "Не так", "name": "", "queue_mode": "fifo"}),
    ("/admin", "/admin/rules", {"name": "", "conditions": "subject contains"}),
    ("/admin/articles", "/admin/articles", {"title": "", "body": "", "language": "en"}),
    ("/admin/email", "/admin/email", {"sender_address": "not an address"}),
    ("/", "/tickets", {"subject": "", "description": "", "requester_email": "nope"}),
])
def test_russian_refusals_are_in_russian(portal, page, action, form):
    """The services' messages beside the inputs, and the list above the form, in Russian."""
    person = Browser(portal)
    if page != "/":
        person.sign_in(STAFF["admin"], DEMO_PASSWORD)
    person.get(f"{portal}{page}", params={"lang": "ru"}, timeout=10)  # remembered in a cookie
    answer = person.submit(page, action, form)
    assert 400 <= answer.status_code < 500, answer.status_code
    assert 'role="alert"' in answer.text
    bad = untranslated(answer.text, english_messages())
    assert bad == [], (action, bad)
    # Every message, known to the checker or not, is written in Russian.
    messages = re.findall(r'class="error field-error"[^>]*>(.*?)</p>', answer.text, re.S) + [
        re.sub(r"<[^>]+>", "", item) for alert in re.findall(
            r'role="alert"[^>]*>.*?<ul>(.*?)</ul>', answer.text, re.S)
        for item in re.findall(r"<li>(.*?)</li>", alert, re.S)]
    assert messages, action
    assert [m for m in messages if not re.search("[а-яА-ЯёЁ]", m)] == [], action


def test_the_check_finds_english_and_raw_keys():
    """The checker itself: it must catch what it is there to catch."""
    patterns = english_messages()
    assert untranslated("<p>Nothing here.</p><span>on_hold</span><b>_schema: x</b>"
                        "<p>late by 5 min</p><script>var x = 'Nothing here.';</script>",
                        patterns) == ["Nothing here.", "on_hold", "_schema: x", "late by 5 min"]
    assert untranslated("<p>Ничего нет.</p>", patterns) == []
    assert untranslated('<td><code translate="no">general</code></td><td>general</td>',
                        patterns) == ["general"]
    assert untranslated("<li>Missing data for required field.</li>"
                        "<p>Must be greater than or equal to 0.</p>", patterns) == [
        "Missing data for required field.", "Must be greater than or equal to 0."]
    chart = ('<script type="application/json" id="chart-data">'
             '{"share": {"labels": ["general", "Общие вопросы"], '
             '"datasets": [{"label": "Portal", "data": [1]}]}}</script>')
    assert untranslated(chart, patterns) == ["general", "Portal"]
