"""Routing rules with no I/O: who should get a ticket, which routing rule fires and why, the
order of a department queue, escalation steps and recurring-problem detection."""
from __future__ import annotations

import functools
import hashlib
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Collection, Iterable, NamedTuple

import numpy as np

from services.common.events import PRIORITIES
from services.common.validation import organization_key

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=timezone.utc)
AVAILABILITY = ("online", "away", "offline", "vacation")
QUEUE_MODES = ("fifo", "differentiated")


# ---------------------------------------------------------------------- agents and skills

def is_available(agent: dict, now: datetime | None = None) -> bool:
    """Online, or back from a vacation whose end date has passed."""
    if agent["status"] == "online":
        return True
    until = agent.get("vacation_until")
    return (agent["status"] == "vacation" and now is not None and until is not None
            and until <= now)


def has_skills(agent: dict, ticket: dict | None) -> bool:
    """A ticket needs an agent who speaks its language and knows its category and product;
    an agent with none of a kind listed (a generalist) takes any."""
    if not ticket:
        return True
    for skill, field in (("languages", "language"), ("categories", "category"),
                         ("products", "product")):
        wanted, offered = ticket.get(field), agent.get(skill) or []
        if wanted and offered and wanted not in offered:
            return False
    return True


def notice_language(agent: dict) -> str | None:
    """The language to write to an agent in: the first one their profile lists (None: a
    generalist, who gets the desk's fallback language)."""
    languages = agent.get("languages") or []
    return languages[0] if languages else None


def can_take(agent: dict, department: str, ticket: dict | None = None,
             now: datetime | None = None) -> bool:
    return (is_available(agent, now) and department in agent["departments"]
            and agent["load"] < agent["capacity"] and has_skills(agent, ticket))


def rank_candidates(agents: list[dict], department: str, preferred_id: str | None = None,
                    ticket: dict | None = None, now: datetime | None = None,
                    exclude: Iterable[str] = (),
                    being_taken: Collection[str] = ()) -> list[dict]:
    """Agents who may take a ticket, best first: the previous agent of a reopened ticket,
    then the least loaded; ties go to whoever was assigned longest ago (round robin).
    Agents ``being_taken`` by another transaction come after the others: concurrent
    placements that read the same loads would all pick the same agent, and all but one
    would collide on that agent's load and start over."""
    excluded = set(exclude)
    able = [a for a in agents
            if a["_id"] not in excluded and can_take(a, department, ticket, now)]
    able.sort(key=lambda a: (a["_id"] != preferred_id, a["_id"] in being_taken, a["load"],
                             a.get("last_assigned_at") or EPOCH, a["_id"]))
    return able


def slot_taken(agent: dict, now: datetime) -> dict:
    """The agent just after one more ticket is theirs: what taking a slot writes (one more
    load, the next ``seq``, assigned now)."""
    return dict(agent, load=agent["load"] + 1, seq=agent["seq"] + 1, last_assigned_at=now)


class Given(NamedTuple):
    """A ticket given to an agent: ``agent`` as it stands just after this assignment (its
    ``load`` and ``seq`` are what the assignment log records for it)."""
    ticket: dict
    agent: dict


@dataclass(frozen=True)
class SlotsTaken:
    """The slots one agent gives a batch: ``agent`` as read, ``count`` of them."""
    agent: dict
    count: int


@dataclass(frozen=True)
class BatchPlacement:
    """Where the tickets of a batch go: ``given`` in the tickets' order, ``waiting`` for
    whom nobody has room, and the slots ``taken`` of each agent given any."""
    given: list[Given]
    waiting: list[dict]
    taken: list[SlotsTaken]


def place_batch(tickets: list[dict], agents: list[dict], now: datetime,
                being_taken: Collection[str] = ()) -> BatchPlacement:
    """Each ticket to its best candidate (``rank_candidates``) in turn, among ``agents`` as
    they stand after the batch's earlier tickets: the loads grow as the batch assigns, so
    tickets spread over the agents as they would arriving one by one, and an agent whose
    capacity runs out takes no more (those tickets wait)."""
    read = {agent["_id"]: agent for agent in agents}
    current = dict(read)
    given, waiting = [], []
    for ticket in tickets:
        best = rank_candidates(list(current.values()), ticket["department"],
                               ticket.get("preferred_agent_id"), ticket, now,
                               being_taken=being_taken)
        if not best:
            waiting.append(ticket)
            continue
        after = current[best[0]["_id"]] = slot_taken(best[0], now)
        given.append(Given(ticket, after))
    taken = [SlotsTaken(read[agent_id], current[agent_id]["load"] - read[agent_id]["load"])
             for agent_id in dict.fromkeys(g.agent["_id"] for g in given)]
    return BatchPlacement(given, waiting, taken)


