"""Who may write into a ticket by email: reply tokens, Authentication-Results, bounces,
followers from Cc, signature trimming (services/intake/mail_trust.py)."""
from email.message import EmailMessage

import pytest

from services.intake import mail
from services.intake import mail_trust as trust
from tests.unit.outbound import as_received

SECRET = "s3cret"
TRUSTED = trust.trusted_ids("mx.desk.test, MX2.desk.test")


def message(**headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Ann <ann@example.com>", "help@desk.test", "Hi"
    for name, value in headers.items():
        if isinstance(value, list):
            for item in value:
                msg[name.replace("_", "-")] = item
        else:
            msg[name.replace("_", "-")] = value
    msg.set_content("It jams.")
    return msg


def test_reply_address_carries_a_signed_token_only_its_ticket_matches():
    address = trust.reply_address("support+old@desk.test", 42, SECRET)
    assert address.startswith("support+t42-") and address.endswith("@desk.test")
    tokens = trust.candidate_tokens(["Other <x@y.z>", address.upper()])
    assert trust.token_number(tokens, SECRET) == 42
    assert trust.token_number(tokens, "another secret") is None
    forged = address.replace("t42-", "t43-")
    assert trust.token_number(trust.candidate_tokens([forged]), SECRET) is None
    assert trust.candidate_tokens(["support@desk.test", "a+b@c.d"]) == []


@pytest.mark.parametrize("results, passes", [
    ("mx.desk.test; dkim=pass header.d=example.com", True),
    ("mx.desk.test; dkim=pass header.d=mail.example.com", True),       # relaxed alignment
    ("mx2.desk.test; spf=pass smtp.mailfrom=bounce@example.com", True),
    ("mx.desk.test; dmarc=pass header.from=example.com", True),
    ("mx.desk.test; dkim=pass header.d=evil.test", False),             # not the From domain
    ("mx.desk.test; dkim=fail header.d=example.com", False),
    ("mx.desk.test; spf=softfail smtp.mailfrom=example.com", False),
    ("evil.test; dkim=pass header.d=example.com", False),              # untrusted relay
    ("mx.desk.test; none", False),
    ("not a header at all ;;;", False),
])
def test_authentication_results_from_a_trusted_relay_for_the_from_domain(results, passes):
    msg = message(Authentication_Results=results)
    assert trust.sender_authenticated(msg, "ann@example.com", TRUSTED) is passes
    assert trust.sender_authenticated(msg, "ann@example.com", frozenset()) is False


def test_only_the_topmost_trusted_authentication_results_counts():
    # The relay's own verdict is on top; a "pass" the sender wrote below it is ignored.
    msg = message(Authentication_Results=["mx.desk.test; dkim=fail header.d=example.com",
                                          "mx.desk.test; dkim=pass header.d=example.com"])
    assert trust.sender_authenticated(msg, "ann@example.com", TRUSTED) is False


TICKET = {"number": 7, "requester_email": "ann@example.com", "followers": ["bob@example.com"]}


@pytest.mark.parametrize("sender, token, authenticated, accepted", [
    ("ann@example.com", 7, False, True),
    ("ANN@example.com", None, True, True),
    ("bob@example.com", 7, False, True),
    ("ann@example.com", None, False, False),   # the forged From: proves nothing
    ("ann@example.com", 8, False, False),      # another ticket's token
    ("eve@evil.test", 7, True, False),         # a stranger, even with the token
])
def test_a_reply_needs_a_known_sender_and_a_proof(sender, token, authenticated, accepted):
    assert trust.reply_accepted(TICKET, sender, token, authenticated) is accepted


def test_followers_are_cc_d_people_not_the_desk_the_sender_or_the_requester():
    followers = trust.new_followers(
        ["carl@example.com", "support+t7-abc@desk.test", "ann@example.com",
         "help@desk.test", "bob@example.com", "dan@example.com", "x@inbox.test"],
        ["bob@example.com"], sender="ann@example.com", requester="ann@example.com",
        desk_addresses=["support@desk.test", "care@inbox.test", None])
    assert followers == ["bob@example.com", "carl@example.com", "dan@example.com"]
    many = [f"p{i}@example.com" for i in range(40)]
    assert len(trust.new_followers(many, [], sender="a@b.c", requester=None,
                                   desk_addresses=[])) == trust.MAX_FOLLOWERS


@pytest.mark.parametrize("body, kept", [
    ("Works now.\n-- \nAnn Smith\nACME", "Works now."),
    ("Works now.\n\nSent from my iPhone", "Works now."),
    ("Работает.\n\nОтправлено с iPhone", "Работает."),
    ("Works now.\n\nBest regards,\nAnn", "Works now."),
    ("Работает.\n\nС уважением,\nАнна", "Работает."),
    ("Kind regards", "Kind regards"),                 # nothing but the closing: kept
    ("Line one\n- a list item\n- another", "Line one\n- a list item\n- another"),
])
def test_signatures_are_trimmed(body, kept):
    assert trust.trim_signature(body) == kept


def dsn(original_id="<out-1@desk.test>", headers_only=False) -> bytes:
    boundary = "BOUNDARY"
    original = (f"Message-ID: {original_id}\r\nFrom: support@desk.test\r\n"
                f"To: gone@example.com\r\nSubject: [#7] New reply\r\n")
    original_part = (f"Content-Type: text/rfc822-headers\r\n\r\n{original}" if headers_only
                     else f"Content-Type: message/rfc822\r\n\r\n{original}\r\nHello\r\n")
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        "To: support@desk.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-1@mx.example.com>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type=delivery-status; boundary={boundary}\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nI could not deliver it.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; Gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        f"\r\n--{boundary}\r\n{original_part}\r\n--{boundary}--\r\n").encode()


@pytest.mark.parametrize("headers_only", [False, True])
def test_a_delivery_status_notification_is_read_as_a_bounce(headers_only):
    parsed = mail.parse_inbound(dsn(headers_only=headers_only), "")
    assert parsed["bounce"] == {"recipient": "gone@example.com", "action": "failed",
                                "status": "5.1.1", "diagnostic": "smtp; 550 5.1.1 user unknown",
                                "original_message_id": "<out-1@desk.test>"}
    assert parsed["references"][0] == "<out-1@desk.test>"
    assert parsed["auto"]  # never a reply or a ticket


def test_an_ordinary_mail_is_no_bounce_and_carries_its_tokens_and_cc():
    msg = message(Cc="Carl <Carl@Example.com>, bad-address")
    address = trust.reply_address("support@desk.test", 9, SECRET)
    parsed = mail.parse_inbound(bytes(msg), "ann@example.com", [address], TRUSTED)
    assert parsed["bounce"] is None and parsed["auto"] is None
    assert trust.token_number(parsed["reply_tokens"], SECRET) == 9
    assert parsed["cc"] == ["carl@example.com"] and parsed["sender_authenticated"] is False


def test_agent_replies_copy_the_followers_and_answer_to_the_ticket_address():
    settings = mail.effective_settings(None, "support@desk.test")
    reply_to = trust.reply_address("support@desk.test", 7, SECRET)
    msg = as_received(mail.compose("replied", "en", to="ann@example.com",
                       settings=dict(settings, reply_to=reply_to), message_id="<o@x>",
                       references=[], cc=["bob@example.com"], number=7, subject="S",
                       name="Ann", author="Bob", body="Hi"))
    assert msg["Cc"] == "bob@example.com" and msg["Reply-To"] == reply_to
