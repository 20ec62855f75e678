"""Email rules with no I/O: reading an inbound message, deciding whether it is a person
writing (not an auto-reply or a bounce), finding the ticket it continues, and composing
outbound notifications in Russian and English (to requesters, and SLA warnings to the
assignee)."""
from __future__ import annotations

import base64
import email
import email.policy
import re
from datetime import timezone
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.text import MIMEText
from email.utils import formataddr, getaddresses, parseaddr

from services.common.validation import flatten_line

from . import attachments as att
from . import mail_trust as trust

SUBJECT_NUMBER = re.compile(r"\[#(\d{1,9})\]")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
MAX_INBOUND_BYTES = 15 * 1024 * 1024
_QUOTE_MARKERS = (re.compile(r"^-{2,}\s*(original message|исходное сообщение)", re.I | re.M),
                  re.compile(r"^On .+ wrote:$", re.M),
                  re.compile(r"^.+ (пишет|написал\(а\)):$", re.M))


class MalformedEmail(ValueError):
    pass


def auto_reason(msg: EmailMessage, envelope_from: str | None) -> str | None:
    """Why this message must not create or continue a ticket (None: a person wrote it)."""
    sender = (envelope_from or "").strip()
    if sender in ("", "<>"):
        return "empty return path (bounce)"
    local = sender.split("@")[0].lower()
    if local in ("mailer-daemon", "postmaster"):
        return "mailer daemon"
    if (msg.get("Auto-Submitted") or "no").strip().lower() != "no":
        return "Auto-Submitted"
    if msg.get("X-Autoreply") or msg.get("X-Autorespond"):
        return "auto-responder"
    if (msg.get("Precedence") or "").strip().lower() in ("bulk", "junk", "list"):
        return "bulk precedence"
    if (msg.get_content_type() == "multipart/report"
            or "delivery status notification" in (msg.get("Subject") or "").lower()):
        return "delivery report"
    return None


def _text_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    content = part.get_content()
    if part.get_content_type() == "text/html":
        content = re.sub(r"<[^>]+>", " ", content)  # plain text of an HTML-only mail
    return content


def strip_quoted(body: str) -> str:
    """A reply's own words: drop the quoted previous message that mail clients append."""
    body = body.replace("\r\n", "\n")
    cut = len(body)
    for marker in _QUOTE_MARKERS:
        if m := marker.search(body):
            cut = min(cut, m.start())
    lines = [ln for ln in body[:cut].splitlines() if not ln.startswith(">")]
    return "\n".join(lines).strip()


def parse_inbound(raw: bytes, envelope_from: str | None, rcpt_tos: list[str] = (),
                  trusted_authserv_ids: frozenset[str] = frozenset()) -> dict:
    """The fields intake needs, JSON-ready (attachments base64).  ``rcpt_tos`` are the SMTP
    envelope's recipients (where reply tokens are looked for, with To/Cc/Delivered-To);
    the relay's Authentication-Results count only from ``trusted_authserv_ids``."""
    if len(raw) > MAX_INBOUND_BYTES:
        raise MalformedEmail("message too large")
    try:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        name, address = parseaddr(str(msg.get("From") or ""))
        subject = str(msg.get("Subject") or "").strip()
        body = _text_body(msg)
    except (ValueError, LookupError, TypeError, AttributeError) as exc:
        raise MalformedEmail(f"cannot read the message: {exc}") from None
    if "@" not in address:
        raise MalformedEmail("no sender address in From")
    files = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        files.append({"filename": att.sanitize_filename(part.get_filename() or "attachment"),
                      "content_type": part.get_content_type(),
                      "data": base64.b64encode(data).decode("ascii")})
    references = MESSAGE_ID.findall(str(msg.get("In-Reply-To") or "")) + MESSAGE_ID.findall(
        str(msg.get("References") or ""))
    recipients_seen = list(rcpt_tos) + [a for _, a in getaddresses(
        [str(v) for name in ("To", "Cc", "Delivered-To") for v in msg.get_all(name) or []])]
    bounce = trust.delivery_report(msg)
    if bounce and bounce["original_message_id"]:
        references.insert(0, bounce["original_message_id"])
    return {
        "message_id": (MESSAGE_ID.findall(str(msg.get("Message-ID") or "")) or [None])[0],
        "from_email": address.lower(), "from_name": name or None,
        "subject": subject or "(no subject)", "body": body.strip(),
        "references": list(dict.fromkeys(references)),
        "language": "ru" if re.search(r"[а-яё]", subject + body, re.I) else "en",
        "auto": auto_reason(msg, envelope_from), "attachments": files,
        "reply_tokens": trust.candidate_tokens(recipients_seen),
        "cc": trust.cc_addresses(msg),
        "sender_authenticated": trust.sender_authenticated(msg, address, trusted_authserv_ids),
        "bounce": bounce,
    }


