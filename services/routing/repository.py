"""Routing's persistence: departments, agents with their load, assignments and their log, the
waiting queue, routing rules, the recent tickets used for incidents, and supervisor alerts."""
from __future__ import annotations

import sys
import uuid
from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, NamedTuple

from eventlet.semaphore import Semaphore
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure

from services.common.storage import Repository, duplicates_only

from .domain import FAR_FUTURE, INCIDENT_CANDIDATES, Given, SlotsTaken, priority_rank

QUEUE_LIMIT = 1000
# Alike tickets by signature band are kept in each routing process's memory: per department,
# each band's newest INCIDENT_CANDIDATES tickets.  Processes share them through one feed
# document per department: a batch appends its tickets to their department's feed (one update)
# and a process brings its memory up to date with what the feeds gained since it last read
# them (one read).  A process that starts, falls more than FEED_KEPT entries behind, or finds a
# feed made anew reads the department's window from its copies of the tickets instead: every
# ticket's copy is written before the ticket is noted, so nothing falls between the two.
# (Kept as one database list per department and band, as before, each ticket rewrote 12 lists
# and each batch read them back: ~1.3 ms of the wire server's CPU per ticket, most of what
# incident detection cost; BENCHMARKS.md, twenty-second round.)  A feed untouched for longer
# than the longest incident window has nothing a window can see, so it expires.
ALIKE_KEPT_FOR = timedelta(days=7, hours=1)
FEED_KEPT = 500
# What a catching-up read asks for first: more than a busy process's batches add between
# two of its reads, so a second read is rare.
FEED_READ = 64
# The newest tickets of a department's window read when a process starts on it: bounds the
# memory and the read of a very long window (a week of a busy department).
WARM_UP_KEPT = 20_000
# Read before the window's start too: workers routing side by side took their moments, and so
# their windows' starts, a little apart, and one a little earlier must not read it all again.
WARM_UP_MARGIN = timedelta(minutes=5)
# A department's bands kept in memory beyond which those with nothing inside the window are
# dropped.
BANDS_KEPT = 100_000
# An entry is the time the ticket was filed (milliseconds since the epoch, 8 bytes
# big-endian), then its id: byte order is time order.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# On routing's copy of a ticket that an event placed before its creation was remembered.
PLACED_AHEAD = {"placed_ahead": True}
MILLISECOND = timedelta(milliseconds=1)
# Indexes of earlier versions: by any shared word, then by the band lists themselves.
OUTDATED_TICKET_INDEXES = ("fingerprint_1", "department_1_bands_1_created_at_-1")
# The lists of alike tickets earlier versions kept per department and band.
OUTDATED_COLLECTIONS = ("alike",)
# Rules and department settings are read for every routed ticket and change only by an
# admin's hand: the event handlers use reads kept per process (recent_*), the admin's RPCs
# read afresh.
# What deciding and linking an incident reads of each candidate: what a ticket's copy keeps
# from its filing on (kept per process, FILED), and what may change (read each time, and only
# for candidates alike enough to matter).
FILED_FIELDS = ("number", "created_at", "fingerprint", "bands")
CHANGING_FIELDS = ("department", "priority", "incident_id")
# Candidates' filed fields kept per process, newest used last out: a flood's candidates are the
# same few hundred tickets for every arrival, and reading 200 of them by id cost the wire
# server 13.7 ms (5.3 ms without their fingerprints).  With a dozen kinds of request arriving
# at once, each kind's 200 newest span thousands of tickets: 2,000 kept missed most of them
# (a second read of candidates for nearly every ticket at 40 tickets/s).  ~2 KB each, the
# terms themselves shared between tickets.
FILED_KEPT = 10_000
# Mirrors domain.queue_order so the database hands back the head of a long queue in order.
QUEUE_SORT = {"fifo": [("queued_at", ASCENDING), ("_id", ASCENDING)],
              "differentiated": [("priority_rank", DESCENDING), ("sla_sort", ASCENDING),
                                 ("queued_at", ASCENDING), ("_id", ASCENDING)]}


class AlikeQuery(NamedTuple):
    """``recent_tickets``: alike tickets of ``department`` sharing one of ``bands``, filed
    since ``since``, that ``alike`` accepts (on their filed fields)."""
    department: str
    since: datetime
    bands: list[str]
    alike: Callable[[dict], bool] = lambda ticket: True