def queue_can_move(waiting: list[dict], agents: list[dict], department: str,
                   now: datetime | None = None) -> bool:
    """Whether some waiting ticket of ``department`` has an available agent with room and its
    skills.  The reconciler drains only such queues, so a queue nobody can serve costs one
    read per sweep, not a transaction per waiting ticket."""
    free = [a for a in agents if can_take(a, department, None, now)]
    return any(has_skills(agent, entry) for entry in waiting for agent in free)


# ---------------------------------------------------------------------- events out of order

def creation_seen(copy: dict | None) -> bool:
    """Whether routing's copy of a ticket holds its creation (its number): events that
    overtook the creation may have started the copy before it."""
    return copy is not None and "number" in copy


def reopened_after(copy: dict, at: datetime) -> bool:
    """Whether a reopening later than ``at`` has been handled (routing's copy of the ticket
    keeps the latest, ``reopened_at``): a solve from before it, delivered late, must not take
    the reopened ticket from its agent."""
    reopened = copy.get("reopened_at")
    return reopened is not None and reopened > at


def settled_ahead(copy: dict) -> bool:
    """Whether the ticket was solved or closed before routing remembered its creation
    (``settled_ahead_at``) and not reopened since: its creation then places it nowhere.  A
    reopening after that solve placed the ticket itself, so the creation finds it placed."""
    settled = copy.get("settled_ahead_at")
    return settled is not None and not reopened_after(copy, settled)


# ---------------------------------------------------------------------- routing rules

TEXT_FIELDS = ("subject", "description", "text")          # "text" = subject + description
VALUE_FIELDS = ("department", "organization", "plan", "channel", "language", "priority",
                "category")
LIST_FIELDS = ("tags",)
OPERATORS = {
    **{f: ("contains_any", "matches") for f in TEXT_FIELDS},
    **{f: ("equals", "in") for f in VALUE_FIELDS},
    **{f: ("has_any", "has_all") for f in LIST_FIELDS},
}
ACTIONS = ("department", "category", "priority", "add_tags")
LIST_OPERATORS = ("contains_any", "in", "has_any", "has_all")  # the value is a list


def normalised_rule(rule: dict) -> dict:
    """Organization values in the slug form tickets carry, so "Acme Corp" in a rule matches
    the customer organization "acme-corp"."""
    def key(value):
        if isinstance(value, str):
            return organization_key(value)
        if isinstance(value, list):
            return [organization_key(v) if isinstance(v, str) else v for v in value]
        return value

    return dict(rule, conditions=[dict(c, value=key(c["value"]))
                                  if c["field"] == "organization" else c
                                  for c in rule["conditions"]])


def rule_problems(rule: dict, departments: Iterable[str]) -> dict[str, list[str]]:
    """Why a (structurally valid) rule cannot be saved; empty when it can.  Checked at save so
    routing never meets a rule it cannot evaluate."""
    problems: dict[str, list[str]] = {}
    for index, condition in enumerate(rule["conditions"]):
        field, op, value = condition["field"], condition["op"], condition["value"]
        where = f"conditions.{index}"
        if field not in OPERATORS:
            problems[where] = [f"Unknown field '{field}'; use one of: "
                               f"{', '.join(sorted(OPERATORS))}."]
            continue
        if op not in OPERATORS[field]:
            problems[where] = [f"Operator '{op}' does not apply to '{field}'; use one of: "
                               f"{', '.join(OPERATORS[field])}."]
            continue
        wants_list = op in LIST_OPERATORS
        if wants_list and not (isinstance(value, list) and value
                               and all(isinstance(v, str) and v for v in value)):
            problems[where] = [f"'{op}' needs a non-empty list of strings."]
        elif not wants_list and not (isinstance(value, str) and value):
            problems[where] = [f"'{op}' needs a non-empty string."]
        elif op == "matches":
            try:
                re.compile(value)
            except re.error as exc:
                problems[where] = [f"Invalid regular expression: {exc}."]
    actions = rule["actions"]
    if not actions:
        problems["actions"] = ["A rule must do something: set department, category, priority "
                               "or add tags."]
    known = set(departments)
    if actions.get("department") and actions["department"] not in known:
        problems["actions.department"] = [f"Unknown department '{actions['department']}'."]
    return problems