def subject_number(subject: str) -> int | None:
    m = SUBJECT_NUMBER.search(subject)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------- outbound

TEMPLATES = {
    "received": {
        "en": ("[#{number}] We received your request: {subject}",
               "Hello {name},\n\nThank you for writing. Your request has number #{number}; "
               "reply to this email to add to it.\n\n{portal_url}/my/tickets/{number}\n"),
        "ru": ("[#{number}] Ваша заявка принята: {subject}",
               "Здравствуйте, {name}!\n\nСпасибо за обращение. Номер вашей заявки #{number}; "
               "чтобы дополнить её, ответьте на это письмо.\n\n{portal_url}/my/tickets/{number}\n"),
    },
    # Filed without signing in: the acknowledgement carries the link that confirms the sender
    # owns the address (alone, "confirm_sender", when an admin switched "received" off).
    "received_unconfirmed": {
        "en": ("[#{number}] We received your request: {subject}",
               "Hello {name},\n\nThank you for writing. Your request has number #{number}; "
               "reply to this email to add to it.\n\n{portal_url}/my/tickets/{number}\n\n"
               "It was sent from this address without signing in. If you sent it, open this "
               "link to confirm:\n{confirm_url}\n\nIf it was not you, ignore this message.\n"),
        "ru": ("[#{number}] Ваша заявка принята: {subject}",
               "Здравствуйте, {name}!\n\nСпасибо за обращение. Номер вашей заявки #{number}; "
               "чтобы дополнить её, ответьте на это письмо.\n\n{portal_url}/my/tickets/{number}"
               "\n\nОна отправлена с этого адреса без входа в систему. Если это были вы, "
               "подтвердите по ссылке:\n{confirm_url}\n\nЕсли это были не вы, просто "
               "не обращайте внимания на это письмо.\n"),
    },
    "confirm_sender": {
        "en": ("[#{number}] Confirm your request: {subject}",
               "Hello {name},\n\nWe have received request #{number}, sent from this address "
               "without signing in.\n\nIf you sent it, open this link to confirm:\n"
               "{confirm_url}\n\nIf it was not you, ignore this message.\n"),
        "ru": ("[#{number}] Подтвердите обращение: {subject}",
               "Здравствуйте, {name}!\n\nМы получили обращение №{number}, отправленное с "
               "этого адреса без входа в систему.\n\nЕсли его отправили вы, откройте ссылку, "
               "чтобы подтвердить:\n{confirm_url}\n\nЕсли это были не вы, просто не "
               "обращайте внимания на это письмо.\n"),
    },
    "replied": {
        "en": ("[#{number}] New reply: {subject}",
               "Hello {name},\n\n{author} replied to your request #{number}:\n\n{body}\n\n"
               "Reply to this email to answer.\n"),
        "ru": ("[#{number}] Новый ответ: {subject}",
               "Здравствуйте, {name}!\n\n{author} ответил(а) по вашей заявке #{number}:\n\n"
               "{body}\n\nЧтобы ответить, ответьте на это письмо.\n"),
    },
    "solved": {
        "en": ("[#{number}] Solved: {subject}",
               "Hello {name},\n\nYour request #{number} is solved. How did we do? "
               "Choose a score (you can add a comment on the page):\n\n"
               "5 - Excellent: {csat_url}?score=5\n4 - Good: {csat_url}?score=4\n"
               "3 - OK: {csat_url}?score=3\n2 - Poor: {csat_url}?score=2\n"
               "1 - Very poor: {csat_url}?score=1\n\n"
               "Reply to this email if you still need help.\n"),
        "ru": ("[#{number}] Решено: {subject}",
               "Здравствуйте, {name}!\n\nВаша заявка #{number} решена. Оцените, пожалуйста, "
               "нашу работу (на странице можно добавить комментарий):\n\n"
               "5 — отлично: {csat_url}?score=5\n4 — хорошо: {csat_url}?score=4\n"
               "3 — нормально: {csat_url}?score=3\n2 — плохо: {csat_url}?score=2\n"
               "1 — очень плохо: {csat_url}?score=1\n\n"
               "Если вопрос остался, просто ответьте на письмо.\n"),
    },
    # Sent by the automation's time rule to a pending ticket's silent requester.
    "reminder": {
        "en": ("[#{number}] Do you still need help? {subject}",
               "Hello {name},\n\nWe are waiting for your answer on request #{number}. "
               "Reply to this email to continue; if we do not hear from you, we will mark "
               "the request solved in a few days.\n\n{portal_url}/my/tickets/{number}\n"),
        "ru": ("[#{number}] Вам ещё нужна помощь? {subject}",
               "Здравствуйте, {name}!\n\nМы ждём вашего ответа по заявке #{number}. "
               "Чтобы продолжить, ответьте на это письмо; если ответа не будет, через "
               "несколько дней мы отметим заявку как решённую.\n\n"
               "{portal_url}/my/tickets/{number}\n"),
    },
    # To the assignee, not the requester (see IntakeService.notify_sla_warning).
    "sla_warning": {
        "en": ("[#{number}] SLA warning: {target} due {deadline}",
               "Hello {name},\n\nThe {target} deadline of ticket #{number}, assigned to you, "
               "is near.\n\nSubject: {subject}\nDue: {deadline}\n\n"
               "Open it in the agent workspace:\n{portal_url}/agent/tickets/{number}\n\n"
               "This is an automatic notice; please answer in the workspace, not by "
               "replying to this email.\n"),
        "ru": ("[#{number}] Предупреждение SLA: {target} до {deadline}",
               "Здравствуйте, {name}!\n\nПриближается срок по заявке #{number}, назначенной "
               "вам: {target}.\n\nТема: {subject}\nСрок: {deadline}\n\n"
               "Откройте заявку в рабочем месте агента:\n{portal_url}/agent/tickets/{number}"
               "\n\nЭто автоматическое уведомление; отвечайте в рабочем месте, а не на это "
               "письмо.\n"),
    },
    # To the requester: a duplicate request was merged into the one the desk continues.
    "merged": {
        "en": ("[#{merged_number}] Merged into #{number}: {subject}",
               "Hello {name},\n\nYour request #{merged_number} was merged into request "
               "#{number}, which covers the same question; everything you sent is kept "
               "there and we continue in it.\n\n{portal_url}/my/tickets/{number}\n"),
        "ru": ("[#{merged_number}] Объединена с #{number}: {subject}",
               "Здравствуйте, {name}!\n\nВаша заявка #{merged_number} объединена с заявкой "
               "#{number} по тому же вопросу; всё, что вы прислали, сохранено там, и мы "
               "продолжаем работу в ней.\n\n{portal_url}/my/tickets/{number}\n"),
    },
    # To staff (see IntakeService.notify_mentioned / notify_followers); not threaded.
    "mentioned": {
        "en": ("[#{number}] {author} mentioned you: {subject}",
               "Hello {name},\n\n{author} mentioned you in an internal note on ticket "
               "#{number}:\n\n{body}\n\n{portal_url}/agent/tickets/{number}\n\n"
               "Please answer in the workspace, not by replying to this email.\n"),
        "ru": ("[#{number}] {author} упомянул(а) вас: {subject}",
               "Здравствуйте, {name}!\n\n{author} упомянул(а) вас во внутренней заметке к "
               "заявке #{number}:\n\n{body}\n\n{portal_url}/agent/tickets/{number}\n\n"
               "Отвечайте в рабочем месте, а не на это письмо.\n"),
    },
    "followed": {
        "en": ("[#{number}] New message from {author}: {subject}",
               "Hello {name},\n\n{author} wrote on ticket #{number}, which you follow:"
               "\n\n{body}\n\n{portal_url}/agent/tickets/{number}\n\n"
               "Please answer in the workspace, not by replying to this email.\n"),
        "ru": ("[#{number}] Новое сообщение от {author}: {subject}",
               "Здравствуйте, {name}!\n\n{author} написал(а) в заявке #{number}, за "
               "которой вы следите:\n\n{body}\n\n{portal_url}/agent/tickets/{number}\n\n"
               "Отвечайте в рабочем месте, а не на это письмо.\n"),
    },
}
SLA_TARGET_NAMES = {
    "en": {"first_response": "first response", "next_response": "next response",
           "resolution": "resolution"},
    "ru": {"first_response": "первый ответ", "next_response": "следующий ответ",
           "resolution": "решение"},
}


