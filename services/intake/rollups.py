"""Pre-aggregated report figures (pure, no I/O): what one ticket contributes to the daily
rollup documents, the difference a change makes, and percentiles read from log-scale buckets.

Every period figure follows the report's meaning: *tickets created in the period, in their
current state*.  A ticket contributes to the rollup of its creation day (UTC), its department
and channel, and to the one of its assignee; while it is open, also to its department's
current-state counters (backlog, unassigned, overdue = an SLA breach recorded).  When a ticket changes, intake adds
``contribution(after) - contribution(before)`` in the same transaction as the ticket write,
so the rollups always equal the sum of every ticket's current contribution -- which is also
how the rebuild command recomputes them from scratch.

Durations are kept as exact sums and counts (averages are exact) and as counts per bucket;
bucket ``i >= 1`` holds durations in ``[2^((i-1)/8), 2^(i/8))`` seconds, bucket 0 everything
under a second.  A percentile is the geometric middle of the bucket holding the rank, so it is
within ``PRECISION`` (4.5 %) of the exact nearest-rank value (under a second: within 1 s).
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

from services.common.events import CSAT_SCORES

BUCKETS_PER_DOUBLING = 8
# Half a bucket in log scale, 2^(1/16) - 1 = 4.43 %, rounded up for floating point.
PRECISION = 0.045
SOLVED_STATUSES = ("solved", "closed")
OPEN_STATUSES = ("new", "open", "pending", "on_hold")
STAFF_ROLES = ("agent", "supervisor", "admin")
DAILY, AGENTS, CURRENT = "daily", "agents", "current"
KINDS = (DAILY, AGENTS, CURRENT)
# The ticket fields a contribution reads, and the number that picks the shard its live
# writes go to (SHARDS): the projection for the pre-image of an update.
FIELDS = ("created_at", "department", "channel", "status", "assignee_id", "first_response_at",
          "solved_at", "reopened_at", "csat", "messages.public", "messages.author_role",
          "sla.breached", "number")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def epoch_ms(moment: datetime) -> int:
    """Whole milliseconds, as Mongo stores dates: the live path and the rebuild (which reads
    the stored dates back) then compute identical durations."""
    return (moment - _EPOCH) // _MS


def day_of(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d")


def bucket(duration_ms: int) -> int:
    if duration_ms < 1000:
        return 0
    return int(math.floor(BUCKETS_PER_DOUBLING * math.log2(duration_ms / 1000))) + 1


def bucket_value_ms(index: int) -> float:
    """The representative duration of a bucket: its geometric middle (bucket 0: half a
    second)."""
    if index == 0:
        return 500.0
    return 1000 * 2 ** ((index - 0.5) / BUCKETS_PER_DOUBLING)


def percentile_ms(histogram: dict, p: float) -> float | None:
    """Nearest-rank percentile (``p`` in 0..1) from ``{bucket: count}`` (keys may be strings,
    as Mongo field names are)."""
    counts = sorted((int(k), n) for k, n in histogram.items() if n > 0)
    total = sum(n for _, n in counts)
    if not total:
        return None
    rank, seen = max(1, math.ceil(p * total)), 0
    for index, n in counts:
        seen += n
        if seen >= rank:
            return bucket_value_ms(index)
    return bucket_value_ms(counts[-1][0])  # unreachable: seen reaches total


def hist_field(metric: str, index: int) -> str:
    """Both duration histograms share one map, ``hist.<metric>_<bucket>`` ("fr": first
    response, "res": resolution), so the report unwinds each rollup document once."""
    return f"hist.{metric}_{index}"


def split_hist_key(key: str) -> tuple[str, int]:
    metric, _, index = key.partition("_")
    return metric, int(index)


def _public_staff_replies(ticket: dict) -> int:
    return sum(1 for m in ticket.get("messages") or []
               if m.get("public") and m.get("author_role") in STAFF_ROLES)


def _duration(ticket: dict, end_field: str) -> int | None:
    end = ticket.get(end_field)
    return None if end is None else epoch_ms(end) - epoch_ms(ticket["created_at"])


# Per-score counts, their number and their sum: every CSAT figure (share of 4-5, average,
# distribution) is a ratio of sums, so the rollups stay additive.
CSAT_FIELDS = ("csat_n", "csat_sum", *(f"csat_{score}" for score in CSAT_SCORES))


def csat_figures(csat: dict | None) -> dict[str, int]:
    """One rating's counts; a rating without a 1..5 score (none yet, or a good/bad rating
    stored before scores) counts nothing."""
    score = (csat or {}).get("score")
    if type(score) is not int or score not in CSAT_SCORES:
        return {}
    return {"csat_n": 1, "csat_sum": score, f"csat_{score}": 1}


def contribution(ticket: dict | None) -> dict[tuple, dict[str, int]]:
    """{key: {field: count}} for one ticket's state (zero counts left out); keys are
    (DAILY, day, department, channel), (AGENTS, day, department, agent) and
    (CURRENT, department)."""
    if ticket is None:
        return {}
    solved = ticket.get("status") in SOLVED_STATUSES
    reopened = ticket.get("reopened_at") is not None
    rating = csat_figures(ticket.get("csat"))
    figures = {"created": 1, "solved": int(solved), "reopened": int(reopened),
               "first_contact": int(solved and not reopened
                                    and _public_staff_replies(ticket) == 1), **rating}
    agent = {"assigned": 1, "solved": figures["solved"], **rating}
    for prefix, end_field in (("fr", "first_response_at"), ("res", "solved_at")):
        ms = _duration(ticket, end_field)
        if ms is not None:
            figures.update({f"{prefix}_n": 1, f"{prefix}_sum_ms": ms,
                            hist_field(prefix, bucket(ms)): 1})
            agent.update({f"{prefix}_n": 1, hist_field(prefix, bucket(ms)): 1})
    day, department = day_of(ticket["created_at"]), ticket.get("department")
    out = {(DAILY, day, department, ticket.get("channel")): _nonzero(figures)}
    if ticket.get("assignee_id") is not None:
        out[(AGENTS, day, department, ticket["assignee_id"])] = _nonzero(agent)
    if ticket.get("status") in OPEN_STATUSES:
        out[(CURRENT, department)] = _nonzero({
            "backlog": 1, "unassigned": int(ticket.get("assignee_id") is None),
            "overdue": int(bool((ticket.get("sla") or {}).get("breached")))})
    return out


def owed(ticket: dict) -> list[dict]:
    """A ticket's contribution as a document keeps it (keys as lists, figure names with
    dots as pairs), until it is added (see ``from_owed``)."""
    return [{"key": list(key), "add": [[name, value] for name, value in figures.items()]}
            for key, figures in contribution(ticket).items()]


def from_owed(kept: list[dict]) -> dict[tuple, dict[str, int]]:
    return {tuple(part["key"]): dict(part["add"]) for part in kept}


def _nonzero(figures: dict[str, int]) -> dict[str, int]:
    return {name: value for name, value in figures.items() if value}


def difference(before: dict | None, after: dict | None) -> dict[tuple, dict[str, int]]:
    """What to ``$inc`` when a ticket goes from ``before`` to ``after`` (None: absent);
    keys and fields that do not change are left out."""
    delta: dict[tuple, dict[str, int]] = defaultdict(dict)
    for sign, part in ((-1, contribution(before)), (1, contribution(after))):
        for key, figures in part.items():
            for name, value in figures.items():
                delta[key][name] = delta[key].get(name, 0) + sign * value
    return {key: nonzero for key, figures in delta.items()
            if (nonzero := _nonzero(figures))}


def add_into(total: dict[tuple, dict[str, int]], part: dict[tuple, dict[str, int]]) -> None:
    """Accumulate contributions (the rebuild's running sum)."""
    for key, figures in part.items():
        into = total.setdefault(key, {})
        for name, value in figures.items():
            into[name] = into.get(name, 0) + value


def applied(ticket: dict, changes: dict, push: dict | None) -> dict:
    """The ticket after ``{"$set": changes, "$push": push}`` (top-level fields only, as
    intake's updates are)."""
    after = {**ticket, **changes}
    for name, value in (push or {}).items():
        items = value["$each"] if isinstance(value, dict) and "$each" in value else [value]
        after[name] = list(after.get(name) or []) + list(items)
    return after


def with_breach(ticket: dict, target: str) -> dict:
    """The ticket after ``$addToSet`` of an SLA breach (intake records them only once SLA
    deadlines are set)."""
    sla = dict(ticket.get("sla") or {})
    breached = list(sla.get("breached") or [])
    sla["breached"] = breached if target in breached else breached + [target]
    return {**ticket, "sla": sla}


# Every ticket written on one day for one department and channel would otherwise update the same
# document, and a transaction that meets another's uncommitted write aborts and retries: ticket
# writes would queue behind each other.  Each change updates one of a few shards of its
# documents instead; reports sum over them (they group by the key fields, never by _id).  By
# ticket number, so the filings in flight together (consecutive numbers) meet on none as long as
# fewer than SHARDS are open at once: with 8 a slow one met a later number's write, aborted,
# and its retry met the next (c=8: ~0.6 aborted creations per ticket; with 64: ~0.02).
SHARDS = 64


def document_id(key: tuple, shard: int | None = None) -> str:
    """The rebuild writes one document per key (no shard); live writes spread over shards."""
    base = "|".join(str(part) for part in key[1:])
    return base if shard is None else f"{base}#{shard}"


def merged_shards(docs: Iterable[dict]) -> list[dict]:
    """The shards of each rollup document summed into one, as the rebuild writes it, sorted by
    id (to compare two states)."""
    merged: dict[str, dict] = {}
    for doc in docs:
        base = doc["_id"].split("#", 1)[0]
        into = merged.setdefault(base, {"_id": base})
        for name, value in doc.items():
            if name == "_id":
                continue
            if isinstance(value, dict):
                counts = into.setdefault(name, {})
                for bucket_key, n in value.items():
                    counts[bucket_key] = counts.get(bucket_key, 0) + n
            elif isinstance(value, int) and not isinstance(value, bool):
                into[name] = into.get(name, 0) + value
            else:
                into[name] = value
    return [merged[k] for k in sorted(merged)]


def key_fields(key: tuple) -> dict:
    """The identifying fields stored on a rollup document (for queries and indexes)."""
    if key[0] == CURRENT:
        return {"department": key[1]}
    kind, day, department, other = key
    return {"day": day, "department": department,
            ("channel" if kind == DAILY else "agent_id"): other}


def as_document(key: tuple, figures: dict[str, int]) -> dict:
    """A rollup document as the rebuild writes it (dotted names become nested maps)."""
    doc = {"_id": document_id(key), **key_fields(key)}
    for name, value in figures.items():
        head, _, tail = name.partition(".")
        if tail:
            doc.setdefault(head, {})[tail] = value
        else:
            doc[name] = value
    return doc


def without_zeros(doc: dict) -> dict | None:
    """A rollup document with zero counts dropped (the live path leaves zeros behind when a
    ticket moves away); None when no figure is left."""
    kept, figures = {}, 0
    for name, value in doc.items():
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if v}
        if isinstance(value, (dict, int)) and not isinstance(value, bool):
            if not value:
                continue
            figures += 1
        kept[name] = value
    return kept if figures else None


def day_range(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days covering [since, until): since goes back to its midnight, until
    forward to the next midnight unless it is one."""
    start = since.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    end_utc = until.astimezone(timezone.utc)
    end = end_utc.replace(hour=0, minute=0, second=0, microsecond=0)
    if end < end_utc:
        end += timedelta(days=1)
    return start, end
