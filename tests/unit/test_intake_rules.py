"""Pure intake rules beyond the state machine's basics: every move for every role, staff
edits and their audit rows, CSAT, follow-ups, tags, canned responses, attachments, email."""
import base64
import itertools
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest
from marshmallow import ValidationError

from services.common import events as ev
from services.intake import attachments as att
from services.intake import canned, domain, mail, tags
from services.intake.domain import ROLES, TransitionError, plan_transition
from services.intake.schemas import CsatSchema
from tests.unit.outbound import as_received

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")

# Written out by hand, independent of domain.TRANSITIONS: who may make each move.
S = "agent supervisor admin"
EXPECTED = {
    ("new", "open"): S + " system", ("new", "pending"): S, ("new", "on_hold"): S,
    ("new", "solved"): S + " customer",
    ("open", "pending"): S, ("open", "on_hold"): S, ("open", "solved"): S + " customer",
    ("pending", "open"): S + " customer system", ("pending", "on_hold"): S,
    ("pending", "solved"): S + " customer system",
    ("on_hold", "open"): S + " system", ("on_hold", "pending"): S,
    ("on_hold", "solved"): S + " customer",
    ("solved", "closed"): S + " customer system", ("solved", "open"): S + " customer",
    ("closed", "open"): S + " customer",
}


def expected_targets(current: str, role: str) -> list[str]:
    """The moves EXPECTED grants ``role`` from ``current`` (what a 409 must list)."""
    return sorted(to for (frm, to), roles in EXPECTED.items()
                  if frm == current and role in roles.split())


@pytest.mark.parametrize("current, requested, role",
                         list(itertools.product(STATUSES, STATUSES, ROLES)))
def test_every_move_for_every_role(current, requested, role):
    permitted = role in EXPECTED.get((current, requested), "").split()
    if permitted:
        move = plan_transition(current, requested, role, closed_at=NOW, now=NOW)
        assert move.is_reopen == (requested == "open" and current in ("solved", "closed"))
    else:
        with pytest.raises(TransitionError) as exc:
            plan_transition(current, requested, role, closed_at=NOW, now=NOW)
        # The refusal lists exactly what the hand-written table allows, not what the code
        # under test thinks it allows.
        assert exc.value.allowed == expected_targets(current, role)
        assert requested not in exc.value.allowed


def test_the_expected_table_names_only_real_statuses_and_roles():
    """A typo in EXPECTED would silently make a move 'forbidden' for everyone."""
    for (frm, to), roles in EXPECTED.items():
        assert frm in STATUSES and to in STATUSES and frm != to
        assert set(roles.split()) <= set(ROLES)


def test_reopen_from_closed_only_within_the_window():
    window = timedelta(days=3)
    inside = plan_transition("closed", "open", "customer", closed_at=NOW - timedelta(days=2),
                             now=NOW, reopen_window=window)
    assert inside.is_reopen
    with pytest.raises(TransitionError, match="follow-up"):
        plan_transition("closed", "open", "customer", closed_at=NOW - timedelta(days=4),
                        now=NOW, reopen_window=window)


def ticket(**over):
    t = domain.new_ticket(ticket_id="t1", number=1001, fields={
        "subject": "S", "description": "D", "department": "billing", "priority": "normal",
        "language": "en", "tags": ["vpn"], "requester_name": "Ann"}, requester_id="c1",
        channel="api", now=NOW, idempotency_key=None)
    t.update(over)
    return t


def test_plan_edit_reports_only_real_changes_and_audits_them():
    diff = domain.plan_edit(ticket(), {"priority": "high", "department": "billing"}, "agent")
    assert diff == {"priority": {"old": "normal", "new": "high"}}
    rows = domain.audit_entries(ticket(), diff, {"id": "a1", "role": "agent", "name": "A"}, NOW)
    assert rows == [{"ticket_id": "t1", "number": 1001, "field": "priority", "old": "normal",
                     "new": "high", "actor_id": "a1", "actor_role": "agent", "actor_name": "A",
                     "at": NOW}]