def _millis(moment: datetime) -> bytes:
    """A list entry's time prefix: byte order is time order."""
    return ((moment - EPOCH) // MILLISECOND).to_bytes(8, "big")


def _alike_entry(ticket_id: str, created_at: datetime) -> bytes:
    return _millis(created_at) + ticket_id.encode()


def _interned(term):
    """One copy of a fingerprint term per process, whichever tickets hold it."""
    return sys.intern(term) if isinstance(term, str) else term


class KeptPerDatabase:
    """Values by (database, id) that never change once known, at most ``size``, the least
    recently used dropped first: they need no expiry."""

    def __init__(self, size: int):
        self.size = size
        self._kept: OrderedDict[tuple[str, str], Any] = OrderedDict()

    def known(self, db_name: str, ids: Iterable[str]) -> dict[str, Any]:
        found = {}
        for key in ids:
            value = self._kept.get((db_name, key))
            if value is not None:
                self._kept.move_to_end((db_name, key))
                found[key] = value
        return found

    def keep(self, db_name: str, key: str, value: Any) -> Any:
        self._kept[(db_name, key)] = value
        self._kept.move_to_end((db_name, key))
        if len(self._kept) > self.size:
            self._kept.popitem(last=False)
        return value


def _filed(copy: dict) -> dict:
    """What a candidate keeps from its filing on (FILED_FIELDS), its terms shared."""
    return {"_id": copy["_id"], "number": copy["number"], "created_at": copy["created_at"],
            "fingerprint": frozenset(_interned(term) for term in copy["fingerprint"]),
            "bands": tuple(_interned(band) for band in copy.get("bands", ()))}


_FILED = KeptPerDatabase(FILED_KEPT)


@dataclass
class KnownAlike:
    """One department's alike tickets as this process knows them: each band's newest
    INCIDENT_CANDIDATES entries, oldest first; the feed position read up to (``epoch`` names
    the feed, made anew should it expire); the earliest filing time known."""
    epoch: str | None
    seq: int
    since: datetime
    bands: dict[str, list[bytes]] = field(default_factory=dict)

    def add(self, entry: bytes, bands: Iterable[str]) -> None:
        """Idempotent: the feed hands a process back its own entries too."""
        for band in bands:
            listed = self.bands.setdefault(band, [])
            at = bisect_left(listed, entry)
            if at < len(listed) and listed[at] == entry:
                continue
            listed.insert(at, entry)
            if len(listed) > INCIDENT_CANDIDATES:
                del listed[0]

    def forget_before(self, since: datetime) -> None:
        """Drop the bands with nothing filed since ``since``."""
        since_key = _millis(since)
        self.bands = {band: listed for band, listed in self.bands.items()
                      if listed[-1] >= since_key}
        self.since = max(self.since, since)


# Each routing process's alike tickets, by (database, department).
_KNOWN: dict[tuple[str, str], KnownAlike] = {}
_WARMING = Semaphore(1)  # green: a warm-up waits on the database


EMPTY_FEED = {"seq": 0, "entries": []}


def _feed_tail(count: int) -> dict:
    """The projection of a feed's position and its last ``count`` entries."""
    return {"seq": 1, "epoch": 1, "entries": {"$slice": -count}}


def _available(now) -> dict:
    """The filter of an available agent, as ``domain.is_available`` judges one."""
    return {"$or": [{"status": "online"},
                    {"status": "vacation", "vacation_until": {"$lte": now}}]}


def _slots_taken(count: int, now) -> dict:
    """The update taking ``count`` slots of an agent (``domain.slot_taken`` each)."""
    return {"$inc": {"load": count, "seq": count}, "$set": {"last_assigned_at": now}}


def _assignment(ticket_id: str, agent_id: str, department: str, now) -> tuple[dict, dict]:
    """The filter and update (an upsert) giving a ticket to an agent.  Conditional: a ticket
    already held by someone is never written over.  (A second writer meets a write conflict,
    and after its retry the callers' read sees the assignment; the filter makes the write
    itself refuse.)"""
    return {"_id": ticket_id, "active": {"$ne": True}}, {"$set": {
        "agent_id": agent_id, "department": department, "active": True, "assigned_at": now}}


def _log_entry(ticket_id: str, agent: dict, action: str, now) -> dict:
    """An assignment log entry: ``agent`` as it stands just after the change (its ``seq``
    orders the agent's entries, its ``load`` is the load after)."""
    return {"ticket_id": ticket_id, "agent_id": agent["_id"], "action": action, "at": now,
            "seq": agent["seq"], "load_after": agent["load"], "capacity": agent["capacity"]}


def _queue_sort_fields(changes: dict) -> dict:
    sort_fields = {}
    if "priority" in changes:
        sort_fields["priority_rank"] = priority_rank(changes["priority"])
    if "sla_due" in changes:
        sort_fields["sla_sort"] = changes["sla_due"] or FAR_FUTURE
    return sort_fields


class RoutingRepository(Repository):
    def ensure_indexes(self) -> None:
        self.db.agents.create_index([("departments", ASCENDING), ("status", ASCENDING)])
        self.db.assignments.create_index("agent_id")
        self.db.assignment_log.create_index([("agent_id", ASCENDING), ("seq", ASCENDING)],
                                            unique=True)
        self.db.queue.create_index([("department", ASCENDING), ("queued_at", ASCENDING)])
        self.db.queue.create_index([("department", ASCENDING)] + QUEUE_SORT["differentiated"])
        self.db.rules.create_index([("position", ASCENDING), ("_id", ASCENDING)])
        self.db.tickets.create_index([("department", ASCENDING), ("created_at", DESCENDING)])
        self.db.alike_feed.create_index(
            "touched_at", expireAfterSeconds=int(ALIKE_KEPT_FOR.total_seconds()))
        for outdated in OUTDATED_COLLECTIONS:
            self.db.drop_collection(outdated)
        for outdated in set(OUTDATED_TICKET_INDEXES) & set(self.db.tickets.index_information()):
            try:
                self.db.tickets.drop_index(outdated)
            except OperationFailure:
                pass  # another replica starting at the same time dropped it first
        self.db.alerts.create_index([("raised_at", DESCENDING)])

    # ------------------------------------------------------------------ departments

    def upsert_department(self, department: dict) -> None:
        self.db.departments.update_one({"_id": department["id"]}, {"$set": {
            k: v for k, v in department.items() if k != "id"}}, upsert=True)
        self.settings_changed()

    def department(self, department_id: str, session=None) -> dict | None:
        return self.db.departments.find_one({"_id": department_id}, session=session)

    def recent_department(self, department_id: str) -> dict | None:
        """``department`` as read within the last SETTINGS_TTL in this process."""
        return self.recent_setting(("department", department_id),
                           lambda: self.department(department_id))

    def department_exists(self, department_id: str) -> bool:
        return self.db.departments.count_documents({"_id": department_id}, limit=1) == 1

    def departments(self) -> list[dict]:
        return list(self.db.departments.find().sort("_id"))

    # ------------------------------------------------------------------ agents

    def upsert_agent(self, agent: dict) -> dict:
        """Profile fields are replaced; the live load is kept (it is counted, not configured)."""
        fields = {k: v for k, v in agent.items() if k != "id"}
        return self.db.agents.find_one_and_update(
            {"_id": agent["id"]}, {"$set": fields, "$setOnInsert": {"load": 0, "seq": 0}},
            upsert=True, return_document=ReturnDocument.AFTER)

    def set_availability(self, agent_id: str, status: str, vacation_until) -> dict | None:
        return self.db.agents.find_one_and_update(
            {"_id": agent_id}, {"$set": {"status": status, "vacation_until": vacation_until}},
            return_document=ReturnDocument.AFTER)

    def agents(self, department: str | None = None, session=None) -> list[dict]:
        query = {"departments": department} if department else {}
        return list(self.db.agents.find(query, session=session).sort("_id"))

    def agents_of(self, departments, session) -> list[dict]:
        """The agents of any of ``departments``, in one read."""
        return list(self.db.agents.find({"departments": {"$in": sorted(departments)}},
                                        session=session).sort("_id"))

    def agent(self, agent_id: str, session=None) -> dict | None:
        return self.db.agents.find_one({"_id": agent_id}, session=session)

    def take_slot(self, agent: dict, now, session, *, if_available: bool = True,
                  within_capacity: bool = True) -> dict | None:
        """Atomic: succeeds only while the agent is available (unless ``if_available`` is
        off: an agent taking a ticket themself is at work, whatever their status says) and
        below the capacity it had when read (``agent``, from the same transaction; unless
        ``within_capacity`` is off: a supervisor's deliberate override).  ``seq`` numbers
        every load change of the agent, so the log replays in a strict order."""
        available = _available(now) if if_available else {}
        below = {"load": {"$lt": agent["capacity"]},
                 "capacity": agent["capacity"]} if within_capacity else {}
        return self.db.agents.find_one_and_update(
            {"_id": agent["_id"], **below, **available}, _slots_taken(1, now),
            session=session, return_document=ReturnDocument.AFTER)

    def take_slots(self, taken: list[SlotsTaken], now, session) -> bool:
        """``take_slot`` for the agents a batch gives tickets to (``domain.place_batch``), in
        one write: each agent's slots are taken only while it stands as read in this
        transaction (load, seq and capacity) and is available.  False when any agent changed
        meanwhile (its slots were not taken, the others' were): the caller must then give
        the transaction up."""
        if not taken:
            return True
        written = self.db.agents.bulk_write([UpdateOne(
            {"_id": t.agent["_id"], "load": t.agent["load"], "seq": t.agent["seq"],
             "capacity": t.agent["capacity"], **_available(now)}, _slots_taken(t.count, now))
            for t in taken], session=session)
        return written.matched_count == len(taken)

    def free_slot(self, agent_id: str, session) -> dict | None:
        return self.db.agents.find_one_and_update(
            {"_id": agent_id, "load": {"$gt": 0}}, {"$inc": {"load": -1, "seq": 1}},
            session=session, return_document=ReturnDocument.AFTER)

    # ------------------------------------------------------------------ assignments

    def active_assignment(self, ticket_id: str, session=None) -> dict | None:
        return self.db.assignments.find_one({"_id": ticket_id, "active": True}, session=session)

    def _log(self, ticket_id: str, agent: dict, action: str, now, session) -> None:
        self.db.assignment_log.insert_one(_log_entry(ticket_id, agent, action, now),
                                          session=session)

    def record_assignment(self, ticket_id: str, agent: dict, department: str, now,
                          session) -> None:
        """``agent`` is the document returned by ``take_slot`` (load and seq after it)."""
        self.db.assignments.update_one(*_assignment(ticket_id, agent["_id"], department, now),
                                       upsert=True, session=session)
        self._log(ticket_id, agent, "assigned", now, session)

    def record_assignments(self, given: list[Given], now, session) -> None:
        """``record_assignment`` for the tickets a batch gives (``domain.place_batch``: each
        agent as it stands just after that ticket's assignment), in one write a collection.
        A ticket held already refuses (BulkWriteError, a duplicate key) and the transaction
        ends."""
        if not given:
            return
        self.db.assignments.bulk_write([UpdateOne(
            *_assignment(g.ticket["ticket_id"], g.agent["_id"], g.ticket["department"], now),
            upsert=True) for g in given], session=session)
        self.db.assignment_log.insert_many([_log_entry(g.ticket["ticket_id"], g.agent,
                                                       "assigned", now) for g in given],
                                           session=session)

    def move_assignment(self, ticket_id: str, department: str, session) -> None:
        """The ticket changed department and its agent works there too: it stays theirs."""
        self.db.assignments.update_one({"_id": ticket_id, "active": True},
                                       {"$set": {"department": department}}, session=session)

    def end_assignment(self, ticket_id: str, now, session) -> dict | None:
        """Deactivate and give the slot back; returns the ended assignment, if any."""
        assignment = self.db.assignments.find_one_and_update(
            {"_id": ticket_id, "active": True}, {"$set": {"active": False}}, session=session)
        if assignment:
            agent = self.free_slot(assignment["agent_id"], session)
            if agent is not None:
                self._log(ticket_id, agent, "released", now, session)
        return assignment

    def assignment_log(self) -> list[dict]:
        return list(self.db.assignment_log.find().sort([("agent_id", 1), ("seq", 1)]))

    # ------------------------------------------------------------------ queue

    def enqueue_many(self, tickets: list[dict], now, session) -> set[str]:
        """Queue the tickets, in one write; the ids of those that were not waiting already.
        A ticket waits from its ``waiting_since`` (a new one: its filing), else from ``now``
        (queued again: reopened, moved, released)."""
        if not tickets:
            return set()
        writes = []
        for ticket in tickets:
            waiting = {
                "number": ticket["number"], "department": ticket["department"],
                "priority": ticket["priority"],
                "preferred_agent_id": ticket.get("preferred_agent_id"),
                "category": ticket.get("category"), "language": ticket.get("language"),
                "product": ticket.get("product"), "sla_due": ticket.get("sla_due"),
                "sla_version": ticket.get("sla_version"),
                "queued_at": ticket.get("waiting_since") or now}
            waiting.update(_queue_sort_fields(waiting))
            writes.append(UpdateOne({"_id": ticket["ticket_id"]}, {"$setOnInsert": waiting},
                                    upsert=True))
        return set(self.db.queue.bulk_write(writes, session=session).upserted_ids.values())

    def dequeue(self, ticket_id: str, session) -> bool:
        """True when this call took the ticket out of the queue (the claim of a waiting
        ticket: of concurrent callers only one deletes it)."""
        return self.db.queue.delete_one({"_id": ticket_id}, session=session).deleted_count == 1

    def queue_entry(self, ticket_id: str, session=None) -> dict | None:
        return self.db.queue.find_one({"_id": ticket_id}, session=session)

    def recent_department_ids(self) -> list[str]:
        """Every department's id, as read within the last SETTINGS_TTL in this process (a
        handful: cheaper than asking the queue which departments it holds, which costs the
        wire server a walk of the whole queue)."""
        return self.recent_setting("department_ids",
                                   lambda: [d["_id"] for d in self.departments()])

    def queued(self, department: str, mode: str = "fifo", limit: int = QUEUE_LIMIT) -> list[dict]:
        return list(self.db.queue.find({"department": department})
                    .sort(QUEUE_SORT[mode]).limit(limit))

    # ------------------------------------------------------------------ routing's view of tickets

    def remember_creation(self, ticket: dict, session) -> tuple[dict | None, dict]:
        """What routing needs later: skills for reassignment, text for incident detection,
        priority and SLA deadline for queue order.  ``(before, after)``: what was kept of
        the ticket before (None, or what events that overtook the creation left, such as an
        SLA deadline, PLACED_AHEAD or a solve's ``settled_ahead_at``) and the stored copy.
        Only once: where the creation was remembered already (its number is kept) the upsert
        meets the unique _id (DuplicateKeyError)."""
        before = self.db.tickets.find_one_and_update(
            {"_id": ticket["_id"], "number": {"$exists": False}}, {"$set": ticket}, upsert=True,
            session=session, return_document=ReturnDocument.BEFORE)
        return before, {**(before or {}), **ticket}

    def routing_copies(self, ticket_ids: list[str], session) -> dict[str, dict]:
        """What is kept of each of the tickets, by id (see ``remember_creation``)."""
        return {copy["_id"]: copy for copy in self.db.tickets.find(
            {"_id": {"$in": ticket_ids}}, session=session)}

    def remember_creations(self, copies: list[dict], kept: set[str], session) -> None:
        """``remember_creation`` for tickets read together in this transaction (``kept``: the
        ids that had a copy then, none of them a remembered creation): one insert for the
        new copies, one update for those that events overtaking the creation started."""
        new = [copy for copy in copies if copy["_id"] not in kept]
        if new:
            self.db.tickets.insert_many(new, session=session)
        started = [UpdateOne({"_id": copy["_id"], "number": {"$exists": False}},
                             {"$set": {k: v for k, v in copy.items() if k != "_id"}})
                   for copy in copies if copy["_id"] in kept]
        if started:
            self.db.tickets.bulk_write(started, session=session)

    def creation_remembered(self, ticket_id: str) -> bool:
        return self.db.tickets.find_one({"_id": ticket_id, "number": {"$exists": True}},
                                        projection={"_id": 1}) is not None

    def ticket(self, ticket_id: str, session=None) -> dict | None:
        return self.db.tickets.find_one({"_id": ticket_id}, session=session)

    def move_ticket(self, ticket_id: str, department: str, session) -> None:
        self.db.tickets.update_one({"_id": ticket_id}, {"$set": {"department": department},
                                                        "$setOnInsert": PLACED_AHEAD},
                                   upsert=True, session=session)

    def mark_placed_ahead(self, ticket_id: str, session) -> None:
        """An event placed the ticket (assigned or queued it) before its creation was
        remembered: the creation must then look for its assignment (``remember_creation``)."""
        self.db.tickets.update_one({"_id": ticket_id}, {"$set": PLACED_AHEAD}, upsert=True,
                                   session=session)

    def note_reopened(self, ticket_id: str, at, session) -> None:
        """Remember the latest reopening (see ``reopened_after``)."""
        self.db.tickets.update_one(
            {"_id": ticket_id, "reopened_at": {"$not": {"$gte": at}}},  # older, or none
            {"$set": {"reopened_at": at}}, session=session)

    def order_marks(self, ticket_id: str, session) -> dict:
        """What the copy says of the order of the ticket's events, as a solve needs it:
        whether its creation is remembered (``number``) and its latest reopening handled
        (``reopened_at``; see ``domain.reopened_after``); {} when there is no copy."""
        return self.db.tickets.find_one({"_id": ticket_id},
                                        projection={"number": 1, "reopened_at": 1},
                                        session=session) or {}

    def mark_settled_ahead(self, ticket_id: str, at, session) -> None:
        """A solve or close at ``at`` was handled before the creation was remembered: the
        creation must then place the ticket nowhere, unless a reopening later than the
        latest such solve (kept) placed it (``domain.settled_ahead``)."""
        self.db.tickets.update_one({"_id": ticket_id}, {"$max": {"settled_ahead_at": at}},
                                   upsert=True, session=session)

    def set_ticket_fields(self, ticket_id: str, changes: dict, session) -> None:
        """Keep routing's copy and the queue entry (if waiting) in step."""
        self.db.tickets.update_one({"_id": ticket_id}, {"$set": changes}, upsert=True,
                                   session=session)
        self._sync_queue(ticket_id, changes, session)

    def set_sla_dues(self, announced: list[tuple[str, object, int]]) -> None:
        """The newest SLA deadlines, ``(ticket id, due, clock version)`` each, on routing's
        copies of the tickets and on their queue entries: one bulk write per collection for
        the events waiting together.  Each write is guarded by SLA's clock version (a
        redelivery or an older announcement delivered late changes nothing), so no
        transaction is needed: after a crash between them the redelivered events complete
        the second."""
        newest: dict[str, tuple[object, int]] = {}
        for ticket_id, due, version in announced:
            if version > newest.get(ticket_id, (None, -1))[1]:
                newest[ticket_id] = (due, version)

        def writes(upsert: bool, ticket_ids) -> list[UpdateOne]:
            # Older or none.  Not an ``$or``: beside an _id the wire server plans each of its
            # branches on its own, a scan of the collection (BENCHMARKS.md).
            return [UpdateOne({"_id": t, "sla_version": {"$not": {"$gte": newest[t][1]}}},
                              {"$set": {"sla_due": newest[t][0], "sla_version": newest[t][1]}},
                              upsert=upsert) for t in ticket_ids]

        # The deadline overtook the ticket's creation (SLA is the quicker of the two under
        # load): the creation finds it on the copy it upserts, and no entry waits yet.
        overtook = set()
        try:
            overtook = set(self.db.tickets.bulk_write(
                writes(True, newest), ordered=False).upserted_ids.values())
        except BulkWriteError as exc:
            duplicates_only(exc)
            overtook = {u["_id"] for u in exc.details["upserted"]}
            # An upsert that met a copy written meanwhile (the creation's) is applied to it;
            # one that met a newer deadline matches nothing now.
            self.db.tickets.bulk_write(writes(False, [
                list(newest)[e["index"]] for e in exc.details["writeErrors"]]), ordered=False)
        waiting = [t for t in newest if t not in overtook]
        if waiting:
            self.db.queue.bulk_write([UpdateOne(
                {"_id": t, "sla_version": {"$not": {"$gte": newest[t][1]}}},
                {"$set": {"sla_due": newest[t][0], "sla_version": newest[t][1],
                          **_queue_sort_fields({"sla_due": newest[t][0]})}})
                for t in waiting], ordered=False)

    def _sync_queue(self, ticket_id: str, changes: dict, session) -> None:
        """The queue entry (if waiting) follows the fields it is ordered by."""
        queued = {k: v for k, v in changes.items() if k in ("priority", "sla_due")}
        queued.update(_queue_sort_fields(queued))
        if queued:
            self.db.queue.update_one({"_id": ticket_id}, {"$set": queued}, session=session)

    def note_alike(self, tickets: list[dict]) -> None:
        """Add each ticket to its department's alike tickets: in this process's memory and at
        the end of the department's feed (see FEED_KEPT).  Outside any transaction: alike
        tickets arriving together share a feed, and would abort each other's transactions.  A
        repeat (redelivery) is added once.  Their filed fields are kept here as well: the next
        alike arrivals find them among their candidates."""
        entries: dict[str, list[bytes]] = {}
        touched: dict[str, datetime] = {}
        for ticket in tickets:
            filed = _FILED.keep(self.db.name, ticket["_id"], _filed(ticket))
            entry = _alike_entry(ticket["_id"], ticket["created_at"])
            department = ticket["department"]
            entries.setdefault(department, []).append(entry)
            if known := _KNOWN.get((self.db.name, department)):
                known.add(entry, filed["bands"])
            # To the hour (ALIKE_KEPT_FOR has the hour to spare): the expiry index's entry of a
            # busy feed then changes once an hour rather than with every batch.
            hour = ticket["created_at"].replace(minute=0, second=0, microsecond=0)
            touched[department] = max(touched.get(department, hour), hour)
        if not entries:
            return
        extensions = [UpdateOne({"_id": department}, {
            "$push": {"entries": {"$each": listed,
                                  "$slice": -FEED_KEPT}},
            "$inc": {"seq": len(listed)}, "$max": {"touched_at": touched[department]},
            "$setOnInsert": {"epoch": uuid.uuid4().hex}}, upsert=True)
            for department, listed in entries.items()]
        try:
            self.db.alike_feed.bulk_write(extensions, ordered=False)
        except BulkWriteError as exc:  # two processes made the same new feed: extend it
            self.db.alike_feed.bulk_write([extensions[e["index"]]
                                           for e in duplicates_only(exc)], ordered=False)

    def recent_tickets(self, queries: list[AlikeQuery], session=None) -> list[list[dict]]:
        """For each query, the newest tickets of its window that share a signature band with
        its ``bands`` (see domain.signature_bands) in its department and are ``alike``
        (judged on their filed fields), newest first, capped: in a flood of alike tickets the
        newest ones already carry the incident.  The queries of tickets routed together are
        answered together: one read of their departments' feeds, then by id the filed fields
        this process does not know yet and the changing fields of the alike ones, each once
        for all."""
        windows: dict[str, datetime] = {}
        for q in queries:
            if q.bands:
                windows[q.department] = min(windows.get(q.department, q.since), q.since)
        if not windows:
            return [[] for _ in queries]
        known = self._known_alike(windows)
        newest = [self._newest(set().union(*(known[q.department].bands.get(band, ())
                                             for band in q.bands)), q.since)
                  if q.bands else [] for q in queries]
        candidates = list(dict.fromkeys(ticket_id for ids in newest for ticket_id in ids))
        filed = self._filed_copies(candidates, session)
        wanted = [[ticket_id for ticket_id in ids if ticket_id in filed
                   and q.alike(filed[ticket_id])] for q, ids in zip(queries, newest)]
        every_wanted = list(dict.fromkeys(ticket_id for ids in wanted for ticket_id in ids))
        if not every_wanted:
            return [[] for _ in queries]
        # By id alone (a moved ticket is left out below): with the department in the filter
        # the wire server would weigh its department index too.
        changing = {t["_id"]: t for t in self.db.tickets.find(
            {"_id": {"$in": every_wanted}}, CHANGING_FIELDS, session=session)}
        return [sorted((dict(filed[t], **changing[t]) for t in ids
                        if t in changing and changing[t]["department"] == q.department),
                       key=lambda t: t["created_at"], reverse=True)
                for q, ids in zip(queries, wanted)]

    def _filed_copies(self, ticket_ids: list[str], session=None) -> dict[str, dict]:
        """The filed fields of these tickets: those this process keeps, the rest read."""
        filed = _FILED.known(self.db.name, ticket_ids)
        missing = [ticket_id for ticket_id in ticket_ids if ticket_id not in filed]
        if missing:
            for copy in self.db.tickets.find({"_id": {"$in": missing}}, FILED_FIELDS,
                                             session=session):
                filed[copy["_id"]] = _FILED.keep(self.db.name, copy["_id"], _filed(copy))
        return filed

    def _known_alike(self, windows: dict[str, datetime]) -> dict[str, KnownAlike]:
        """Each department's alike tickets, brought up to date with its feed, known from the
        start of its window (``windows``) at least."""
        feeds = {feed["_id"]: feed for feed in self.db.alike_feed.find(
            {"_id": {"$in": list(windows)}}, _feed_tail(FEED_READ))}
        current: dict[str, KnownAlike] = {}
        gained: list[tuple[KnownAlike, int, list[bytes]]] = []
        for department, since in windows.items():
            feed = feeds.get(department, EMPTY_FEED)
            known = _KNOWN.get((self.db.name, department))
            gain = self._gained(department, known, feed) if known and since >= known.since \
                else None
            if gain is None:
                known, warmed_here = self._warm_up_once(department, since, feed, known)
                # Warmed by another worker meanwhile: perhaps from an earlier read of the feed.
                gain = None if warmed_here else self._gained(department, known, feed)
            current[department] = known
            if gain:
                gained.append((known, *gain))
            if len(known.bands) > BANDS_KEPT:
                known.forget_before(since)
        if gained:
            filed = self._filed_copies([entry[8:].decode() for _, _, entries in gained
                                        for entry in entries])
            for known, seq, entries in gained:
                for entry in entries:
                    if copy := filed.get(entry[8:].decode()):
                        known.add(entry, copy["bands"])
                known.seq = max(known.seq, seq)
        return current

    def _gained(self, department: str, known: KnownAlike,
                feed: dict) -> tuple[int, list[bytes]] | None:
        """The feed's position and the entries it holds that ``known`` lacks (read again when
        the first read asked for too few); None when they cannot be told: the feed was made
        anew, or gained more than it keeps."""
        if known.epoch is None and "epoch" in feed:
            known.epoch = feed["epoch"]  # made since this process read the window
        # Another worker may have read further than this read: nothing to gain then.
        behind = max(feed["seq"] - known.seq, 0)
        if len(feed["entries"]) < behind <= FEED_KEPT:
            feed = self.db.alike_feed.find_one({"_id": department},
                                               _feed_tail(behind)) or EMPTY_FEED
            behind = max(feed["seq"] - known.seq, 0)
        if feed.get("epoch") != known.epoch or behind > len(feed["entries"]):
            return None
        return feed["seq"], [bytes(e) for e in feed["entries"][len(feed["entries"]) - behind:]]

    def _warm_up_once(self, department: str, since: datetime, feed: dict,
                      stale: KnownAlike | None) -> tuple[KnownAlike, bool]:
        """``_warm_up`` by one worker of this process at a time (a restart under load would
        start every worker on the same read); one that waited takes what it read.  Whether
        this worker read it."""
        with _WARMING:
            known = _KNOWN.get((self.db.name, department))
            if known is stale:
                return self._warm_up(department, since, feed), True
            return known, False

    def _warm_up(self, department: str, since: datetime, feed: dict) -> KnownAlike:
        """A department's alike tickets read from its copies since a little before ``since``
        (its newest WARM_UP_KEPT), as of ``feed``, read before them: a ticket is noted in the
        feed only after its copy is written, so what the feed gains from here on is what they
        miss."""
        since -= WARM_UP_MARGIN
        known = KnownAlike(feed.get("epoch"), feed["seq"], since)
        # Their bands alone: the filed fields of the few that become candidates are read then.
        for copy in self.db.tickets.find(
                {"department": department, "created_at": {"$gte": since}},
                ("created_at", "bands")).sort("created_at", DESCENDING).limit(WARM_UP_KEPT):
            known.add(_alike_entry(copy["_id"], copy["created_at"]),
                      [_interned(band) for band in copy.get("bands", ())])
        _KNOWN[(self.db.name, department)] = known
        return known

    @staticmethod
    def _newest(entries: set[bytes], since) -> list[str]:
        """The ids of the newest INCIDENT_CANDIDATES entries filed since ``since``, newest
        first."""
        since_key = _millis(since)  # an entry sorts after it exactly when filed since
        newest_ids: dict[str, None] = {}  # ordered, newest first
        for entry in sorted(entries, reverse=True):
            if entry < since_key or len(newest_ids) == INCIDENT_CANDIDATES:
                break
            newest_ids.setdefault(entry[8:].decode())
        return list(newest_ids)

    # ------------------------------------------------------------------ rules

    def rules(self) -> list[dict]:
        return [dict(r, id=r["_id"]) for r in self.db.rules.find().sort([("position", 1),
                                                                         ("_id", 1)])]

    def recent_rules(self) -> list[dict]:
        """``rules`` as read within the last SETTINGS_TTL in this process."""
        return self.recent_setting("rules", self.rules)

    def save_rule(self, rule: dict) -> None:
        self.db.rules.replace_one({"_id": rule["id"]},
                                  {k: v for k, v in rule.items() if k != "id"}, upsert=True)
        self.settings_changed()

    def delete_rule(self, rule_id: str) -> bool:
        return self.settings_changed(
            self.db.rules.delete_one({"_id": rule_id}).deleted_count == 1)

    # ------------------------------------------------------------------ alerts

    def raise_alert(self, kind: str, ticket_ids: list[str], department: str | None,
                    message: str, now, session, alert_id: str | None = None,
                    numbers: list[int] | None = None) -> None:
        """``numbers`` (the tickets' numbers, in ``ticket_ids`` order) let pages link them."""
        self.db.alerts.insert_one({"_id": alert_id or uuid.uuid4().hex, "kind": kind,
                                   "ticket_ids": ticket_ids, "numbers": numbers or [],
                                   "department": department, "message": message,
                                   "raised_at": now}, session=session)

    def alerts(self, limit: int = 100) -> list[dict]:
        return list(self.db.alerts.find().sort("raised_at", DESCENDING).limit(limit))
