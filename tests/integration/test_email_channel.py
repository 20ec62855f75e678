"""The email channel over real SMTP: a customer's mail reaches the SMTP listener (aiosmtpd),
becomes a ticket with its attachment in GridFS, replies by email thread back into it, and
notifications go out through a real SMTP sink on 127.0.0.1, never carrying internal notes."""
import os
import re
import smtplib
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from email.message import EmailMessage

import pytest

from services.intake.service import IntakeService
from tests.integration.mail_sink import free_port
from tests.support import eventually, running

AGENT = {"id": "agent-1", "role": "agent", "name": "Bob Agent"}
TRUSTED_RELAY = "mx.desk.test"  # the authserv-id whose Authentication-Results count
ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n" + b"pixels" * 50


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def listener(config, sink):
    cfg = dict(config, SMTP_RELAY_HOST="127.0.0.1", SMTP_RELAY_PORT=sink.port,
               MAIL_FROM="support@desk.test", PORTAL_URL="http://portal.test",
               CSAT_SECRET="test-secret-long-enough")
    port = free_port()
    # The listener runs as its own process, as in the stack (one asyncio loop per process).
    env = dict(os.environ, HELPDESK_AMQP_URI=config["AMQP_URI"], HELPDESK_SMTP_PORT=str(port),
               HELPDESK_MAIL_TRUSTED_AUTHSERV_IDS=TRUSTED_RELAY, PYTHONPATH=str(ROOT))
    with running(cfg, IntakeService):
        proc = subprocess.Popen([sys.executable, "-m", "services.intake.smtp_listener"],
                                env=env, cwd=ROOT)
        try:
            eventually(lambda: proc.poll() is None and port_open(port))
            yield port
        finally:
            proc.terminate()
            proc.wait(timeout=15)


def send(port, subject, body="The printer jams on page 2.", sender="ann@example.com",
         attachment=None, envelope_from=None, to="help@desk.test", **headers):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = f"Ann <{sender}>", to, subject
    # Unique: intake files a Message-ID once (a free port number can come back twice in a row,
    # and the second mail was taken for a redelivery of the first).
    msg["Message-ID"] = f"<{socket.gethostname()}.{uuid.uuid4().hex}@example.com>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    if attachment:
        name, data, (maintype, subtype) = attachment
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        refused = None
        try:
            smtp.send_message(msg, from_addr=sender if envelope_from is None else envelope_from)
        except smtplib.SMTPDataError as exc:
            refused = exc
    return msg, refused


def ticket_by_subject(db, subject):
    return db("intake").tickets.find_one({"subject": subject})


