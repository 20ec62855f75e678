"""Who may write into a ticket by email, with no I/O: per-ticket reply addresses
(plus-addressing with a signed token), the receiving relay's Authentication-Results verdict,
delivery status notifications (bounces), followers from Cc, and signatures trimmed from
replies.  The trust model is described in docs/tickets.md ("Who may reply by email")."""
from __future__ import annotations

import hashlib
import hmac
import re
from email.message import EmailMessage
from email.utils import getaddresses
from typing import TypedDict

import authres

# support+t1234-0123456789abcdef@desk.example: ticket number and 64 bits of HMAC-SHA256.
REPLY_TOKEN = re.compile(r"\+(t(\d{1,9})-([0-9a-f]{16}))@", re.I)
MAX_FOLLOWERS = 20
_SIGNATURE_MARKERS = (
    re.compile(r"^-- ?$"),  # RFC 3676 signature separator
    re.compile(r"^(sent from my|sent from|get outlook for) \S.*$", re.I),
    re.compile(r"^(отправлено с|отправлено из|отправлено со) \S.*$", re.I),
    re.compile(r"^(best|kind|warm|warmest)? ?regards,?$", re.I),
    re.compile(r"^(best wishes|sincerely|yours sincerely),?$", re.I),
    re.compile(r"^(с уважением|с наилучшими пожеланиями|всего доброго|всего хорошего)\b.*$",
               re.I),
)


class Bounce(TypedDict):
    """A delivery status notification (RFC 3464) about a mail the desk sent."""

    recipient: str | None
    action: str | None
    status: str | None
    diagnostic: str | None
    original_message_id: str | None


# ---------------------------------------------------------------------------- reply tokens

def reply_token(number: int, secret: str) -> str:
    mac = hmac.new(secret.encode(), f"reply:{number}".encode(), hashlib.sha256).hexdigest()
    return f"t{number}-{mac[:16]}"


def reply_address(base_address: str, number: int, secret: str) -> str:
    """The desk's address with the ticket's token as its plus part."""
    local, _, domain_part = base_address.rpartition("@")
    return f"{local.split('+', 1)[0]}+{reply_token(number, secret)}@{domain_part}"


def candidate_tokens(addresses: list[str]) -> list[str]:
    """Token-looking plus parts of the recipients (not yet checked: intake has the key)."""
    found = [m.group(1).lower() for a in addresses if (m := REPLY_TOKEN.search(a))]
    return list(dict.fromkeys(found))


def token_number(tokens: list[str], secret: str) -> int | None:
    """The ticket number of the first correctly signed token, else None."""
    for token in tokens:
        number = token[1:].split("-", 1)[0]
        if number.isdigit() and hmac.compare_digest(reply_token(int(number), secret),
                                                    token.lower()):
            return int(number)
    return None


# ---------------------------------------------------------------------------- sender

def _domain_of(value: str | None) -> str:
    return (value or "").rpartition("@")[2].strip().strip(">").lower()


def _aligned(identity_domain: str, from_domain: str) -> bool:
    """Relaxed alignment (as DMARC): the same organisational domain, or a subdomain of it."""
    return bool(identity_domain) and (from_domain == identity_domain
                                      or from_domain.endswith("." + identity_domain)
                                      or identity_domain.endswith("." + from_domain))


def _identity_domain(result) -> str:
    """The domain a passing DKIM/SPF/DMARC result vouches for."""
    wanted = {"dkim": ("header", "d"), "spf": ("smtp", "mailfrom"),
              "dmarc": ("header", "from")}.get(result.method.lower())
    for prop in result.properties:
        if wanted and (prop.type.lower(), prop.name.lower()) == wanted:
            return _domain_of(prop.value) if "@" in prop.value else prop.value.lower()
    return ""


def sender_authenticated(msg: EmailMessage, from_address: str,
                         trusted_authserv_ids: frozenset[str]) -> bool:
    """True when the receiving relay (a trusted authserv-id) says DKIM, SPF or DMARC passed
    for the From address's domain.  Only the topmost Authentication-Results header with a
    trusted id counts: the relay writes its own above anything the sender brought (and is
    expected to remove forged ones with its id, RFC 8601 section 5)."""
    from_domain = _domain_of(from_address)
    for value in msg.get_all("Authentication-Results") or []:
        try:
            header = authres.AuthenticationResultsHeader.parse(
                f"Authentication-Results: {value}")
        except Exception:  # noqa: BLE001 - authres raises its own error types; unreadable = no
            continue
        if (header.authserv_id or "").lower() not in trusted_authserv_ids:
            continue
        return any(r.result.lower() == "pass" and r.method.lower() in ("dkim", "spf", "dmarc")
                   and _aligned(_identity_domain(r), from_domain) for r in header.results)
    return False