def test_the_automation_edits_fields_as_system():
    # Time rules and triggers (services/automation) raise priority and add tags.
    assert domain.plan_edit(ticket(), {"priority": "urgent"}, "system") == {
        "priority": {"old": "normal", "new": "urgent"}}


@pytest.mark.parametrize("role, status, changes, code", [
    ("customer", "open", {"priority": "urgent"}, 403),
    ("agent", "closed", {"priority": "urgent"}, 409),
    ("agent", "open", {"priority": "normal"}, 409),
])
def test_plan_edit_refusals(role, status, changes, code):
    with pytest.raises(domain.EditError) as exc:
        domain.plan_edit(ticket(status=status), changes, role)
    assert exc.value.status == code


def test_csat_once_by_the_requester_after_solving():
    me = {"id": "c1", "role": "customer"}
    csat = domain.plan_csat(ticket(status="solved"), me, 5, "great", NOW)
    assert csat == {"score": 5, "comment": "great", "satisfied": True, "rated_at": NOW}
    for t, actor, code in [(ticket(status="open"), me, 409),
                           (ticket(status="solved", csat=csat), me, 409),
                           (ticket(status="solved"), {"id": "c2", "role": "customer"}, 403),
                           (ticket(status="solved"), {"id": "c1", "role": "agent"}, 403)]:
        with pytest.raises(domain.CsatError) as exc:
            domain.plan_csat(t, actor, 1, None, NOW)
        assert exc.value.status == code


@pytest.mark.parametrize("score, satisfied", [(1, False), (2, False), (3, False), (4, True),
                                              (5, True)])
def test_csat_scores_four_and_five_count_as_satisfied(score, satisfied):
    csat = domain.plan_csat(ticket(status="closed"), {"id": "c1", "role": "customer"}, score,
                            None, NOW)
    assert (csat["score"], csat["satisfied"]) == (score, satisfied)


@pytest.mark.parametrize("score", [0, 6, -1, "5", 4.5, 5.0, True, None])
def test_csat_score_outside_one_to_five_is_refused(score):
    with pytest.raises(domain.CsatError) as exc:
        domain.plan_csat(ticket(status="solved"), {"id": "c1", "role": "customer"}, score,
                         None, NOW)
    assert exc.value.status == 400 and "score" in exc.value.errors


@pytest.mark.parametrize("payload, field", [
    ({"score": 0}, "score"), ({"score": 6}, "score"), ({"score": "5"}, "score"),
    ({"score": 4.5}, "score"), ({"score": 5.0}, "score"), ({"score": True}, "score"),
    ({"score": None}, "score"), ({}, "score"), ({"comment": "no score"}, "score"),
    ({"score": 4, "comment": "x" * 2001}, "comment"), ({"score": 4, "comment": "  "}, "comment"),
    ({"rating": "good"}, "rating"),
])
def test_csat_payload_needs_a_whole_score_from_one_to_five(payload, field):
    with pytest.raises(ValidationError) as exc:
        CsatSchema().load(payload)
    assert field in exc.value.messages


def test_csat_payload_accepts_every_score_and_an_optional_comment():
    assert [CsatSchema().load({"score": s})["score"] for s in (1, 2, 3, 4, 5)] == [1, 2, 3, 4, 5]
    assert CsatSchema().load({"score": 3, "comment": " fine "}) == {"score": 3,
                                                                     "comment": "fine"}


def test_follow_up_only_for_closed_tickets():
    fields = domain.plan_follow_up(ticket(status="closed"), {"id": "c1", "role": "customer"})
    assert fields["follow_up_of"] == 1001 and fields["subject"].startswith("Follow-up to #1001")
    with pytest.raises(domain.EditError):
        domain.plan_follow_up(ticket(status="solved"), {"id": "c1", "role": "customer"})


@pytest.mark.parametrize("raw, expected", [
    ("VPN", "vpn"), ("  Billing   Issue ", "billing-issue"), ("ＶＰＮ", "vpn"),
    ("snake_case", "snake-case"), ("Straße", "strasse"), ("Оплата Картой", "оплата-картой"),
    ("ﬁle", "file"), ("c++", "c++"),
])
def test_tag_normalisation(raw, expected):
    assert tags.normalize_tag(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "a/b", "<script>", "x" * 51, "$where"])
