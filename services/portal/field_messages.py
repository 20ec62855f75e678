"""Field messages from the services' schemas in the reader's language.

The services validate in English (their messages are also the API's documented text); the
portal puts each message through the gettext catalog before showing it.  A message with
values in it ("Must be one of: a, b.") is matched against the English template it was made
from, and the values are put into the translated template.  A message that matches no
template is shown as it came (English), never dropped."""
from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext


def _(message: str) -> str:
    """Marks a template for the catalog (pybabel extracts ``_``); translated in ``localize``."""
    return message


TEMPLATES = (
    # marshmallow's own
    _("Missing data for required field."),
    _("Field may not be null."),
    _("Invalid value."),
    _("Unknown field."),
    _("Invalid input type."),
    _("Invalid type."),
    _("Not a valid string."),
    _("Not a valid integer."),
    _("Not a valid boolean."),
    _("Not a valid list."),
    _("Not a valid URL."),
    _("Not a valid mapping type."),
    _("Must be one of: %(choices)s."),
    _("Length must be between %(min)s and %(max)s."),
    _("Shorter than minimum length %(min)s."),
    _("Longer than maximum length %(max)s."),
    _("Must be greater than or equal to %(min)s and less than or equal to %(max)s."),
    _("Must be greater than or equal to %(min)s."),
    # services/common
    _("Use 1-40 lowercase letters, digits, '-' or '_'."),
    _("Must be one line without control characters."),
    _("Expected a JSON object."),
    _("Send a JSON object with Content-Type: application/json."),
    _("Sign in first (Authorization: Bearer ...)."),
    _("Your role cannot do this."),
    _("ticket not found"),
    # the automation service's
    _("Must be a whole number of days from %(min)s to %(max)s."),
    _("Must be a whole number of minutes from %(min)s to %(max)s."),
    _("Use HH:MM (00:00-23:59)."),
    _("A tag is 1-50 characters, no spaces or commas."),
    _("A string, true/false, or a list of 1-50 strings."),
    _("Unknown time zone, e.g. Europe/Moscow."),
    _("Give the subject and body in the same languages."),
    _("Required for this action."),
    _("One of: %(choices)s."),
    _("Required for a new webhook."),
    _("trigger not found"),
    _("webhook not found"),
    _("dead letter not found"),
)


def _pattern(template: str) -> re.Pattern:
    parts = re.split(r"%\((\w+)\)s", template)
    regex = "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)"
                    for i, part in enumerate(parts))
    return re.compile(f"^{regex}$")


PATTERNS = tuple((_pattern(t), t) for t in TEMPLATES)


def translate(message: str) -> str:
    for pattern, template in PATTERNS:
        found = pattern.match(message)
        if found:
            return gettext(template, **found.groupdict())
    return message


def localize(errors: Any) -> Any:
    """The same structure of field messages, each in the reader's language."""
    if isinstance(errors, dict):
        return {key: localize(value) for key, value in errors.items()}
    if isinstance(errors, (list, tuple)):
        return [localize(item) for item in errors]
    return translate(errors) if isinstance(errors, str) else errors
