"""Canned responses: rendering with no I/O and no template engine on user text.

Templates use ``$name`` / ``${name}`` placeholders (``string.Template``): substitution is
one pass of plain text, so values cannot inject further placeholders or code, and only the
whitelisted names below exist.  ``$$`` writes a literal dollar sign.
"""
from __future__ import annotations

from string import Template

PLACEHOLDERS = {
    "customer_name": {"en": "customer's name", "ru": "имя клиента"},
    "ticket_number": {"en": "ticket number, e.g. #1234", "ru": "номер заявки, например #1234"},
    "ticket_subject": {"en": "ticket subject", "ru": "тема заявки"},
    "agent_name": {"en": "your name", "ru": "ваше имя"},
    "department": {"en": "department", "ru": "отдел"},
}

ERRORS = {
    "unknown": {"en": "Unknown placeholder(s): {names}. Known: {known}.",
                "ru": "Неизвестные подстановки: {names}. Допустимые: {known}."},
    "malformed": {"en": "A '$' must start a placeholder such as ${{agent_name}}; write $$ for a "
                        "dollar sign.",
                  "ru": "Знак '$' должен начинать подстановку, например ${{agent_name}}; "
                        "для знака доллара пишите $$."},
}


class PlaceholderError(ValueError):
    def __init__(self, message: str, unknown: list[str]):
        super().__init__(message)
        self.unknown = unknown


def check_template(body: str, language: str = "en") -> list[str]:
    """The placeholders a template uses; raises PlaceholderError for unknown or malformed."""
    template = Template(body)
    if not template.is_valid():
        raise PlaceholderError(ERRORS["malformed"][language], [])
    names = template.get_identifiers()
    unknown = sorted(set(names) - set(PLACEHOLDERS))
    if unknown:
        raise PlaceholderError(ERRORS["unknown"][language].format(
            names=", ".join(unknown), known=", ".join(sorted(PLACEHOLDERS))), unknown)
    return names


def render(body: str, values: dict[str, str], language: str = "en") -> str:
    check_template(body, language)
    return Template(body).substitute({name: "" if values.get(name) is None else str(values[name])
                                      for name in PLACEHOLDERS})


def display_name(names: dict | None, language: str) -> str | None:
    """A department's name in ``language`` (else English) from {"en": ..., "ru": ...}."""
    if not isinstance(names, dict):
        return None
    found = names.get(language) or names.get("en")
    return found[:120] if isinstance(found, str) and found.strip() else None


def values_for(ticket: dict, agent_name: str | None,
               department_name: str | None = None) -> dict[str, str]:
    return {"customer_name": ticket.get("requester_name") or "",
            "ticket_number": f"#{ticket['number']}", "ticket_subject": ticket["subject"],
            "agent_name": agent_name or "",
            "department": department_name or ticket["department"]}


def visible_to(template: dict, actor: dict) -> bool:
    return template["scope"] == "shared" or template["owner_id"] == actor["id"]


def may_manage(template: dict, actor: dict, may_share: bool) -> bool:
    """Shared responses belong to the team: only roles that may share create, edit or delete
    them.  A personal one is its owner's alone (``owner_id`` None: not saved yet)."""
    if template["scope"] == "shared":
        return may_share
    return template.get("owner_id") in (None, actor["id"])