def test_mail_becomes_ticket_with_attachment_and_threaded_replies(listener, sink, rpc, db):
    _, refused = send(listener, "Printer broken", attachment=("jam.png", PNG, ("image", "png")))
    assert refused is None
    ticket = ticket_by_subject(db, "Printer broken")
    number = ticket["number"]
    assert ticket["channel"] == "email" and ticket["requester_email"] == "ann@example.com"
    [stored] = ticket["attachments"]
    assert stored["filename"] == "jam.png"
    assert db("intake")["attachments.files"].find_one({"_id": stored["id"]})["length"] == len(PNG)

    received = eventually(lambda: sink.about(number))[0]
    assert received["To"] == "ann@example.com" and "received" in received["Subject"]

    # Agent replies publicly and writes an internal note; only the reply is mailed.
    assert rpc.intake.add_message(number, {"body": "Please clean the roller."}, AGENT)["ok"]
    assert rpc.intake.add_message(number, {"body": "INTERNAL: customer owes us money",
                                           "public": False}, AGENT)["ok"]
    replied = eventually(lambda: [m for m in sink.about(number) if "reply" in m["Subject"]])[0]
    assert "Please clean the roller." in replied.get_content()

    # The customer answers that email (to its reply address): In-Reply-To threads it (no
    # number in the subject), and the quote and the signature are trimmed.
    reply_address = replied["Reply-To"]
    assert reply_address.startswith(f"support+t{number}-")
    _, refused = send(listener, "Re: your request", body="Cleaned it, works now.\n\n"
                      "Best regards,\nAnn\n\nOn Monday Bob wrote:\n> Please clean the roller.",
                      In_Reply_To=replied["Message-ID"], to=reply_address)
    assert refused is None
    thread = rpc.intake.get_ticket(number, AGENT)["ticket"]["messages"]
    assert thread[-1]["body"] == "Cleaned it, works now."
    assert thread[-1]["author_role"] == "customer"
    # And by the number in the subject.
    send(listener, f"Re: [#{number}] Printer broken", body="One more thing.", to=reply_address)
    assert rpc.intake.get_ticket(number, AGENT)["ticket"]["messages"][-1]["body"] \
        == "One more thing."
    assert db("intake").tickets.count_documents({"requester_email": "ann@example.com"}) == 1

    # Solved: the email carries a signed CSAT link that works once.
    assert rpc.intake.change_status(number, {"status": "solved"}, AGENT)["ok"]
    solved = eventually(lambda: [m for m in sink.about(number) if "Solved" in m["Subject"]])[0]
    links = re.findall(r"/csat/([^\s?]+)\?score=(\d)", solved.get_content())
    assert sorted(score for _, score in links) == ["1", "2", "3", "4", "5"]
    token = links[0][0]
    assert {t for t, _ in links} == {token}
    assert rpc.intake.submit_csat_by_token(token + "0", {"score": 5})["status"] == 404
    assert rpc.intake.submit_csat_by_token(token, {"score": 6})["status"] == 400
    assert rpc.intake.submit_csat_by_token(token, {"score": 5})["ok"]
    assert rpc.intake.submit_csat_by_token(token, {"score": 1})["status"] == 409

    # Writing to the closed ticket files a follow-up linked to it.
    assert rpc.intake.change_status(number, {"status": "closed"}, AGENT)["ok"]
    send(listener, f"Re: [#{number}] Printer broken", body="It jams again.", to=reply_address)
    follow_up = db("intake").tickets.find_one({"follow_up_of": number})
    assert follow_up["description"] == "It jams again." and follow_up["channel"] == "email"
    assert rpc.intake.get_ticket(number, AGENT)["ticket"]["follow_ups"] == [follow_up["number"]]

    # No mail to the customer ever carried the internal note.
    assert sink.about(number) and not any("INTERNAL" in m.get_content()
                                          for m in sink.about(number))


@pytest.mark.parametrize("headers, envelope_from", [
    ({"Auto_Submitted": "auto-replied"}, None),
    ({"X_Autoreply": "yes"}, None),
    ({"Precedence": "bulk"}, None),
    ({}, ""),
    ({}, "MAILER-DAEMON@mx.example.com"),
])
def test_auto_replies_and_bounces_create_nothing(listener, db, headers, envelope_from):
    before = db("intake").tickets.count_documents({})
    _, refused = send(listener, "Out of office", envelope_from=envelope_from, **headers)
    assert refused is None  # accepted, so the sender's server does not retry
    assert db("intake").tickets.count_documents({}) == before


def test_forbidden_attachment_is_refused_by_smtp_and_nothing_is_written(listener, db):
    before = (db("intake").tickets.count_documents({}),
              db("intake")["attachments.files"].count_documents({}))
    _, refused = send(listener, "Run this", attachment=("run.exe", b"MZ", ("application",
                                                                            "octet-stream")))
    assert refused is not None and refused.smtp_code == 550 and b"run.exe" in refused.smtp_error
    assert (db("intake").tickets.count_documents({}),
            db("intake")["attachments.files"].count_documents({})) == before


def test_malformed_mail_is_refused(listener, db):
    before = db("intake").tickets.count_documents({})
    with smtplib.SMTP("127.0.0.1", listener, timeout=30) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as exc:
            smtp.sendmail("x@example.com", ["help@desk.test"], b"no headers, no sender\r\n")
    assert exc.value.smtp_code == 550
    assert db("intake").tickets.count_documents({}) == before


