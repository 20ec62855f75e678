"""The services' validation messages in the reader's language.

The services answer in English (marshmallow's messages and their own: also the API's
documented text); the pages and the portal's own API answers show each message in the reader's
language.  Known messages, with their numbers and names kept, are rewritten through the
catalog; anything else is shown as the service wrote it, never dropped.  Positions added by
``admin_forms.flatten_errors`` ("#2: ...") stay in front."""
from __future__ import annotations

import re
from typing import Any, Callable

from flask_babel import gettext as _

Rewrite = Callable[[re.Match], str]
POSITION = re.compile(r"^(#\d+: )(.*)$", re.S)


def _known() -> list[tuple[re.Pattern, Rewrite]]:
    """(pattern, rewrite) pairs; built once, translated per call (gettext at call time)."""
    fixed: dict[str, Rewrite] = {
        "Missing data for required field.": lambda m: _("Required."),
        "Field may not be null.": lambda m: _("Required."),
        "Not a valid string.": lambda m: _("Must be text."),
        "Not a valid integer.": lambda m: _("Must be a whole number."),
        "Not a valid number.": lambda m: _("Must be a number."),
        "Not a valid boolean.": lambda m: _("Must be true or false."),
        "Must be true or false.": lambda m: _("Must be true or false."),
        "Not a valid list.": lambda m: _("Must be a list."),
        "Not a valid datetime.": lambda m: _("Must be a date and time."),
        "Not a valid date.": lambda m: _("Must be a date (YYYY-MM-DD)."),
        "Not a valid email address.": lambda m: _("Must be an email address."),
        "Not a valid URL.": lambda m: _("Must be a web address (URL)."),
        "Unknown field.": lambda m: _("Not a field of this form."),
        "String does not match expected pattern.": lambda m: _("Not in the expected form."),
        "Use 1-40 lowercase letters, digits, '-' or '_'.":
            lambda m: _("Use 1-40 lowercase letters, digits, '-' or '_'."),
        "Must be one line without control characters.":
            lambda m: _("Write this on one line, without line breaks or control characters."),
        "Must be a whole number (not text or a fraction).":
            lambda m: _("Must be a whole number (not text or a fraction)."),
        "Must be a fraction of the target between 0 and 1 (e.g. 0.8).":
            lambda m: _("Must be a fraction of the target between 0 and 1 (e.g. 0.8)."),
        "an article with this id exists": lambda m: _("An article with this id exists."),
        "unknown agent": lambda m: _("Unknown agent."),
        "That rule no longer exists.": lambda m: _("That rule no longer exists."),
        "the new name is the same as the old one":
            lambda m: _("The new name is the same as the old one."),
        "Invalid value.": lambda m: _("Invalid value."),
        "Invalid input type.": lambda m: _("Invalid input type."),
        "Invalid type.": lambda m: _("Invalid type."),
        "Not a valid mapping type.": lambda m: _("Not a valid mapping type."),
        "Expected a JSON object.": lambda m: _("Expected a JSON object."),
        "Send a JSON object with Content-Type: application/json.":
            lambda m: _("Send a JSON object with Content-Type: application/json."),
        "Sign in first (Authorization: Bearer ...).":
            lambda m: _("Sign in first (Authorization: Bearer ...)."),
        "Your role cannot do this.": lambda m: _("Your role cannot do this."),
        "ticket not found": lambda m: _("ticket not found"),
        # the automation service's
        "Use HH:MM (00:00-23:59).": lambda m: _("Use HH:MM (00:00-23:59)."),
        "A tag is 1-50 characters, no spaces or commas.":
            lambda m: _("A tag is 1-50 characters, no spaces or commas."),
        "A string, true/false, or a list of 1-50 strings.":
            lambda m: _("A string, true/false, or a list of 1-50 strings."),
        "Unknown time zone, e.g. Europe/Moscow.":
            lambda m: _("Unknown time zone, e.g. Europe/Moscow."),
        "Give the subject and body in the same languages.":
            lambda m: _("Give the subject and body in the same languages."),
        "Required for this action.": lambda m: _("Required for this action."),
        "Required for a new webhook.": lambda m: _("Required for a new webhook."),
        "trigger not found": lambda m: _("trigger not found"),
        "webhook not found": lambda m: _("webhook not found"),
        "dead letter not found": lambda m: _("dead letter not found"),
    }
    patterns: list[tuple[str, Rewrite]] = [
        (r"Shorter than minimum length (\d+)\.",
         lambda m: _("At least %(n)s characters.", n=m[1])),
        (r"Longer than maximum length (\d+)\.",
         lambda m: _("At most %(n)s characters.", n=m[1])),
        (r"Length must be between (\d+) and (\d+)\.",
         lambda m: _("From %(min)s to %(max)s long.", min=m[1], max=m[2])),
        (r"Must be greater than or equal to (\S+) and less than or equal to (\S+)\.",
         lambda m: _("Must be from %(min)s to %(max)s.", min=m[1], max=m[2])),
        (r"Must be greater than or equal to (\S+)\.",
         lambda m: _("Must be %(min)s or more.", min=m[1])),
        (r"Must be less than or equal to (\S+)\.",
         lambda m: _("Must be %(max)s or less.", max=m[1])),
        (r"Must be a whole number of minutes from (\S+) to (\S+)\.",
         lambda m: _("Must be a whole number of minutes from %(min)s to %(max)s.",
                     min=m[1], max=m[2])),
        (r"Must be a whole number of days from (\S+) to (\S+)\.",
         lambda m: _("Must be a whole number of days from %(min)s to %(max)s.",
                     min=m[1], max=m[2])),
        (r"Must be one of: (.*)\.", lambda m: _("Must be one of: %(choices)s.", choices=m[1])),
        (r"One of: (.*)\.", lambda m: _("One of: %(choices)s.", choices=m[1])),
        (r"unknown department: (.*)", lambda m: _("Unknown department: %(id)s.", id=m[1])),
        (r"Unknown time zone (.*?); use an IANA name such as .*",
         lambda m: _("Unknown time zone %(zone)s; use an IANA name such as Europe/Moscow.",
                     zone=m[1])),
        (r"Line (\d+): write 'field operator value', e\.g\. .*",
         lambda m: _("Line %(n)s: write 'field operator value', e.g. 'subject contains_any "
                     "refund, invoice'.", n=m[1])),
        (r"Write intervals as 09:00-13:00, 14:00-18:00 \(not (.*)\)\.",
         lambda m: _("Write intervals as 09:00-13:00, 14:00-18:00 (not %(value)s).",
                     value=m[1])),
        (r"(.*) is not a month and day as MM-DD\.",
         lambda m: _("%(value)s is not a month and day as MM-DD.", value=m[1])),
    ]
    return [(re.compile(re.escape(text) + "$"), rewrite) for text, rewrite in fixed.items()] \
        + [(re.compile(pattern + "$", re.S), rewrite) for pattern, rewrite in patterns]


