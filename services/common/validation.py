"""Field rules reused by several payload schemas."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

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