def language_for(kind: str, wanted: str | None, settings: dict) -> str:
    """The language a notification is written in: the wanted one when it has a template,
    else the admin's fallback language, else English."""
    templates = TEMPLATES[kind]
    for language in (wanted, settings["default_language"]):
        if language in templates:
            return language
    return "en"


def sla_warning_values(ticket: dict, warning: dict, language: str, portal_url: str) -> dict:
    """What the assignee's SLA warning says: ticket number and subject, which target, its
    deadline (UTC) and the workspace link; nothing from the thread, so no internal note can
    slip in."""
    due = warning["due_at"].astimezone(timezone.utc)
    return {"number": ticket["number"], "subject": ticket["subject"],
            "name": ticket.get("assignee_name") or ticket["assignee_email"],
            "target": SLA_TARGET_NAMES[language][warning["target"]],
            "deadline": f"{due:%Y-%m-%d %H:%M} UTC", "portal_url": portal_url}


# Forms of the "received" notice (a sender not signed in), not switched on their own.
RECEIVED_FORMS = ("received_unconfirmed", "confirm_sender")
NOTIFICATIONS = tuple(kind for kind in TEMPLATES if kind not in RECEIVED_FORMS)


def effective_settings(saved: dict | None, default_sender: str) -> dict:
    """The admin's saved email settings over the deployment's defaults (HELPDESK_MAIL_FROM,
    every notification on, English), so a partial or missing document still works."""
    settings = {"sender_address": default_sender, "sender_name": None, "reply_to": None,
                "default_language": "en", **(saved or {})}
    chosen = (saved or {}).get("notifications") or {}
    settings["notifications"] = {kind: bool(chosen.get(kind, True)) for kind in NOTIFICATIONS}
    return settings