def test_bad_tags_are_refused(raw):
    with pytest.raises(tags.TagError):
        tags.normalize_tag(raw)


def test_tag_lists_dedupe_and_rename_merges():
    assert tags.normalize_tags(["VPN", "vpn ", "Wi Fi"]) == ["vpn", "wi-fi"]
    assert tags.usage_deltas(["a", "b"], ["b", "c"]) == {"c": 1, "a": -1}
    assert tags.renamed(["wifi", "wi-fi", "x"], "wifi", "wi-fi") == ["wi-fi", "x"]
    assert tags.prefix_pattern("A.B") == r"^a\.b"


def test_canned_rendering_is_plain_substitution():
    t = ticket(subject="${agent_name} {{7*7}}")
    text = canned.render("Hi ${customer_name}, re $ticket_number (${ticket_subject}) costs $$5. "
                         "-- $agent_name", canned.values_for(t, "Bob"))
    # The subject's own placeholders and Jinja syntax are not evaluated.
    assert text == "Hi Ann, re #1001 (${agent_name} {{7*7}}) costs $5. -- Bob"


def test_canned_department_is_its_display_name_in_the_template_language():
    t = ticket()
    names = {"en": "Technical support", "ru": "Техническая поддержка"}
    assert canned.render("$department", canned.values_for(
        t, "Bob", canned.display_name(names, "ru"))) == "Техническая поддержка"
    assert canned.display_name({"en": "Billing"}, "ru") == "Billing"
    assert canned.display_name(None, "en") is None
    assert canned.display_name({"en": "  "}, "en") is None
    assert canned.render("$department", canned.values_for(t, "Bob")) == t["department"]


def test_shared_canned_responses_are_managed_by_roles_that_share_personal_by_owner():
    anna, boris = {"id": "anna"}, {"id": "boris"}
    shared = {"scope": "shared", "owner_id": "boris"}
    personal = {"scope": "personal", "owner_id": "anna"}
    assert canned.may_manage(shared, anna, may_share=True)
    assert not canned.may_manage(shared, boris, may_share=False)
    assert canned.may_manage(personal, anna, may_share=False)
    assert not canned.may_manage(personal, boris, may_share=True)
    assert canned.may_manage({"scope": "personal"}, boris, may_share=False)  # a new one


def test_canned_unknown_and_malformed_placeholders_are_reported_in_both_languages():
    with pytest.raises(canned.PlaceholderError) as exc:
        canned.render("Hi ${customer_name} ${password} $__class__", {})
    assert exc.value.unknown == ["__class__", "password"]
    with pytest.raises(canned.PlaceholderError, match="Неизвестные"):
        canned.check_template("${secret}", "ru")
    with pytest.raises(canned.PlaceholderError, match="dollar"):
        canned.check_template("costs $5")


@pytest.mark.parametrize("raw, expected", [
    ("../../etc/passwd", "passwd"), ("C:\\Users\\x\\report.pdf", "report.pdf"),
    ("a\x00b\r\n.txt", "ab.txt"), (".htaccess", "htaccess"), ("", "attachment"),
    ("отчёт 2024.pdf", "отчёт 2024.pdf"), ('x";rm -rf.txt', "x__rm -rf.txt"),
    ("a" * 300 + ".png", "a" * 96 + ".png"),
])
def test_filenames_are_sanitised(raw, expected):
    assert att.sanitize_filename(raw) == expected


@pytest.mark.parametrize("name, ctype, size, field", [
    ("x.exe", "application/octet-stream", 10, "filename"),
    ("x.html", "text/html", 10, "filename"),
    ("x.png", "text/html", 10, "content_type"),
    ("x.png", "image/png", att.MAX_ATTACHMENT_BYTES + 1, "data"),
    ("x.png", "image/png", 0, "data"),
])
def test_attachment_limits(name, ctype, size, field):
    assert field in att.attachment_errors(name, ctype, size)
    assert att.attachment_errors("x.png", "image/png", 10) == {}