def test_same_message_delivered_twice_files_one_ticket(listener, db):
    msg, _ = send(listener, "Delivered twice")
    with smtplib.SMTP("127.0.0.1", listener, timeout=30) as smtp:
        smtp.send_message(msg, from_addr="ann@example.com")
    assert db("intake").tickets.count_documents({"subject": "Delivered twice"}) == 1


def test_admin_email_settings_are_validated_and_used_by_the_next_notification(
        listener, sink, rpc, db):
    admin = {"id": "admin-1", "role": "admin", "name": "Ada"}
    assert rpc.intake.get_mail_settings()["settings"]["sender_address"] == "support@desk.test"
    refused = rpc.intake.update_mail_settings({"sender_address": "nobody", "sender_name":
                                               "Two\nlines"}, admin)
    assert refused["status"] == 400 and set(refused["errors"]) == {"sender_address",
                                                                   "sender_name"}
    assert rpc.intake.update_mail_settings({"sender_address": "x@desk.test"},
                                           AGENT)["status"] == 403
    assert db("intake").settings.find_one({"_id": "mail"}) is None  # nothing half-written
    saved = rpc.intake.update_mail_settings({
        "sender_address": "care@acme.test", "sender_name": "Acme Care",
        "reply_to": "inbox@acme.test", "notifications": {"replied": False}}, admin)
    assert saved["ok"] and saved["settings"]["notifications"] == {
        "received": True, "replied": False, "solved": True, "reminder": True,
        "sla_warning": True, "merged": True, "mentioned": True, "followed": True}
    try:
        send(listener, "Settings check", sender="sue@example.com")
        number = ticket_by_subject(db, "Settings check")["number"]
        received = eventually(lambda: sink.about(number))[0]
        assert received["From"] == "Acme Care <care@acme.test>"
        # Replies go to the admin's reply-to address, plus this ticket's signed token.
        assert received["Reply-To"].startswith(f"inbox+t{number}-")
        assert received["Reply-To"].endswith("@acme.test")
        assert received["Message-ID"].endswith("@acme.test>")
    finally:
        # Back to the defaults through intake, which then forgets the settings it keeps (a
        # delete behind its back would be seen only after SETTINGS_TTL, like another replica's).
        assert rpc.intake.update_mail_settings({"sender_address": "support@desk.test"},
                                               admin)["ok"]


def test_canned_responses_are_edited_and_deleted_by_those_who_may(listener, rpc, db):
    supervisor = {"id": "sup-1", "role": "supervisor", "name": "Sam"}
    shared = rpc.intake.save_canned({"title": "Hi", "body": "Hi $customer_name",
                                     "scope": "shared"}, supervisor)["canned"]
    own = rpc.intake.save_canned({"title": "Mine", "body": "Bye"}, AGENT)["canned"]
    edit = {"title": "Hello", "body": "Hello $customer_name", "scope": "shared"}
    assert rpc.intake.update_canned(shared["id"], edit, AGENT)["status"] == 403
    assert rpc.intake.update_canned(own["id"], edit, AGENT)["status"] == 403  # cannot share
    assert rpc.intake.update_canned(own["id"], dict(edit, scope="personal"),
                                    supervisor)["status"] == 404  # someone else's own
    bad = rpc.intake.update_canned(shared["id"], dict(edit, body="$secret"), supervisor)
    assert bad["status"] == 400 and "Unknown placeholder" in bad["errors"]["body"][0]
    assert db("intake").canned.find_one({"_id": shared["id"]})["title"] == "Hi"
    edited = rpc.intake.update_canned(shared["id"], edit, supervisor)["canned"]
    assert (edited["title"], edited["owner_id"]) == ("Hello", "sup-1")
    assert rpc.intake.delete_canned(shared["id"], AGENT)["status"] == 403
    assert rpc.intake.delete_canned(shared["id"], supervisor)["ok"]
    assert rpc.intake.delete_canned(own["id"], AGENT)["ok"]
    assert db("intake").canned.count_documents({"_id": {"$in": [shared["id"], own["id"]]}}) == 0