@functools.lru_cache(maxsize=2048)
def _pattern(expression: str) -> re.Pattern:
    return re.compile(expression, re.IGNORECASE)


def _field_value(ticket: dict, field: str) -> Any:
    if field == "text":
        return f"{ticket.get('subject', '')}\n{ticket.get('description', '')}"
    return ticket.get(field)


def explain_condition(condition: dict, ticket: dict) -> tuple[bool, str]:
    """Does one condition hold, and a human reason either way."""
    field, op, wanted = condition["field"], condition["op"], condition["value"]
    actual = _field_value(ticket, field)
    if op == "contains_any":
        folded = fold(actual or "")
        hits = [w for w in wanted if fold(w) in folded]
        return bool(hits), (f"{field} contains {hits[0]!r}" if hits
                            else f"{field} contains none of {wanted}")
    if op == "matches":
        found = _pattern(wanted).search(actual or "")
        return bool(found), (f"{field} matches /{wanted}/ at {found.group(0)!r}" if found
                             else f"{field} does not match /{wanted}/")
    if op == "equals":
        return actual == wanted, f"{field} is {actual!r}, rule wants {wanted!r}"
    if op == "in":
        return actual in wanted, f"{field} is {actual!r}, rule wants one of {wanted}"
    present = set(actual or [])
    if op == "has_any":
        hits = sorted(present & set(wanted))
        return bool(hits), (f"{field} has {hits}" if hits else f"{field} has none of {wanted}")
    missing = sorted(set(wanted) - present)
    return not missing, (f"{field} has all of {wanted}" if not missing
                         else f"{field} lacks {missing}")


def evaluate_rules(rules: list[dict], ticket: dict) -> dict:
    """Apply enabled rules in order; a firing rule with ``stop`` ends the walk.  Later rules see
    the changes of earlier ones.  Returns the classified ticket, the rules that fired and, for
    each rule looked at, why it fired or not (the dry run shows this)."""
    result = dict(ticket, tags=list(ticket.get("tags") or []))
    fired, trace = [], []
    for rule in sorted(rules, key=lambda r: (r["position"], r["id"])):
        if not rule.get("enabled", True):
            continue
        checks = [explain_condition(c, result) for c in rule["conditions"]]
        combine = all if rule.get("match", "all") == "all" else any
        fires = combine(ok for ok, _ in checks) if checks else True
        trace.append({"rule_id": rule["id"], "name": rule["name"], "fired": fires,
                      "reasons": [reason for _, reason in checks]})
        if not fires:
            continue
        fired.append(rule["id"])
        actions = rule["actions"]
        for field in ("department", "category", "priority"):
            if actions.get(field):
                result[field] = actions[field]
        result["tags"] += [t for t in actions.get("add_tags", []) if t not in result["tags"]]
        if rule.get("stop", False):
            break
    return {"ticket": result, "fired": fired, "trace": trace}


# ---------------------------------------------------------------------- priorities and queues

def priority_rank(priority: str) -> int:
    return PRIORITIES.index(priority)


def raised(priority: str, steps: int = 1) -> str:
    return PRIORITIES[min(priority_rank(priority) + steps, len(PRIORITIES) - 1)]


def earliest_due(deadlines: dict) -> datetime | None:
    dues = [deadlines.get(k) for k in ("first_response_due", "resolution_due")]
    dues = [d for d in dues if d is not None]
    return min(dues) if dues else None


def queue_order(entries: list[dict], mode: str) -> list[dict]:
    """The order an agent sees waiting tickets.  fifo: arrival.  differentiated: higher
    priority first, then the nearest SLA deadline (unknown deadlines last), then age."""
    if mode == "differentiated":
        key = lambda e: (-priority_rank(e["priority"]), e.get("sla_due") or FAR_FUTURE,  # noqa
                         e["queued_at"], e["_id"])
    else:
        key = lambda e: (e["queued_at"], e["_id"])  # noqa: E731
    return sorted(entries, key=key)


# ---------------------------------------------------------------------- recurring problems