def raw_mail(subject="Printer broken", sender="Ann <ann@example.com>", **headers):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "help@desk.test", subject
    msg["Message-ID"] = "<m1@example.com>"
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content("It jams.\n\nOn Mon, Bob wrote:\n> old text")
    msg.add_attachment(b"\x89PNG...", maintype="image", subtype="png", filename="../jam.png")
    return msg.as_bytes()


def test_inbound_parse_keeps_sender_body_and_attachment():
    parsed = mail.parse_inbound(raw_mail(In_Reply_To="<out-1@desk>"), "ann@example.com")
    assert parsed["from_email"] == "ann@example.com" and parsed["from_name"] == "Ann"
    assert parsed["message_id"] == "<m1@example.com>" and parsed["references"] == ["<out-1@desk>"]
    assert parsed["auto"] is None and parsed["language"] == "en"
    assert mail.strip_quoted(parsed["body"]) == "It jams."
    [a] = parsed["attachments"]
    assert (a["filename"], a["content_type"]) == ("jam.png", "image/png")
    assert base64.b64decode(a["data"]) == b"\x89PNG..."


@pytest.mark.parametrize("envelope, headers, reason", [
    ("", {}, "bounce"), ("MAILER-DAEMON@mx.example.com", {}, "daemon"),
    ("a@x.com", {"Auto_Submitted": "auto-replied"}, "Auto-Submitted"),
    ("a@x.com", {"X_Autoreply": "yes"}, "auto-responder"),
    ("a@x.com", {"Precedence": "bulk"}, "bulk"), ("a@x.com", {"Precedence": "junk"}, "bulk"),
])
def test_auto_replies_and_bounces_are_recognised(envelope, headers, reason):
    assert reason in mail.parse_inbound(raw_mail(**headers), envelope)["auto"]


def test_malformed_mail_is_refused():
    with pytest.raises(mail.MalformedEmail):
        mail.parse_inbound(b"this is not an email at all", "x@y.z")


def test_subject_number_and_outbound_templates():
    assert mail.subject_number("Re: [#1234] Printer") == 1234
    assert mail.subject_number("Printer #1234") is None
    msg = as_received(mail.compose("solved", "ru", to="ann@example.com",
                       settings=mail.effective_settings(None, "desk@x"), message_id="<o@x>",
                       references=["<m1@example.com>"], number=7, subject="S", name="Ann",
                       csat_url="http://p/csat/tok"))
    assert msg["Subject"] == "[#7] Решено: S" and msg["In-Reply-To"] == "<m1@example.com>"
    # One link per score: opening one preselects it on the rating page.
    assert all(f"http://p/csat/tok?score={s}" in msg.get_content() for s in range(1, 6))


def test_line_breaks_in_stored_values_cannot_break_or_add_headers():
    """A subject stored before subjects had to be one line must still be mailable: the
    email package refuses a header with a line break, and the event would be redelivered
    forever."""
    msg = as_received(mail.compose("received", "en", to="ann@example.com",
                       settings=mail.effective_settings(None, "desk@x"), message_id="<o@x>",
                       references=[], number=7, subject="Help\r\nBcc: spy@evil.test\n",
                       name="Ann\r\nX: y", portal_url="http://p"))
    assert msg["Subject"] == "[#7] We received your request: Help Bcc: spy@evil.test"
    assert msg["Bcc"] is None and msg["X"] is None
    assert "\n" not in str(msg["Subject"])
    assert b"\nBcc:" not in msg.as_bytes()  # folded lines start with a space, never a name
    assert mail.recipients(msg) == ["ann@example.com"]