def test_a_reply_threads_by_its_references_header_alone(listener, sink, db):
    send(listener, "Scanner offline", sender="rita@example.com")
    number = ticket_by_subject(db, "Scanner offline")["number"]
    received = eventually(lambda: sink.about(number))[0]
    # No number in the subject, no In-Reply-To, no reply token (sent to the plain address):
    # only References (oldest first, as mail clients write it) names our notification, and
    # the trusted relay vouches for the sender's domain.
    _, refused = send(listener, "Re: that scanner", body="Still offline.",
                      sender="rita@example.com",
                      References=f"<unrelated.1@example.com> {received['Message-ID']}",
                      Authentication_Results=f"{TRUSTED_RELAY}; dkim=pass header.d=example.com")
    assert refused is None
    ticket = db("intake").tickets.find_one({"number": number})
    assert [m["body"] for m in ticket["messages"]] == ["Still offline."]
    assert db("intake").tickets.count_documents({"requester_email": "rita@example.com"}) == 1


def test_line_breaks_in_a_subject_never_reach_a_header(listener, sink, rpc, db):
    # An encoded word can carry CR/LF into a decoded subject: the mail is kept, on one line.
    # (Raw bytes: EmailMessage would decode the word and write the line break itself.)
    with smtplib.SMTP("127.0.0.1", listener, timeout=30) as smtp:
        smtp.sendmail("lena@example.com", ["help@desk.test"],
                      b"From: Lena <lena@example.com>\r\nTo: help@desk.test\r\n"
                      b"Subject: =?utf-8?q?Printer=0D=0ABcc:_spy@evil.test?=\r\n"
                      b"Message-ID: <lena.1@example.com>\r\n\r\nIt jams.\r\n")
    ticket = eventually(lambda: db("intake").tickets.find_one(
        {"requester_email": "lena@example.com"}))
    assert ticket["subject"] == "Printer Bcc: spy@evil.test"
    # A subject stored with a line break (before subjects had to be one line) still gets
    # its notification: composed on one line, not refused and redelivered forever.
    db("intake").tickets.update_one({"_id": ticket["_id"]},
                                    {"$set": {"subject": "Old\r\nBcc: spy@evil.test"}})
    assert rpc.intake.add_message(ticket["number"], {"body": "Looking into it."}, AGENT)["ok"]
    replied = eventually(lambda: [m for m in sink.about(ticket["number"])
                                  if "reply" in m["Subject"]])[0]
    assert replied["Subject"] == f"[#{ticket['number']}] New reply: Old Bcc: spy@evil.test"
    assert replied["Bcc"] is None
    assert all(m["To"] == "lena@example.com" for m in sink.about(ticket["number"]))


# ------------------------------------------------------------------ who may reply by email

def filed_with_notice(listener, sink, db, subject, sender, **headers):
    """A ticket filed by mail and the "received" notice the desk sent about it."""
    assert send(listener, subject, sender=sender, **headers)[1] is None
    ticket = ticket_by_subject(db, subject)
    return ticket, eventually(lambda: sink.about(ticket["number"]))[0]


def test_a_forged_from_does_not_enter_the_ticket_it_starts_an_unverified_one(
        listener, sink, db):
    ticket, received = filed_with_notice(listener, sink, db, "Invoice wrong",
                                         "olga@example.com")
    number = ticket["number"]
    # Anyone can write From: olga and "Re: [#N]", even References to our notice, and even
    # a "pass" from a relay we do not trust: none of it proves the sender.
    for subject, headers in (
            (f"Re: [#{number}] Invoice wrong", {}),
            ("Re: Invoice wrong", {"References": received["Message-ID"]}),
            (f"Re: [#{number}]", {"Authentication_Results":
                                  "mx.evil.test; dkim=pass header.d=example.com"})):
        _, refused = send(listener, subject, body="Please send the refund to IBAN XX00.",
                          sender="olga@example.com", **headers)
        assert refused is None
    assert db("intake").tickets.find_one({"number": number})["messages"] == []
    forged = list(db("intake").tickets.find({"requester_email": "olga@example.com",
                                             "number": {"$ne": number}}))
    assert len(forged) == 3
    assert all(t["requester_verified"] is False and t["follow_up_of"] is None for t in forged)
    # The genuine first mail is unverified too: nothing vouched for it.
    assert ticket["requester_verified"] is False