def compose(kind: str, language: str, *, to: str, settings: dict, message_id: str,
            references: list[str], cc: list[str] = (), **values) -> Message:
    """An outbound notification from the sender in ``settings`` (see effective_settings).
    Values are plain text placed with str.format on our own template, never parsed as a
    template themselves."""
    subject_t, body_t = TEMPLATES[kind][language_for(kind, language, settings)]
    return compose_text(subject_t.format(**values), body_t.format(**values), to=to, cc=cc,
                        settings=settings, message_id=message_id, references=references)


def compose_text(subject: str, body: str, *, to: str, settings: dict, message_id: str,
                 references: list[str], cc: list[str] = ()) -> Message:
    """A mail with this subject and body from the desk (notifications and the automation's
    trigger mails), threaded after ``references``.  Built with the email package's classic
    classes: the same message as with its newer API, which parses back and refolds every
    header, for a tenth of the CPU (one mail per filed ticket)."""
    headers = {"To": to, "Cc": ", ".join(cc), "Reply-To": settings["reply_to"],
               "Subject": subject, "Message-ID": message_id,
               # other desks' auto-replies must not answer us
               "Auto-Submitted": "auto-generated"}
    if references:
        headers["In-Reply-To"] = references[-1]
        headers["References"] = " ".join(references[-10:])
    msg = MIMEText(body, "plain", "utf-8")
    msg["From"] = formataddr((flatten_line(settings["sender_name"] or ""),
                              settings["sender_address"]), charset="utf-8")
    for name, value in headers.items():
        if value:
            # Values are validated on the way in, but a line break that slipped into stored
            # data (older tickets) must cost a space, not the notification (or add a header).
            value = flatten_line(value)
            msg[name] = value if value.isascii() else Header(value, "utf-8")
    return msg


def recipients(msg: Message) -> list[str]:
    return [addr for _, addr in getaddresses([str(msg.get("To") or "")])]