def test_saved_mail_settings_override_the_deployment_defaults():
    defaults = mail.effective_settings(None, "desk@x.test")
    assert defaults["sender_address"] == "desk@x.test" and defaults["reply_to"] is None
    assert defaults["notifications"] == {"received": True, "replied": True, "solved": True,
                                         "reminder": True, "sla_warning": True,
                                         "merged": True, "mentioned": True, "followed": True}
    saved = mail.effective_settings({
        "sender_address": "help@acme.test", "sender_name": "Acme Помощь",
        "reply_to": "replies@acme.test", "default_language": "ru",
        "notifications": {"received": False}}, "desk@x.test")
    assert saved["notifications"] == {"received": False, "replied": True, "solved": True,
                                      "reminder": True, "sla_warning": True, "merged": True,
                                      "mentioned": True, "followed": True}
    msg = as_received(mail.compose("replied", "xx", to="ann@example.com", settings=saved,
                       message_id="<o@acme.test>", references=[], number=7, subject="S",
                       name="Ann", author="Bob", body="Hi"))
    assert "help@acme.test" in msg["From"] and "Acme" in str(msg["From"])
    assert msg["Reply-To"] == "replies@acme.test"
    assert msg["Subject"] == "[#7] Новый ответ: S"  # no "xx" template: the default language


WARNED = {"_id": "t1", "number": 7, "subject": "Printer jams", "status": "open",
          "assignee_id": "a1", "assignee_name": "Anna", "assignee_email": "anna@desk.test",
          "assignee_language": "ru",
          "messages": [{"body": "INTERNAL note", "public": False, "author_role": "agent"}]}


@pytest.mark.parametrize("language, target, says", [
    ("en", "first_response", "first response"), ("en", "next_response", "next response"),
    ("en", "resolution", "resolution"), ("ru", "first_response", "первый ответ"),
    ("ru", "next_response", "следующий ответ"), ("ru", "resolution", "решение")])
def test_sla_warning_mail_names_ticket_target_deadline_and_workspace(language, target, says):
    due = datetime(2024, 5, 1, 15, 30, tzinfo=timezone(timedelta(hours=3)))
    values = mail.sla_warning_values(WARNED, {"target": target, "due_at": due}, language,
                                     "http://portal.test")
    msg = as_received(mail.compose("sla_warning", language, to="anna@desk.test",
                       settings=mail.effective_settings(None, "desk@x"), message_id="<w@x>",
                       references=[], **values))
    text = msg["Subject"] + "\n" + msg.get_content()
    assert "[#7]" in msg["Subject"] and says in msg["Subject"]
    assert "2024-05-01 12:30 UTC" in msg["Subject"]  # the deadline, in UTC
    assert "Printer jams" in text and "http://portal.test/agent/tickets/7" in text
    assert "INTERNAL" not in text and msg["To"] == "anna@desk.test"
    assert msg["In-Reply-To"] is None  # not threaded into the customer's conversation


def test_every_sla_target_and_language_has_words_in_the_warning():
    assert set(mail.SLA_TARGET_NAMES) == set(ev.LANGUAGES) == set(
        mail.TEMPLATES["sla_warning"])
    assert all(set(names) == set(ev.SLA_TARGETS) for names in mail.SLA_TARGET_NAMES.values())


def test_notice_language_is_the_wanted_one_with_a_template_else_the_fallback():
    settings = mail.effective_settings({"default_language": "ru"}, "desk@x")
    assert mail.language_for("sla_warning", "en", settings) == "en"
    assert mail.language_for("sla_warning", None, settings) == "ru"
    assert mail.language_for("sla_warning", "de", settings) == "ru"
    assert mail.language_for("sla_warning", None, dict(settings, default_language="xx")) == "en"


@pytest.mark.parametrize("changes, warned", [
    ({}, True), ({"status": "pending"}, True), ({"status": "solved"}, False),
    ({"status": "closed"}, False), ({"assignee_id": None}, False),
    ({"assignee_email": None}, False)])
def test_sla_warning_goes_to_an_assignee_with_an_address_while_the_ticket_is_worked_on(
        changes, warned):
    assert domain.warn_assignee(dict(WARNED, **changes)) is warned


def test_quoted_text_is_stripped_with_any_line_ending():
    body = "Works now.\r\n\r\nOn Mon, 1 Jan 2024, Bob wrote:\r\n> old"
    assert mail.strip_quoted(body) == "Works now."
    assert mail.strip_quoted("Спасибо!\nИван пишет:\n> старое") == "Спасибо!"


