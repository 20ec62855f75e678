"""Field rules reused by several payload schemas."""
from __future__ import annotations

import numbers

from marshmallow import RAISE, Schema, ValidationError, fields, validate

class Strict(Schema):
    """Unknown fields are an error, not silently dropped."""

    class Meta:
        unknown = RAISE


SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,39}$",
                       error="Use 1-40 lowercase letters, digits, '-' or '_'.")


def slug(**kwargs) -> fields.Str:
    return fields.Str(validate=SLUG, **kwargs)


def text(max_length: int, **kwargs) -> fields.Str:
    """A trimmed, non-blank string of bounded length."""
    return _Trimmed(validate=validate.Length(min=1, max=max_length), **kwargs)


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
