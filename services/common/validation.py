"""Field rules reused by several payload schemas."""
from __future__ import annotations

import re

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
