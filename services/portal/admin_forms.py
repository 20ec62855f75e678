"""Administration forms <-> the owning services' payloads, with no I/O.

HTML forms carry strings; the services' schemas expect numbers, lists and nested objects.
Form fields are named by the payload path they fill (``targets.first_response``,
``hours.mon``), so a service's field message lands next to the input it is about.  This
module only reshapes: a number that is not one is passed on as typed, and the owning
service's schema says what is wrong with it.  Only shapes a form invents (a line of a
condition, a day's intervals) are checked here, with ``FormProblem``."""
from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Mapping

from slugify import slugify

from services.intake.schemas import NotificationToggles
from services.routing.schemas import LIST_OPERATORS
from services.sla.schemas import WEEKDAYS

INTEGER = re.compile(r"^-?\d{1,12}$")
NUMBER = re.compile(r"^-?\d{0,12}(\.\d{1,12})?$")


class FormProblem(Exception):
    """A form that cannot even be reshaped into a payload: field name -> messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def flatten_errors(errors: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"targets": {"resolution": [..]}} -> {"targets.resolution": [..]}.  List positions
    (``holidays.2``, ``conditions.0``) stay with their field, named in the message."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            name, index = str(key), None
            head, _, tail = name.rpartition(".")
            if name.isdigit():
                name, index = "", int(name)
            elif head and tail.isdigit():
                name, index = head, int(tail)
            path = ".".join(p for p in (prefix, name) if p)
            for field, messages in flatten_errors(value, path).items():
                if index is not None:
                    messages = [f"#{index + 1}: {m}" for m in messages]
                flat.setdefault(field or "_schema", []).extend(messages)
    elif isinstance(errors, (list, tuple)):
        for item in errors:
            if isinstance(item, (Mapping, list, tuple)):
                for field, messages in flatten_errors(item, prefix).items():
                    flat.setdefault(field, []).extend(messages)
            else:
                flat.setdefault(prefix, []).append(str(item))
    else:
        flat.setdefault(prefix, []).append(str(errors))
    return flat


# ---------------------------------------------------------------------------- small pieces

def words(raw: str | None) -> list[str]:
    """A comma (or line) separated list, blanks dropped."""
    return [w.strip() for w in re.split(r"[,\n]", raw or "") if w.strip()]


def optional(raw: str | None) -> str | None:
    return (raw or "").strip() or None


def integer(raw: str | None) -> Any:
    """An int when it reads as one; otherwise as typed, for the schema to refuse."""
    text = (raw or "").strip()
    return int(text) if INTEGER.match(text) else text


def decimal(raw: str | None) -> Any:
    text = (raw or "").strip().replace(",", ".")
    return float(text) if text and NUMBER.match(text) and text not in ("-", ".") else text


def checked(form: Mapping, name: str) -> bool:
    return form.get(name) in ("on", "true", "1", "yes")


def given(payload: dict) -> dict:
    """Leave out fields left blank, so "required" messages come from the schema."""
    return {k: v for k, v in payload.items() if v != ""}


def shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


ID_LENGTH = 40  # services.common.validation.SLUG


def new_id(name: str | None, taken: Iterable[str]) -> str:
    """An id made from a name for someone who did not type one: lowercase ASCII (Russian
    transliterated: "Счета и оплата" -> "scheta-i-oplata"), words joined by "-", cut at a word
    boundary, and "-2", "-3" ... appended when another item has it.  "" when the name has
    nothing to make an id of (the schema then asks for one)."""
    base = slugify(name or "", max_length=ID_LENGTH - 4, word_boundary=True)
    if not base:
        return ""
    used = set(taken)
    made, n = base, 1
    while made in used:
        n += 1
        made = f"{base}-{n}"
    return made


def as_slug(raw: str | None) -> str | None:
    """A category or similar key as people type it ("Account", "Счета") in the lowercase
    form the schemas take ("account", "scheta"); blank stays None, and what has nothing to
    make a key of is passed on as typed for the schema to refuse."""
    text = optional(raw)
    if text is None:
        return None
    return slugify(text, max_length=ID_LENGTH, word_boundary=True) or text


def identified(payload: dict, name_field: str, taken: Iterable[str]) -> dict:
    """The payload with an id made from ``name_field`` when the form left it blank."""
    if payload.get("id"):
        return payload
    made = new_id(payload.get(name_field), taken)
    return dict(payload, id=made) if made else payload


def editor(fields_of: Callable[[dict | None], dict], form_id: str, submitted: Mapping | None,
           current_form: str | None, item: dict | None) -> dict:
    """What an editor form shows: what was just submitted when it was refused, else the
    item being edited (or a blank one)."""
    if submitted is not None and current_form == form_id:
        return dict(submitted.items())
    return fields_of(item)


# ---------------------------------------------------------------------------- departments

def department_fields(department: dict | None) -> dict:
    d = department or {}
    return {"id": shown(d.get("id")), "name": shown(d.get("name")),
            "name_ru": shown(d.get("name_ru")), "queue_mode": d.get("queue_mode", "fifo")}


def department_payload(form: Mapping, current: dict | None) -> dict:
    """Incident-detection settings are not on the form: an edit keeps them."""
    kept = {k: v for k, v in (current or {}).items()
            if k.startswith("incident_")}
    return given({**kept, "id": (form.get("id") or "").strip(), "name": form.get("name", ""),
                  "name_ru": optional(form.get("name_ru")),
                  "queue_mode": form.get("queue_mode") or "fifo"})


# ---------------------------------------------------------------------------- routing rules

def condition_line(condition: dict) -> str:
    value = condition["value"]
    return f"{condition['field']} {condition['op']} " + (
        ", ".join(value) if isinstance(value, list) else str(value))


def parse_conditions(raw: str) -> list[dict]:
    """One condition a line: ``field operator value`` (lists comma separated)."""
    conditions, problems = [], []
    for number, line in enumerate((raw or "").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            problems.append(f"Line {number}: write 'field operator value', e.g. "
                            "'subject contains_any refund, invoice'.")
            continue
        field, op, value = parts
        conditions.append({"field": field, "op": op,
                           "value": words(value) if op in LIST_OPERATORS else value.strip()})
    if problems:
        raise FormProblem({"conditions": problems})
    return conditions


def rule_fields(rule: dict | None) -> dict:
    r = rule or {}
    actions = r.get("actions", {})
    return {"id": shown(r.get("id")), "name": shown(r.get("name")),
            "position": shown(r.get("position", "")), "enabled": shown(r.get("enabled", True)),
            "match": r.get("match", "all"), "stop": shown(r.get("stop", False)),
            "conditions": "\n".join(condition_line(c) for c in r.get("conditions", [])),
            **{f"actions.{k}": shown(actions.get(k)) for k in
               ("department", "category", "priority", "add_tags")}}


def rule_payload(form: Mapping) -> dict:
    actions = given({"department": optional(form.get("actions.department")) or "",
                     "category": optional(form.get("actions.category")) or "",
                     "priority": optional(form.get("actions.priority")) or ""})
    if words(form.get("actions.add_tags")):
        actions["add_tags"] = words(form.get("actions.add_tags"))
    return given({"id": (form.get("id") or "").strip(), "name": form.get("name", ""),
                  "position": integer(form.get("position")), "enabled": checked(form, "enabled"),
                  "match": form.get("match") or "all", "stop": checked(form, "stop"),
                  "conditions": parse_conditions(form.get("conditions", "")),
                  "actions": actions})


def moved_position(rules: list[dict], rule_id: str, direction: str) -> int | None:
    """The position that puts the rule just before (up) or after (down) its neighbour, in one
    write; None when it is already first or last.  Positions never go below 0."""
    ordered = [r["id"] for r in rules]
    index = ordered.index(rule_id)
    neighbour = index - 1 if direction == "up" else index + 1
    if not 0 <= neighbour < len(rules):
        return None
    target = rules[neighbour]["position"]
    return max(target - 1, 0) if direction == "up" else target + 1


# ---------------------------------------------------------------------------- SLA

TARGETS = ("first_response", "next_response", "resolution")


def policy_fields(policy: dict | None) -> dict:
    p = policy or {}
    targets = p.get("targets", {})
    return {"id": shown(p.get("id")), "name": shown(p.get("name")),
            "priority": p.get("priority", "normal"), "organization": shown(p.get("organization")),
            "department": shown(p.get("department")), "calendar_id": shown(p.get("calendar_id")),
            "warning_threshold": shown(p.get("warning_threshold", 0.8)),
            **{f"targets.{t}": shown(targets.get(t)) for t in TARGETS}}


def policy_payload(form: Mapping, current: dict | None) -> dict:
    """Escalation actions and the plan selector are not on the form: an edit keeps them."""
    kept = {k: current[k] for k in ("escalation", "plan") if current and current.get(k)}
    targets = given({t: integer(form.get(f"targets.{t}")) for t in TARGETS})
    targets.setdefault("next_response", None)
    return given({**kept, "id": (form.get("id") or "").strip(), "name": form.get("name", ""),
                  "priority": form.get("priority", ""),
                  "organization": optional(form.get("organization")),
                  "department": optional(form.get("department")),
                  "calendar_id": optional(form.get("calendar_id")), "targets": targets,
                  "warning_threshold": decimal(form.get("warning_threshold") or "0.8")})


def hours_line(intervals: Iterable) -> str:
    return ", ".join(f"{start}-{end}" for start, end in intervals)


def parse_hours(raw: str, day: str) -> list[list[str]]:
    """``09:00-13:00, 14:00-18:00`` -> [["09:00", "13:00"], ["14:00", "18:00"]]; the SLA
    service checks the times themselves and overlaps."""
    intervals = []
    for part in words(raw):
        start, dash, end = part.partition("-")
        if not dash or not start.strip() or not end.strip():
            raise FormProblem({f"hours.{day}": [
                f"Write intervals as 09:00-13:00, 14:00-18:00 (not {part!r})."]})
        intervals.append([start.strip(), end.strip()])
    return intervals


def calendar_fields(calendar: dict | None) -> dict:
    c = calendar or {}
    hours = c.get("hours", {})
    return {"id": shown(c.get("id")), "name": shown(c.get("name")),
            "time_zone": c.get("time_zone", "UTC"), "always_open": shown(c.get("always_open")),
            "holidays": shown(c.get("holidays", [])),
            "yearly_holidays": shown(c.get("yearly_holidays", [])),
            **{f"hours.{day}": hours_line(hours.get(day, [])) for day in WEEKDAYS}}


def calendar_payload(form: Mapping) -> dict:
    problems: dict[str, list[str]] = {}
    hours = {}
    for day in WEEKDAYS:
        try:
            hours[day] = parse_hours(form.get(f"hours.{day}", ""), day)
        except FormProblem as exc:
            problems.update(exc.errors)
    if problems:
        raise FormProblem(problems)
    return given({"id": (form.get("id") or "").strip(), "name": form.get("name", ""),
                  "time_zone": (form.get("time_zone") or "").strip(),
                  "always_open": checked(form, "always_open"), "hours": hours,
                  "holidays": words(form.get("holidays")),
                  "yearly_holidays": words(form.get("yearly_holidays"))})


# ---------------------------------------------------------------------------- content

def canned_fields(template: dict | None) -> dict:
    t = template or {}
    return {"title": shown(t.get("title")), "body": shown(t.get("body")),
            "language": t.get("language", "en")}


def canned_payload(form: Mapping) -> dict:
    """The administration page manages the team's shared responses."""
    return given({"title": form.get("title", ""), "body": form.get("body", ""),
                  "language": form.get("language") or "en", "scope": "shared"})