KNOWN = _known()


def translated(message: str) -> str:
    """One message in the reader's language when it is a known one."""
    position, text = "", str(message)
    found = POSITION.match(text)
    if found:
        position, text = found[1], found[2]
    for pattern, rewrite in KNOWN:
        matched = pattern.match(text)
        if matched:
            return position + rewrite(matched)
    return position + text


def localize(errors: Any) -> Any:
    """The same structure of field messages (flat or nested), each in the reader's language."""
    if isinstance(errors, dict):
        return {key: localize(value) for key, value in errors.items()}
    if isinstance(errors, (list, tuple)):
        return [localize(item) for item in errors]
    return translated(errors) if isinstance(errors, str) else errors


def field_label(field: str) -> str | None:
    """What a form calls a field, for the list of problems above it; None for a field the
    reader would not recognise by name (its message is shown alone)."""
    return {
        "subject": _("Subject"), "description": _("Details"), "body": _("Message"),
        "requester_email": _("Your email"), "requester_name": _("Your name"),
        "email": _("Email"), "password": _("Password"), "name": _("Name"),
        "title": _("Title"), "department": _("Department"), "priority": _("Priority"),
        "status": _("Status"), "tags": _("Tags"), "files": _("Files"), "id": _("Id"),
        "language": _("Language"), "capacity": _("Capacity"), "category": _("Category"),
        "time_zone": _("Time zone"), "position": _("Position"),
        "conditions": _("Conditions"), "sort": _("Sort"), "score": _("Score"),
    }.get(field)
