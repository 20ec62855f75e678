"""Field rules reused by several payload schemas."""
from __future__ import annotations

import functools
import numbers
import re

from marshmallow import RAISE, Schema, ValidationError, fields, validate


@functools.cache
def shared(schema_class: type[Schema]) -> Schema:
    """One instance of a schema per process: building one (its fields, nested ones included)
    costs more than loading a small payload, and was done for every request and event.  A
    marshmallow schema keeps no state between loads and dumps, so sharing it is safe (its
    messages are fixed English; the portal translates them after loading)."""
    return schema_class()

class Strict(Schema):
    """Unknown fields are an error, not silently dropped."""

    class Meta:
        unknown = RAISE


SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,39}$",
                       error="Use 1-40 lowercase letters, digits, '-' or '_'.")


def slug(**kwargs) -> fields.Str:
    return fields.Str(validate=SLUG, **kwargs)


# C0/C1 controls (CR, LF, TAB, NUL, ESC, ...) and the Unicode line/paragraph separators:
# in a one-line value they would break email headers, logs and page layouts.
LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
SINGLE_LINE_ERROR = "Must be one line without control characters."


def single_line(value: str) -> None:
    """A validator: refuses control characters and line breaks."""
    if LINE_BREAKING.search(value):
        raise ValidationError(SINGLE_LINE_ERROR)


def text(max_length: int, **kwargs) -> fields.Str:
    """A trimmed, non-blank string of bounded length (line breaks allowed: message bodies)."""
    return _Trimmed(validate=validate.Length(min=1, max=max_length), **kwargs)


def line(max_length: int, **kwargs) -> fields.Str:
    """Like ``text`` but one line: subjects, names, titles.  Control characters (CR/LF
    included) are refused, not stripped, so the sender learns their value was not kept."""
    return _Line(validate=validate.Length(min=1, max=max_length), **kwargs)


def flatten_line(value: str) -> str:
    """One line from any text: each run of control characters and line breaks becomes one
    space (for values we must keep, such as an inbound mail's subject, or put in a header)."""
    return re.sub(f"(?:{LINE_BREAKING.pattern})+", " ", value).strip()


class _Trimmed(fields.Str):
    def _deserialize(self, value, attr, data, **kwargs):
        return super()._deserialize(value, attr, data, **kwargs).strip()


class WholeNumber(fields.Int):
    """A JSON integer and nothing else: not "5", not 4.5 or 5.0, not true (a bool is an int
    to Python)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValidationError("Must be a whole number (not text or a fraction).")
        return super()._deserialize(value, attr, data, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        # As it is, not int()-cast: events.new_event dumps, then loads, and the load must see
        # (and refuse) a 4.5 or a "5" rather than a silently truncated 4 or 5.
        return value


class StrictBool(fields.Bool):
    """JSON true or false and nothing else: marshmallow's Bool also takes 0/1, "yes", "on"
    (and ``1 in {True}`` holds in Python, so narrowing ``truthy`` is not enough)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class _Line(_Trimmed):
    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        single_line(value)
        return value


def organization_key(name: str) -> str:
    """The slug a customer organization is known by everywhere (accounts, tickets, SLA
    policies, routing rules): "Acme Corp." -> "acme-corp"; "" when nothing is left."""
    key = re.sub(r"[^a-z0-9_]+", "-", name.casefold()).strip("-_")
    return key[:40].rstrip("-_")


class _OrganizationKey(fields.Str):
    def _deserialize(self, value, attr, data, **kwargs):
        key = organization_key(super()._deserialize(value, attr, data, **kwargs))
        if not key:
            raise ValidationError("Name the organization with Latin letters or digits.")
        return key


def organization(**kwargs) -> fields.Str:
    """An organization name, stored in its slug form (see ``organization_key``)."""
    return _OrganizationKey(validate=validate.Length(max=120), **kwargs)