def article_fields(article: dict | None) -> dict:
    a = article or {}
    return {"id": shown(a.get("id")), "title": shown(a.get("title")),
            "body": shown(a.get("body")), "language": a.get("language", "en"),
            "category": shown(a.get("category")), "tags": shown(a.get("tags", [])),
            "translation_of": shown(a.get("translation_of")),
            "published": shown(a.get("published", False))}


def article_payload(form: Mapping, new: bool) -> dict:
    """A new article may be published at once; an edit changes the text only (publishing
    has its own buttons)."""
    payload = {"title": form.get("title", ""), "body": form.get("body", ""),
               "language": form.get("language") or "en",
               "category": as_slug(form.get("category")),
               "tags": words(form.get("tags")),
               "translation_of": optional(form.get("translation_of"))}
    if new:
        payload.update(id=(form.get("id") or "").strip(), published=checked(form, "published"))
    return given(payload)


# ---------------------------------------------------------------------------- email

NOTIFICATION_KINDS = tuple(NotificationToggles().fields)  # one checkbox per kind intake has


def mail_fields(settings: dict) -> dict:
    return {"sender_address": shown(settings.get("sender_address")),
            "sender_name": shown(settings.get("sender_name")),
            "reply_to": shown(settings.get("reply_to")),
            "default_language": settings.get("default_language", "en"),
            **{f"notifications.{k}": shown(settings.get("notifications", {}).get(k, True))
               for k in NOTIFICATION_KINDS}}


def mail_payload(form: Mapping) -> dict:
    return given({"sender_address": (form.get("sender_address") or "").strip(),
                  "sender_name": optional(form.get("sender_name")),
                  "reply_to": optional(form.get("reply_to")),
                  "default_language": form.get("default_language") or "en",
                  "notifications": {k: checked(form, f"notifications.{k}")
                                    for k in NOTIFICATION_KINDS}})