_WORD = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset("""a an and are as at be but by can cannot do does for from have i in is
it my no not of on or our please the to was we with you your this that и в во не на я с со
что как а но по у из за мы мой моя моё мои вы ваш к ко от для при это же ли бы или нет да
""".split())
STEM = 5  # crude stemming that works for both languages: "пароль"/"пароля", "login"/"logins"


def fold(text: str) -> str:
    """Case- and ё-insensitive form of text (RU/EN)."""
    return text.casefold().replace("ё", "е")


def fingerprint(subject: str, description: str) -> frozenset[str]:
    """Normalised word stems plus adjacent-stem shingles of a ticket's text.  A shingle's two
    stems are sorted, so "VPN не подключается" and "не подключается VPN" still match."""
    stems = [w[:STEM] for w in _WORD.findall(fold(f"{subject} {description}"))
             if w not in STOPWORDS and len(w) > 1 and not w.isdigit()]
    return frozenset(stems) | frozenset(" ".join(sorted(pair)) for pair in zip(stems, stems[1:]))


def similarity(a: Iterable[str], b: Iterable[str]) -> float:
    """Jaccard similarity of two fingerprints."""
    a, b = _as_set(a), _as_set(b)
    if not (a or b):
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


def _as_set(terms: Iterable[str]) -> set[str] | frozenset[str]:
    # Detection compares one fingerprint with up to 200 kept as frozensets: no copies.
    return terms if isinstance(terms, (set, frozenset)) else set(terms)


# Which recent tickets are compared with a new one: those sharing a MinHash band with it
# (locality-sensitive hashing), found by an index, rather than every ticket sharing a word.
# Two fingerprints of Jaccard similarity J share a band with probability
# 1 - (1 - J**ROWS)**BANDS: 0.97 at 0.5 (the default threshold), 0.995 at 0.6, 0.68 at 0.3,
# 0.39 at 0.2; so a department whose threshold is set far below 0.5 finds fewer of its similar
# tickets.  Candidates are compared exactly (``similarity``): the bands only decide what is read.
# Each band is a list routing writes and reads for every ticket: 12 bands of 2 rows find more
# pairs at 0.5 than the 24 of 3 kept before, for half the lists (incident detection was a
# fifth of the stack's CPU per ticket in a burst; BENCHMARKS.md, twenty-first round).
SIGNATURE_BANDS, SIGNATURE_ROWS = 12, 2
# Written into each band key, so keys of an earlier scheme (24 bands of 3) never match these.
_BAND_SCHEME = f"x{SIGNATURE_ROWS}"
_MERSENNE = (1 << 61) - 1
_MINHASH = [(r.randrange(1, _MERSENNE), r.randrange(_MERSENNE))
            for r in [random.Random(18)] for _ in range(SIGNATURE_BANDS * SIGNATURE_ROWS)]
_LOW31 = (1 << 31) - 1
_A_HIGH, _A_LOW, _B = (np.array(column, dtype=np.uint64)[:, None] for column in zip(
    *[(a >> 31, a & _LOW31, b) for a, b in _MINHASH]))


def _mod_mersenne(x: np.ndarray) -> np.ndarray:
    """x mod 2**61 - 1 for x < 2**64 (as 2**61 = 1 modulo it)."""
    x = (x & np.uint64(_MERSENNE)) + (x >> np.uint64(61))
    x = (x & np.uint64(_MERSENNE)) + (x >> np.uint64(61))
    return np.where(x >= np.uint64(_MERSENNE), x - np.uint64(_MERSENNE), x)


def _minhashes(hashes: list[int]) -> list[int]:
    """``min((a * h + b) % (2**61 - 1) over h)`` for every (a, b) of ``_MINHASH``, exactly,
    in 64-bit integers: the 122-bit products are taken in 31-bit halves (about 20 times
    faster than Python's big integers, and the same values: stored band keys still match)."""
    h = _mod_mersenne(np.array(hashes, dtype=np.uint64))[None, :]
    h_high, h_low = h >> np.uint64(31), h & np.uint64(_LOW31)
    # a*h = a_hi*h_hi*2**62 + (a_hi*h_lo + a_lo*h_hi)*2**31 + a_lo*h_lo, and 2**62 = 2 (mod M)
    middle = _A_HIGH * h_low + _A_LOW * h_high
    total = (np.uint64(2) * (_A_HIGH * h_high) + (middle >> np.uint64(30))
             + ((middle & np.uint64((1 << 30) - 1)) << np.uint64(31)) + _A_LOW * h_low + _B)
    return _mod_mersenne(total).min(axis=1).tolist()