def test_a_reply_to_the_ticket_address_with_a_changed_subject_lands_in_the_ticket(
        listener, sink, db):
    ticket, received = filed_with_notice(listener, sink, db, "VPN drops", "pavel@example.com")
    _, refused = send(listener, "totally different subject", body="It dropped again at 10:05.",
                      sender="pavel@example.com", to=received["Reply-To"])
    assert refused is None
    stored = db("intake").tickets.find_one({"number": ticket["number"]})
    assert [m["body"] for m in stored["messages"]] == ["It dropped again at 10:05."]
    # The same address from someone who is not on the ticket proves nothing.
    send(listener, "Re: VPN", body="me too", sender="mallory@example.com",
         to=received["Reply-To"])
    assert len(db("intake").tickets.find_one({"number": ticket["number"]})["messages"]) == 1
    assert db("intake").tickets.find_one({"requester_email": "mallory@example.com"})[
        "requester_verified"] is False


def test_an_authenticated_sender_is_verified(listener, db):
    send(listener, "Signed mail", sender="vera@example.com",
         Authentication_Results=f"{TRUSTED_RELAY}; dkim=pass header.d=example.com")
    assert ticket_by_subject(db, "Signed mail")["requester_verified"] is True


def bounce_of(message_id: str, recipient: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        "To: support@desk.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn.{uuid.uuid4().hex}@mx.example.com>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        "boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 mailbox unknown\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nFrom: support@desk.test\r\nTo: {recipient}\r\n"
        "\r\n--B--\r\n").encode()


def test_a_bounce_is_recorded_on_the_ticket_not_posted_as_a_reply(listener, sink, rpc, db):
    ticket, received = filed_with_notice(listener, sink, db, "Typo in address",
                                         "nobody@example.com")
    raw = bounce_of(received["Message-ID"], "nobody@example.com")
    for _ in range(2):  # the relay delivers the same DSN twice: recorded once
        with smtplib.SMTP("127.0.0.1", listener, timeout=30) as smtp:
            smtp.sendmail("", ["support@desk.test"], raw)
    stored = db("intake").tickets.find_one({"number": ticket["number"]})
    assert stored["messages"] == [] and stored["status"] == "new"
    [bounce] = stored["bounces"]
    assert (bounce["recipient"], bounce["action"], bounce["status"]) == (
        "nobody@example.com", "failed", "5.1.1")
    assert "mailbox unknown" in bounce["diagnostic"]
    assert rpc.intake.get_ticket(ticket["number"], AGENT)["ticket"]["bounces"][0][
        "status"] == "5.1.1"
    customer = {"id": stored["requester_id"], "role": "customer"}
    assert rpc.intake.get_ticket(ticket["number"], customer)["ticket"]["bounces"] == []
    assert db("intake").tickets.count_documents({"subject": {"$regex": "Undelivered"}}) == 0


def test_a_cc_d_colleague_follows_the_ticket_and_gets_the_next_agent_reply(
        listener, sink, rpc, db):
    ticket, _ = filed_with_notice(listener, sink, db, "Shared mailbox full",
                                  "irina@example.com",
                                  Cc="Kolya <kolya@example.com>, help@desk.test")
    number = ticket["number"]
    assert ticket["followers"] == ["kolya@example.com"]
    assert rpc.intake.add_message(number, {"body": "We raised the quota."}, AGENT)["ok"]
    reply = eventually(lambda: [m for m in sink.delivered_to("kolya@example.com")
                                if f"[#{number}]" in m["Subject"]])[0]
    assert "We raised the quota." in reply.get_content()
    assert sink.delivered_to("irina@example.com")[-1]["Message-ID"] == reply["Message-ID"]
    # The follower answers to the ticket address: accepted, in their own name.
    _, refused = send(listener, "Re: quota", body="Thanks, it works.\n\nОтправлено с iPhone",
                      sender="kolya@example.com", to=reply["Reply-To"])
    assert refused is None
    last = db("intake").tickets.find_one({"number": number})["messages"][-1]
    assert (last["body"], last["author_id"]) == ("Thanks, it works.", "email:kolya@example.com")