def trusted_ids(raw: str | None) -> frozenset[str]:
    """HELPDESK_MAIL_TRUSTED_AUTHSERV_IDS: comma-separated; empty trusts no relay."""
    return frozenset(part.strip().lower() for part in (raw or "").split(",") if part.strip())


def reply_accepted(ticket: dict, sender: str, token_number: int | None,
                   authenticated: bool) -> bool:
    """A mail continues ``ticket`` only when its sender is the requester or a follower AND it
    proves it: it went to this ticket's signed reply address, or the trusted relay
    authenticated the From domain.  Anything else starts a new, unverified ticket."""
    known = sender.lower() in {(ticket.get("requester_email") or "").lower(),
                               *ticket.get("followers", [])}
    return known and (token_number == ticket["number"] or authenticated)


# ---------------------------------------------------------------------------- bounces

def _header_of(part, name: str) -> str | None:
    value = part.get(name)
    return str(value).strip() if value is not None else None


def delivery_report(msg: EmailMessage) -> Bounce | None:
    """The failed recipient and reason of a DSN (multipart/report;
    report-type=delivery-status), with the Message-ID of the mail that bounced."""
    if (msg.get_content_type() != "multipart/report"
            or (msg.get_param("report-type") or "").lower() != "delivery-status"):
        return None
    per_recipient, original_id = None, None
    for part in msg.walk():
        kind, payload = part.get_content_type(), part.get_payload()
        if kind == "message/delivery-status" and isinstance(payload, list) and len(payload) > 1:
            # The first block describes the reporting MTA; the next ones each recipient.
            per_recipient = payload[1]
        elif kind == "message/rfc822" and isinstance(payload, list) and payload:
            original_id = original_id or _header_of(payload[0], "Message-ID")
        elif kind == "text/rfc822-headers" and isinstance(payload, str):
            found = re.search(r"^Message-ID:\s*(<[^<>\s]+>)", payload, re.I | re.M)
            original_id = original_id or (found and found.group(1))
    if per_recipient is None:
        return Bounce(recipient=None, action=None, status=None, diagnostic=None,
                      original_message_id=original_id)
    recipient = _header_of(per_recipient, "Final-Recipient") or _header_of(
        per_recipient, "Original-Recipient")
    diagnostic = _header_of(per_recipient, "Diagnostic-Code")
    return Bounce(recipient=recipient.split(";", 1)[-1].strip().lower() if recipient else None,
                  action=(_header_of(per_recipient, "Action") or "").lower() or None,
                  status=_header_of(per_recipient, "Status"),
                  diagnostic=diagnostic[:500] if diagnostic else None,
                  original_message_id=original_id)


# ---------------------------------------------------------------------------- followers

def cc_addresses(msg: EmailMessage) -> list[str]:
    return list(dict.fromkeys(a.lower() for _, a in getaddresses([str(msg.get("Cc") or "")])
                              if "@" in a))


def new_followers(cc: list[str], current: list[str], *, sender: str, requester: str | None,
                  desk_addresses: list[str | None]) -> list[str]:
    """Followers after a mail: the current ones plus the Cc'd people who are not the sender or
    the requester.  Addresses in the desk's own domains never follow: they are the desk's
    other inboxes (a loop) or its staff, who work in the workspace."""
    desk_domains = {_domain_of(a) for a in desk_addresses if a}
    skip = {sender.lower(), (requester or "").lower(), *current}
    added = [a for a in cc if _domain_of(a) not in desk_domains and a not in skip]
    return (current + added)[:MAX_FOLLOWERS]


# ---------------------------------------------------------------------------- signatures

def trim_signature(body: str) -> str:
    """Drop a signature block: from the first signature marker line (never the first line)
    to the end: "-- ", "Sent from my iPhone", "Отправлено с iPhone", "Best regards",
    "С уважением"..."""
    lines = body.splitlines()
    for index, line in enumerate(lines):
        if index and any(marker.match(line.strip()) for marker in _SIGNATURE_MARKERS):
            return "\n".join(lines[:index]).rstrip()
    return body