def signature_bands(fingerprint_terms: Iterable[str]) -> list[str]:
    """The fingerprint's LSH band keys ("band-digest"), stable across processes."""
    hashes = [int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "big")
              for term in fingerprint_terms]
    if not hashes:
        return []
    mins = _minhashes(hashes)
    return [f"{band}{_BAND_SCHEME}-" + hashlib.blake2b(
        repr(mins[band * SIGNATURE_ROWS:(band + 1) * SIGNATURE_ROWS]).encode(),
        digest_size=6).hexdigest() for band in range(SIGNATURE_BANDS)]


DEFAULT_INCIDENT_SETTINGS = {"incident_threshold": 5, "incident_window_minutes": 30,
                             "incident_similarity": 0.5}
# Detection compares a new ticket with at most this many of the newest alike ones (reading a
# whole flood per ticket would be quadratic), so a threshold above it could never be reached.
INCIDENT_CANDIDATES = 200


def detects_incidents(settings: dict) -> bool:
    """A department may switch detection off (e.g. one whose tickets all look alike): routing
    then skips reading the alike tickets altogether."""
    return settings.get("incident_detection", True)


def incident_settings(settings: dict) -> dict:
    """A department's incident settings with the defaults for what it leaves unset."""
    return {**DEFAULT_INCIDENT_SETTINGS, **{k: v for k, v in settings.items()
                                            if k in DEFAULT_INCIDENT_SETTINGS and v}}


def similar_to(new: dict, settings: dict) -> Callable[[dict], bool]:
    """Whether a recent ticket's fingerprint is close enough to ``new``'s to count towards an
    incident in this department."""
    needed = incident_settings(settings)["incident_similarity"]
    mine = frozenset(new["fingerprint"])
    return lambda t: similarity(t["fingerprint"], mine) >= needed


def recurring_cluster(new: dict, recent: list[dict], settings: dict, now: datetime) -> dict:
    """Which recent tickets (same department, inside the window) are similar to ``new``.

    Returns ``{"incident_id": existing or None, "members": [...]}``; ``declare`` is true when a
    new incident should be declared (threshold reached and none exists yet)."""
    settings = incident_settings(settings)
    since = now - timedelta(minutes=settings["incident_window_minutes"])
    alike = similar_to(new, settings)
    members = [t for t in recent
               if t["_id"] != new["_id"] and t["department"] == new["department"]
               and t["created_at"] >= since and alike(t)]
    existing = next((t["incident_id"] for t in members if t.get("incident_id")), None)
    declare = existing is None and len(members) + 1 >= settings["incident_threshold"]
    return {"incident_id": existing, "members": members, "declare": declare}


# ---------------------------------------------------------------------------- manual reassignment

REASSIGNERS = ("agent", "supervisor", "admin", "system")  # system: automation triggers
CAPACITY_OVERRIDERS = ("supervisor", "admin")


def reassign_refusal(department: str, actor: dict, actor_agent: dict | None,
                     target: dict | None, override_capacity: bool) -> tuple[int, dict] | None:
    """Why this person may not hand a ticket of ``department`` to ``target`` (status and
    field messages), or None.  Supervisors and admins reassign anywhere and may go over the
    target's capacity on purpose; agents reassign within their own departments only and always
    within capacity.  The target must work in the ticket's department (change the department
    first to send it elsewhere); availability is not required, a person is deciding."""
    if actor["role"] not in REASSIGNERS:
        return 403, {"_schema": [f"a {actor['role']} cannot assign tickets"]}
    if override_capacity and actor["role"] not in CAPACITY_OVERRIDERS:
        return 403, {"override_capacity": ["Only supervisors and admins may assign over "
                                           "capacity."]}
    if actor["role"] == "agent" and department not in (actor_agent or {}).get("departments", []):
        return 403, {"agent_id": ["Agents reassign only tickets of their own departments."]}
    if target is None:
        return 404, {"agent_id": ["No such agent."]}
    if department not in target.get("departments", []):
        return 400, {"agent_id": [f"{target['name']} does not work in department "
                                  f"'{department}'."]}
    return None
