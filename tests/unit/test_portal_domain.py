from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from services.portal import domain, i18n
from services.portal.openapi import path_parameters
from services.portal.routes.account_pages import safe_next
from services.portal.routes.pages import safe_snippet

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def ticket(**changes) -> dict:
    base = {"status": "new", "created_at": T0.isoformat(), "first_response_at": None,
            "sla": {"first_response_due": (T0 + timedelta(hours=4)).isoformat()}}
    return {**base, **changes}


def test_answer_promise_is_the_policy_target_while_waiting_for_a_first_answer():
    assert domain.answer_promise_minutes(ticket()) == 240
    assert domain.answer_promise_minutes(ticket(status="on_hold")) == 240


@pytest.mark.parametrize("changes", [
    {"first_response_at": T0.isoformat()}, {"status": "pending"}, {"status": "solved"},
    {"sla": None}, {"sla": {"first_response_due": None}},
])
def test_no_promise_once_answered_waiting_on_the_customer_or_without_sla(changes):
    assert domain.answer_promise_minutes(ticket(**changes)) is None


@pytest.mark.parametrize("minutes, spoken", [
    (0, ("minutes", 1)), (45, ("minutes", 45)), (60, ("hours", 1)), (90, ("hours", 2)),
    (47 * 60, ("hours", 47)), (48 * 60, ("days", 2)), (72 * 60, ("days", 3)),
])
def test_durations_are_rounded_the_way_people_speak(minutes, spoken):
    assert domain.humane_duration(minutes) == spoken


def test_customer_actions_follow_the_status():
    assert domain.customer_actions("open") == ("solved",)
    assert domain.customer_actions("solved") == ("closed", "open")
    assert domain.customer_actions("closed") == ("open",)
    assert domain.customer_actions("unknown") == ()


def test_reset_fingerprint_changes_with_the_password():
    assert domain.reset_fingerprint("hash-a") != domain.reset_fingerprint("hash-b")
    assert domain.reset_fingerprint(None) == domain.reset_fingerprint(None)


def test_tokens_are_stored_as_digests():
    token, digest = domain.new_token()
    assert digest == domain.token_digest(token) and token not in digest


@pytest.mark.parametrize("target, expected", [
    ("/my/tickets/3", "/my/tickets/3"), ("//evil.example/x", None),
    ("https://evil.example/", None), ("/\\evil.example", None), (None, None),
])
def test_sign_in_only_returns_to_same_site_paths(target, expected):
    from flask import Flask
    app = Flask(__name__)
    app.add_url_rule("/my/tickets", "my_tickets_page", lambda: "")
    with app.test_request_context():
        assert safe_next(target) == (expected or "/my/tickets")


def test_snippets_keep_only_their_highlights():
    html = safe_snippet("a &lt;script&gt;x&lt;/script&gt; <mark>b</mark> <img src=x>")
    assert "<mark>b</mark>" in html
    assert "<script>" not in html and "<img" not in html and "&lt;img" in html


def test_path_parameters_are_typed_and_bounded():
    number, = path_parameters("/api/tickets/{number}")
    assert number["schema"]["type"] == "integer" and number["schema"]["maximum"] < 2 ** 63
    user, = path_parameters("/api/users/{user_id}/role")
    assert user["schema"] == {"type": "string", "minLength": 1, "maxLength": 64}


def test_russian_catalog_translates_every_message_and_compiles():
    template = read_po((i18n.SOURCE / "messages.pot").open("rb"))
    russian = read_po((i18n.SOURCE / "ru" / "LC_MESSAGES" / "messages.po").open("rb"))
    missing = [m.id for m in template if m.id and not (russian.get(m.id) and all(
        (russian.get(m.id).string if isinstance(russian.get(m.id).string, tuple)
         else (russian.get(m.id).string,))))]
    assert not missing
    assert russian.num_plurals == 3
    compiled = i18n.compile_catalogs()
    assert (Path(compiled) / "ru" / "LC_MESSAGES" / "messages.mo").exists()


def test_message_template_is_up_to_date_with_the_code():
    """After changing a user-facing string: re-run the pybabel extract line in babel.cfg."""
    portal = i18n.SOURCE.parent
    found = {m[2] if isinstance(m[2], str) else m[2][0] for m in extract_from_dir(
        portal, method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
        keywords={"_": None, "gettext": None, "ngettext": (1, 2)})}
    template = {m.id if isinstance(m.id, str) else m.id[0]
                for m in read_po((i18n.SOURCE / "messages.pot").open("rb")) if m.id}
    assert found == template


def test_customers_are_offered_staffed_departments_with_a_sensible_default():
    from services.portal.domain import customer_departments
    departments = [{"id": "accounts"}, {"id": "billing"}, {"id": "general"}, {"id": "new"}]
    agents = [{"departments": ["billing", "general"]}, {"departments": ["accounts"]}]
    offered, chosen = customer_departments(departments, agents, "general")
    assert [d["id"] for d in offered] == ["accounts", "billing", "general"]  # "new": nobody
    assert chosen == "general"  # not the alphabetically first
    assert customer_departments(departments, agents, "billing")[1] == "billing"
    assert customer_departments(departments, agents, "new")[1] == "general"  # not offered
    assert customer_departments(departments[:2], agents, "general")[1] == "accounts"
    assert customer_departments(departments, [], "general") == ([], None)