def test_csat_tokens_are_bound_to_ticket_and_requester():
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    token = domain.csat_token(1001, "c1", "secret", now)
    owners = {1001: "c1", 1002: "c2"}
    assert domain.csat_token_number(token, owners.get, ["secret"], now) == 1001
    assert domain.csat_token_number(token, owners.get, ["other-secret"], now) is None
    assert domain.csat_token_number(token.replace("1001", "1002", 1), owners.get, ["secret"],
                                    now) is None
    assert domain.csat_token_number("junk", owners.get, ["secret"], now) is None
    assert domain.csat_token_number("9999.abc", owners.get, ["secret"], now) is None
    assert domain.csat_token_number("¹", owners.get, ["secret"], now) is None
    assert domain.csat_token_number("1001.¹.abc", owners.get, ["secret"], now) is None


def test_csat_tokens_expire_and_survive_a_rotation_until_then():
    mailed = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    token = domain.csat_token(1001, "c1", "old-secret", mailed)
    owners = {1001: "c1"}
    # After a rotation the old secret is still accepted (listed after the new one)...
    later = mailed + domain.CSAT_LINK_VALIDITY - timedelta(hours=1)
    assert domain.csat_token_number(token, owners.get, ["new-secret", "old-secret"], later) == 1001
    # ...until the link's own expiry, which is signed: moving it forward breaks the signature.
    expired = mailed + domain.CSAT_LINK_VALIDITY + timedelta(days=1)
    assert domain.csat_token_number(token, owners.get, ["old-secret"], expired) is None
    number, expires, signature = token.split(".")
    stretched = f"{number}.{int(expires) + 30}.{signature}"
    assert domain.csat_token_number(stretched, owners.get, ["old-secret"], later) is None


def test_public_or_short_csat_secrets_are_refused():
    for secret in ("change-me-csat-secret", "too-short"):
        with pytest.raises(domain.UnsafeSecret, match="HELPDESK_CSAT_SECRET"):
            domain.check_secrets([secret], "HELPDESK_CSAT_SECRET")
    domain.check_secrets(["a-long-random-secret-from-the-vault"], "HELPDESK_CSAT_SECRET")


def test_a_link_token_serves_only_its_purpose():
    now = datetime(2026, 12, 5, tzinfo=timezone.utc)
    owners = {1001: "c1"}.get
    confirm = domain.link_token(domain.CONFIRM_LINK, 1001, "c1", "secret", now)
    assert domain.link_token_number(domain.CONFIRM_LINK, confirm, owners, ["secret"],
                                    now) == 1001
    assert domain.csat_token_number(confirm, owners, ["secret"], now) is None
    rating = domain.csat_token(1001, "c1", "secret", now)
    assert domain.link_token_number(domain.CONFIRM_LINK, rating, owners, ["secret"],
                                    now) is None
    # Good for 14 days (as long as a closed ticket can be reopened), not 30.
    assert domain.link_token_number(domain.CONFIRM_LINK, confirm, owners, ["secret"],
                                    now + timedelta(days=13)) == 1001
    assert domain.link_token_number(domain.CONFIRM_LINK, confirm, owners, ["secret"],
                                    now + timedelta(days=16)) is None


@pytest.mark.parametrize("kind, language, says", [
    ("received_unconfirmed", "en", "We received your request"),
    ("received_unconfirmed", "ru", "Ваша заявка принята"),
    ("confirm_sender", "en", "Confirm your request"),
    ("confirm_sender", "ru", "Подтвердите обращение")])
def test_an_unconfirmed_senders_mail_carries_the_confirm_link(kind, language, says):
    msg = as_received(mail.compose(kind, language, to="ann@example.com",
                       settings=mail.effective_settings(None, "desk@x"), message_id="<o@x>",
                       references=[], number=7, subject="S", name="Ann",
                       portal_url="http://p", confirm_url="http://p/tickets/confirm/7.1.abc"))
    assert says in msg["Subject"] and "[#7]" in msg["Subject"]
    assert "http://p/tickets/confirm/7.1.abc" in msg.get_content()
    # forms of "received", not notifications an admin switches on their own
    assert kind not in mail.effective_settings(None, "desk@x")["notifications"]
