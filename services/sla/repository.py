"""SLA's persistence: calendars, policies, one clock per ticket (indexed by when it next needs
a look) and one outcome per target cycle for the compliance report."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, DeleteMany, ReplaceOne
from pymongo.errors import DuplicateKeyError

from services.common.events import Event
from services.common.storage import Repository, insert_new

from . import calendar as cal
from . import domain

# Policies and calendars are read for every ticket event that starts or re-selects a clock
# and change only by an admin's hand: those reads are kept per process; the admin's RPCs
# read afresh.

class ClockChanged(Exception):
    """Someone else updated the clock first (another event or replica): read it again."""


class SlaRepository(Repository):
    def ensure_indexes(self) -> None:
        # The sweep reads only clocks whose next warning or deadline is due: its cost follows
        # due clocks, not open tickets.  Sparse: clocks with nothing pending are not indexed.
        self.db.clocks.create_index([("next_check", ASCENDING)], sparse=True)
        self.db.policies.create_index("priority")
        self.db.outcomes.create_index([("decided_at", ASCENDING)])
        self.db.outcomes.create_index("ticket_id")

    # ------------------------------------------------------------------ calendars

    def upsert_calendar(self, calendar: dict) -> None:
        doc = {k: v for k, v in calendar.items() if k != "id"}
        self.db.calendars.replace_one({"_id": calendar["id"]}, doc, upsert=True)
        self.settings_changed()

    def calendars(self) -> list[dict]:
        return list(self.db.calendars.find().sort("_id"))

    def calendar_spec(self, calendar_id: str | None) -> dict | None:
        return self.db.calendars.find_one({"_id": calendar_id}) if calendar_id else None

    def business_calendar(self, calendar_id: str | None) -> cal.BusinessCalendar:
        """As read within the last SETTINGS_TTL in this process.  A policy whose calendar was
        deleted meanwhile falls back to round-the-clock."""
        return cal.from_spec(self.recent_setting(("calendar", calendar_id),
                                         lambda: self.calendar_spec(calendar_id)))

    def calendar_in_use(self, calendar_id: str) -> list[str]:
        return [p["_id"] for p in self.db.policies.find({"calendar_id": calendar_id},
                                                        projection={"_id": 1})]

    def delete_calendar(self, calendar_id: str) -> bool:
        return self.settings_changed(
            self.db.calendars.delete_one({"_id": calendar_id}).deleted_count == 1)

    # ------------------------------------------------------------------ policies

    def upsert_policy(self, policy: dict) -> None:
        doc = {k: v for k, v in policy.items() if k != "id"}
        self.db.policies.replace_one({"_id": policy["id"]}, doc, upsert=True)
        self.settings_changed()

    def policies(self) -> list[dict]:
        return list(self.db.policies.find().sort("_id"))

    def delete_policy(self, policy_id: str) -> bool:
        return self.settings_changed(
            self.db.policies.delete_one({"_id": policy_id}).deleted_count == 1)

    def policy_for(self, ticket: dict) -> dict:
        """Among the policies of the ticket's priority as read within the last SETTINGS_TTL in
        this process."""
        priority = ticket["priority"]
        return domain.select_policy(self.recent_setting(("policies", priority), lambda: list(
            self.db.policies.find({"priority": priority}))), ticket)

    # ------------------------------------------------------------------ clocks

    def start_clocks(self, clocks: list[dict]) -> list[dict]:
        """Each ticket's clock as kept: these new ones inserted in one write, or what was
        kept under its id before, where there is something: the clock a first delivery
        started (this is a redelivery), or the events held for it (``hold_for_creation``)."""
        refused = insert_new(self.db.clocks, [_stored(c) for c in clocks])
        started = self.clocks([clocks[i]["_id"] for i in refused]) if refused else {}
        return [started.get(c["_id"], c) for c in clocks]

    def hold_for_creation(self, event: Event) -> bool:
        """Keep an event for a clock not started yet under the clock's id, for the creation
        to apply (``held_events``); the version counts what was held, so that the creation
        replaces exactly what it read.  False when the clock has started meanwhile."""
        held = {"event_id": event.event_id, "event_type": event.event_type,
                "occurred_at": event.occurred_at,
                # Not the ticket's state it carries: no rule reads it.
                "data": {k: v for k, v in event.data.items() if k != "ticket"}}
        try:
            self.db.clocks.update_one({"_id": event.data["ticket_id"],
                                       "number": {"$exists": False}},
                                      {"$addToSet": {"held": held}, "$inc": {"version": 1}},
                                      upsert=True)
        except DuplicateKeyError:
            return False
        return True

    def clock(self, ticket_id: str, session=None) -> dict | None:
        return self.db.clocks.find_one({"_id": ticket_id}, session=session)

    def clocks(self, ticket_ids: list[str]) -> dict[str, dict]:
        """What is kept under these tickets' ids (their clocks, or the events held for them)
        by ticket id, in one read."""
        return {c["_id"]: c for c in self.db.clocks.find({"_id": {"$in": ticket_ids}})}

    def save_clock(self, clock: dict, before: dict, session) -> int:
        """``clock``, computed from ``before`` (the clock as read), and the compliance records
        that changed with it (see ``replace_clock``).  Returns the version written."""
        version = self.replace_clock(clock, session)
        self.record_outcomes(before, clock, session)
        return version

    def replace_clock(self, clock: dict, session=None) -> int:
        """The clock alone, with compare-and-set on the version read: concurrent writers
        cannot lose each other's changes, and of two replicas announcing the same alert only
        one succeeds.  Returns the version written."""
        if not self.replace_clocks([clock], session):
            raise ClockChanged(clock["_id"])
        return clock["version"] + 1

    def replace_clocks(self, clocks: list[dict], session=None) -> bool:
        """``replace_clock`` for many, in one unordered write; False when some were refused
        (another writer changed the clock first), which the write's answer does not say."""
        if not clocks:
            return True
        writes = [ReplaceOne({"_id": c["_id"], "version": c["version"]},
                             _stored(dict(c, version=c["version"] + 1))) for c in clocks]
        return self.db.clocks.bulk_write(writes, ordered=False,
                                         session=session).matched_count == len(clocks)

    def record_outcomes(self, before: dict, clock: dict, session) -> None:
        """The clock's decided compliance records as they stand now: what changed since
        ``before``, in at most one command (none while every target is open)."""
        changed, gone = domain.outcome_changes(before, clock)
        writes = [ReplaceOne({"_id": o["_id"]}, o, upsert=True) for o in changed]
        if gone:
            writes.append(DeleteMany({"_id": {"$in": gone}}))
        if writes:
            self.db.outcomes.bulk_write(writes, ordered=True, session=session)

    def due_clocks(self, now: datetime, limit: int) -> list[dict]:
        return list(self.db.clocks.find({"next_check": {"$lte": now}})
                    .sort("next_check", ASCENDING).limit(limit))

    # ------------------------------------------------------------------ compliance

    def compliance(self, by: str, since: datetime | None, until: datetime | None) -> list[dict]:
        """Met/breached counts and rates, mean and percentile business times per group and
        target, computed by the database (no per-outcome Python loop)."""
        group_field = {"policy": "$policy_id", "priority": "$priority",
                       "department": "$department", "agent": "$agent_id"}[by]
        match: dict = {"result": {"$in": ["met", "breached"]}}
        window = {k: v for k, v in (("$gte", since), ("$lt", until)) if v is not None}
        if window:
            match["decided_at"] = window
        return list(self.db.outcomes.aggregate([
            {"$match": match},
            {"$sort": {"elapsed_s": ASCENDING}},
            {"$group": {
                "_id": {"key": group_field, "target": "$target"},
                "met": {"$sum": {"$cond": [{"$eq": ["$result", "met"]}, 1, 0]}},
                "breached": {"$sum": {"$cond": [{"$eq": ["$result", "breached"]}, 1, 0]}},
                "avg_s": {"$avg": "$elapsed_s"},
                # Sorted above, so these are in ascending order; nulls (not yet met) first.
                "times": {"$push": "$elapsed_s"}}},
            {"$project": {
                "_id": 0, "key": "$_id.key", "target": "$_id.target", "met": 1, "breached": 1,
                "total": {"$add": ["$met", "$breached"]}, "avg_s": 1,
                "times": {"$filter": {"input": "$times", "cond": {"$ne": ["$$this", None]}}}}},
            {"$project": {
                "key": 1, "target": 1, "met": 1, "breached": 1, "total": 1, "avg_s": 1,
                "met_rate": {"$divide": ["$met", "$total"]},
                "breach_rate": {"$divide": ["$breached", "$total"]},
                **{f"p{p}_s": _nearest_rank(p) for p in (50, 90, 95)}}},
            {"$sort": {"key": ASCENDING, "target": ASCENDING}},
        ]))


def held_events(kept: dict) -> list[Event]:
    """The events ``hold_for_creation`` kept, in the order they happened."""
    return [Event(e["event_id"], e["event_type"], e["occurred_at"], e["data"])
            for e in sorted(kept.get("held", []), key=lambda e: e["occurred_at"])]


def _stored(clock: dict) -> dict:
    """A clock with nothing pending has no ``next_check`` field, so the sparse index skips it."""
    return {k: v for k, v in clock.items() if not (k == "next_check" and v is None)}


def _nearest_rank(percent: int) -> dict:
    """The nearest-rank percentile of the sorted ``times`` array (None when empty)."""
    rank = {"$subtract": [{"$ceil": {"$multiply": [percent / 100, {"$size": "$times"}]}}, 1]}
    return {"$cond": [{"$eq": [{"$size": "$times"}, 0]}, None,
                      {"$arrayElemAt": ["$times", {"$max": [rank, 0]}]}]}
