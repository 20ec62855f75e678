"""Intake's persistence: tickets (with their thread), the ticket-number counter, the audit
history, the tag dictionary, canned responses and attachments (GridFS)."""
from __future__ import annotations

import math
import secrets
import time
from collections import deque
from datetime import datetime, timezone
from typing import Callable, Collection

import gridfs
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.common import outbox
from services.common.cache import RecentReads
from services.common.keyed_lock import KeyedLock
from services.common.storage import Repository, insert_new

from . import queue as queue_rules
from . import reports, rollups
from .domain import CSAT_LINK_VALIDITY

FIRST_TICKET_NUMBER = 1000
IDEMPOTENCY_INDEX = "requester_idempotency_key_v2"
# Older forms, dropped at start-up: a global one (leaked tickets across requesters), and one
# whose filter was ``$exists`` (a compound partial index with that filter makes the Rust wire
# server answer an equality query on ``idempotency_key`` alone with nothing).
LEGACY_IDEMPOTENCY_INDEXES = ("idempotency_key_1", "requester_idempotency_key")
# The queue's deadline indexes before the stored next due (one walk instead of two).
LEGACY_QUEUE_INDEXES = ("status_1_sla.first_response_due_1_number_-1",
                        "status_1_sla.resolution_due_1_number_-1")
# What queue.stored_fields reads (STORED_FROM: "sla" is a sub-document, read in part).
QUEUE_INPUTS = [f for f in queue_rules.STORED_FROM if f != "sla"] + [
    "sla.first_response_due", "sla.resolution_due"]
FILL_BATCH = 500
# A new ticket is written alone, without a transaction, and carries what its filing still owes
# under UNSETTLED: its outbox entries (published right after the write) and its rollup
# contribution (added in batches, see ``settle``).  Readers never see it.
UNSETTLED = "settle"
WITHOUT_UNSETTLED = {UNSETTLED: 0}
SETTLE_SWEEP = 500  # tickets a sweep takes over at most
SETTLED_KEPT_SECONDS = 24 * 3600
QUEUE_ROW = {**queue_rules.HIDDEN, **WITHOUT_UNSETTLED}
# A deadline write is retried when the ticket changed between its read and its write.
SLA_WRITE_ATTEMPTS = 5
# The queue's walk in next-due order.  Not led by status: only racing tickets have a next due
# (none of the solved and closed), and on the wire server a status prefix makes the walk a
# merge of one scan per status, ~30% slower; hinted, since choosing a plan costs the wire
# server ~20 ms a query (BENCHMARKS.md, "Agent console queue").
DUE_INDEX = [("next_due", ASCENDING), ("number", DESCENDING)]
# The mail settings and the CSAT signing secret are read for every notification and change
# only by an admin's hand (or a rotation): mail uses reads kept per process, the admin's RPCs
# and the CSAT link check read afresh.  The reply-address secret never changes once made:
# kept for the process's life.
_FOR_LIFE = RecentReads(math.inf)


def _as_stored(ticket: dict, staged: list[dict], now) -> dict:
    """A new ticket's document: with its queue fields and what its filing owes (UNSETTLED)."""
    if ticket.get("idempotency_key") is None:
        ticket = {k: v for k, v in ticket.items()
                  if k not in ("idempotency_key", "idempotency_digest")}
    owed = {"until": now + outbox.WRITER_CLAIM, "events": staged,
            "rollup": rollups.owed(ticket)}
    return {**ticket, **queue_rules.stored_fields(ticket), UNSETTLED: owed}


class NumberBlocks:
    """Ticket numbers handed out from blocks, each taken from the shared counter with one
    increment.  A block is as large as this process's filings of the last second, at most
    ``most``: one while filings are sparse, so numbers stay consecutive and, across replicas,
    in filing order; under load one counter write serves a block instead of every filing.
    Numbers are never reused: a process that stops skips the rest of its block (a gap, like
    a failed filing's)."""

    def __init__(self, most: int = 32, clock: Callable[[], float] = time.monotonic):
        self.most = most
        self._clock = clock
        self._turns = KeyedLock()
        self._free: dict[str, tuple[int, int]] = {}  # per database: next number, block's last
        self._asked: dict[str, deque[float]] = {}  # per database: times of the last second

    def next(self, db_name: str, reserve: Callable[[int], int]) -> int:
        """The next number; ``reserve(count)`` takes a block, returning its last number."""
        with self._turns.holding(db_name):
            now = self._clock()
            asked = self._asked.setdefault(db_name, deque())
            asked.append(now)
            while asked[0] <= now - 1.0:
                asked.popleft()
            following, last = self._free.get(db_name, (1, 0))
            if following > last:
                size = min(self.most, len(asked))
                last = reserve(size)
                following = last - size + 1
            self._free[db_name] = (following + 1, last)
            return following


_NUMBERS = NumberBlocks()


class TicketRepository(Repository):
    @property
    def tickets(self):
        return self.db.tickets

    def ensure_indexes(self) -> None:
        self.tickets.create_index("number", unique=True)
        self._ensure_idempotency_index()
        self.tickets.create_index([("assignee_id", ASCENDING), ("status", ASCENDING)])
        self.tickets.create_index([("requester_id", ASCENDING), ("created_at", DESCENDING)])
        self.tickets.create_index([("department", ASCENDING), ("status", ASCENDING)])
        # The agents' queue (queue.py): its views filter by status within departments and
        # sort by number or the stored next due (DUE_INDEX); the first also counts open
        # tickets by status (metrics).
        self.tickets.create_index([("status", ASCENDING), ("department", ASCENDING),
                                   ("number", DESCENDING)])
        self.tickets.create_index(DUE_INDEX)
        self._drop_indexes(LEGACY_QUEUE_INDEXES)
        self.fill_queue_fields()
        self.tickets.create_index("created_at")
        self.tickets.create_index("email_message_ids")
        self.tickets.create_index("tags")
        self.tickets.create_index(f"{UNSETTLED}.until", sparse=True)
        self.settled.create_index("at", expireAfterSeconds=SETTLED_KEPT_SECONDS)
        self.audit.create_index([("ticket_id", ASCENDING), ("at", ASCENDING)])
        self.tag_usage.create_index([("count", DESCENDING)])
        self.canned.create_index([("scope", ASCENDING), ("owner_id", ASCENDING)])
        for kind in (rollups.DAILY, rollups.AGENTS):
            self._rollup_collection(kind).create_index([("day", ASCENDING),
                                                         ("department", ASCENDING)])
        # Create the counter before first use: racing upserts on a missing document can
        # return None on the wire server.
        try:
            self.db.counters.insert_one({"_id": "ticket_number", "value": FIRST_TICKET_NUMBER - 1})
        except DuplicateKeyError:
            pass

    def _ensure_idempotency_index(self) -> None:
        """A key is unique per requester, not globally: two requesters who happen to pick
        the same key must each get their own ticket, never the other's.  Partial: only
        tickets filed with a key take part.  Databases made before this carry the old global
        index (which would still refuse the second requester's ticket) or the first per-requester
        one (see LEGACY_IDEMPOTENCY_INDEXES): the new one is built first, then they are dropped."""
        self.tickets.create_index(
            [("requester_id", ASCENDING), ("idempotency_key", ASCENDING)], unique=True,
            name=IDEMPOTENCY_INDEX,
            partialFilterExpression={"idempotency_key": {"$type": "string"}})
        self._drop_indexes(LEGACY_IDEMPOTENCY_INDEXES)

    def _drop_indexes(self, names: tuple[str, ...]) -> None:
        existing = self.tickets.index_information()
        for legacy in names:
            if legacy in existing:
                try:
                    self.tickets.drop_index(legacy)
                except OperationFailure:
                    pass  # another replica starting at the same time dropped it first

    def next_number(self) -> int:
        # Outside the creating transaction on purpose: a shared counter inside every
        # transaction would serialise all intake.  A failed create leaves a gap, not a clash.
        return _NUMBERS.next(self.db.name, self._reserve_numbers)

    def _reserve_numbers(self, count: int) -> int:
        """The last of ``count`` numbers taken from the shared counter."""
        return self.db.counters.find_one_and_update(
            {"_id": "ticket_number"}, {"$inc": {"value": count}},
            return_document=ReturnDocument.AFTER)["value"]

    def insert(self, ticket: dict, staged: list[dict], now, session=None) -> dict:
        """A new ticket, carrying what its filing owes (UNSETTLED): ``staged``, its outbox
        entries, and its rollup contribution.  One document: no transaction unless the
        caller's ``session`` writes another with it.  Returns the document as stored."""
        stored = _as_stored(ticket, staged, now)
        self.tickets.insert_one(stored, session=session)
        return stored

    def insert_all(self, new: list[tuple[dict, list[dict]]], now) -> tuple[list[dict], list[int]]:
        """``insert`` for several new tickets (each with its staged events) in one command:
        the documents as stored, and the positions of those a unique index refused (a
        repeat of a filing: its requester's idempotency key is taken)."""
        stored = [_as_stored(ticket, staged, now) for ticket, staged in new]
        return stored, insert_new(self.tickets, stored)

    def settle(self, owed: list[dict]) -> int:
        """Roll up these new tickets (``_id``, ``number`` and UNSETTLED, as stored), those not
        settled yet: one transaction for all, which marks them settled (the rollups of a batch
        go to the shard of its first ticket).  Their events must be published before.  The
        tickets themselves are not written here (routing's and SLA's outcomes are being
        written to them just now): the sweep clears what they carried once their claim is
        over.  Returns how many were settled (a repeat, or a racing sweep, finds them so)."""
        ticket_ids = [t["_id"] for t in owed]

        def txn(session) -> int:
            done = {m["_id"] for m in self.settled.find({"_id": {"$in": ticket_ids}},
                                                        session=session)}
            fresh = [t for t in owed if t["_id"] not in done]
            if not fresh:
                return 0
            self.settled.insert_many([{"_id": t["_id"], "at": t[UNSETTLED]["until"]}
                                      for t in fresh], session=session)
            total: dict[tuple, dict[str, int]] = {}
            for ticket in fresh:
                rollups.add_into(total, rollups.from_owed(ticket[UNSETTLED].get("rollup", [])))
            self._add_to_rollups(total, fresh[0]["number"] % rollups.SHARDS, session)
            return len(fresh)
        return self.transaction(txn)

    def unsettled(self, now, claim, skip: Collection[str] = ()) -> list[dict]:
        """New tickets past their writer's claim, but those in ``skip``: the settled ones lose
        what they carried; the others were left unsettled (their writer died, or its publish
        failed) and are returned, each claimed by this caller for ``claim`` (``number`` and
        UNSETTLED: its events to publish before ``settle``)."""
        due = [t["_id"] for t in self.tickets.find(
            {f"{UNSETTLED}.until": {"$lte": now}}, projection={"_id": 1}).limit(SETTLE_SWEEP)
            if t["_id"] not in skip]
        if not due:
            return []
        done = [m["_id"] for m in self.settled.find({"_id": {"$in": due}})]
        if done:
            self.tickets.update_many({"_id": {"$in": done}}, {"$unset": {UNSETTLED: ""}})
        claimed = (self.tickets.find_one_and_update(
            {"_id": ticket_id, f"{UNSETTLED}.until": {"$lte": now}},
            {"$set": {f"{UNSETTLED}.until": now + claim}},
            projection={"number": 1, UNSETTLED: 1}, return_document=ReturnDocument.AFTER)
            for ticket_id in set(due) - set(done))
        return [ticket for ticket in claimed if ticket is not None]

    @property
    def settled(self):
        """A marker per new ticket rolled up (kept a day: past any claim)."""
        return self.db.settled

    def mark_settled(self, ticket_ids: list[str], at) -> None:
        """Tickets counted otherwise (the rebuild): never rolled up again when settled."""
        insert_new(self.settled, [{"_id": i, "at": at} for i in ticket_ids])

    def add_breach(self, ticket_id: str, target: str, session) -> None:
        """Record an SLA breach (once per target) on a ticket whose deadlines are set."""
        before = self.tickets.find_one_and_update(
            {"_id": ticket_id, "sla": {"$ne": None}}, {"$addToSet": {"sla.breached": target}},
            projection=list(rollups.FIELDS), session=session,
            return_document=ReturnDocument.BEFORE)
        if before is not None:
            self._roll_up(before, rollups.with_breach(before, target), session)

    def record_sla_deadlines(self, announced: list[tuple[str, dict, int]]) -> None:
        """Keep the newest deadlines SLA announced, ``(ticket id, deadlines, clock version)``
        each: an older announcement delivered late, or a redelivery, changes nothing; breaches
        already recorded stay.  One read and one bulk of conditional writes, each with the
        queue's next due and no transaction: a write applies only if its ticket's queue inputs
        are still as read, else the tickets are read again.  Nearly always these are the first
        deadlines of tickets just filed: those are written without the read first."""
        newest: dict[str, tuple[dict, int]] = {}
        for ticket_id, deadlines, version in announced:
            if version > newest.get(ticket_id, ({}, -1))[1]:
                newest[ticket_id] = (dict(deadlines, version=version), version)
        if self._first_deadlines_kept(newest):
            return
        for _ in range(SLA_WRITE_ATTEMPTS):
            writes = []
            for ticket in self.tickets.find({"_id": {"$in": list(newest)}},
                                            projection=QUEUE_INPUTS + ["sla.version"]):
                fresh, version = newest[ticket["_id"]]
                sla = ticket.get("sla")
                if (sla or {}).get("version", -1) >= version:
                    continue  # kept already (by an earlier round, or a newer announcement)
                changes = {"sla": dict(fresh, breached=[])} if sla is None else {
                    f"sla.{k}": v for k, v in fresh.items()}
                as_read = {"status": ticket.get("status"),
                           "first_response_at": ticket.get("first_response_at")}
                as_read.update({"sla": None} if sla is None else {
                    "sla.version": sla.get("version")})
                writes.append(UpdateOne({"_id": ticket["_id"], **as_read}, {"$set": {
                    **changes, "next_due": queue_rules.next_due(
                        dict(ticket, sla=dict(sla or {}, **fresh)))}}))
            if not writes or self.tickets.bulk_write(
                    writes, ordered=False).matched_count == len(writes):
                return
        raise RuntimeError(f"tickets {sorted(newest)} kept changing while their deadlines were "
                           "recorded; the events will be redelivered")

    def _first_deadlines_kept(self, newest: dict[str, tuple[dict, int]]) -> bool:
        """Each ticket's deadlines written as its first, racing its first response (a ticket
        as filed); True when every write applied.  The others are left to the read that
        follows, which finds these kept already."""
        writes = [UpdateOne(
            {"_id": ticket_id, "sla": None, "first_response_at": None,
             "status": {"$nin": list(queue_rules.NOT_RACING)}},
            {"$set": {"sla": dict(fresh, breached=[]), "next_due": queue_rules.next_due(
                {"status": "new", "sla": fresh})}}) for ticket_id, (fresh, _) in newest.items()]
        return self.tickets.bulk_write(writes, ordered=False).matched_count == len(writes)

    def by_idempotency_key(self, requester_id: str, key: str) -> dict | None:
        """The ticket this requester already filed with this key (keys are per requester)."""
        return self.tickets.find_one({"requester_id": requester_id, "idempotency_key": key},
                                     projection=WITHOUT_UNSETTLED)

    def by_number(self, number: int, session=None) -> dict | None:
        return self.tickets.find_one({"number": number}, projection=WITHOUT_UNSETTLED,
                                     session=session)

    def by_id(self, ticket_id: str, session=None) -> dict | None:
        return self.tickets.find_one({"_id": ticket_id}, projection=WITHOUT_UNSETTLED,
                                     session=session)

    def by_ids(self, ticket_ids: list[str], session=None) -> dict[str, dict]:
        return {t["_id"]: t for t in self.tickets.find({"_id": {"$in": ticket_ids}},
                                                       projection=WITHOUT_UNSETTLED,
                                                       session=session)}

    def record_sent_mail(self, sent: list[tuple[str, str]]) -> None:
        """``(ticket id, Message-ID)`` of mails sent: the threading of later mails, and the
        proof that they went (see IntakeService._notify)."""
        if sent:
            self.tickets.bulk_write([UpdateOne({"_id": ticket_id},
                                               {"$addToSet": {"email_message_ids": message_id}})
                                     for ticket_id, message_id in sent], ordered=False)

    def update(self, ticket_id: str, changes: dict, session, expected: dict | None = None,
               push: dict | None = None) -> bool:
        """Conditional update: with ``expected`` field values it fails if someone changed
        them first.  The report rollups move with it, in the same transaction: the pre-image
        comes back from the same atomic write, so a concurrent change to another field
        cannot make the difference wrong."""
        query = {"_id": ticket_id, **(expected or {})}
        update = {"$set": changes}
        if push:
            update["$push"] = push
        requeued = not changes.keys().isdisjoint(queue_rules.STORED_FROM)
        before = self.tickets.find_one_and_update(
            query, update, projection=list(rollups.FIELDS) + (QUEUE_INPUTS if requeued else []),
            session=session, return_document=ReturnDocument.BEFORE)
        if before is None:
            return False
        after = rollups.applied(before, changes, push)
        self._roll_up(before, after, session)
        if requeued:
            self._store_queue_fields(after, session)
        return True

    def update_as_read(self, changed: list[tuple[dict, dict]], session) -> None:
        """Tickets read in ``session``'s transaction, changed (``(ticket as read, changes)``,
        a ticket's later change after its earlier one, read as the earlier left it): one
        bulk write, and the rollups moved by the batch's difference in one write per kind
        (to the shard of its first ticket, as ``settle``).  The transaction's read is the
        pre-image: a concurrent write to one of them makes the transaction abort and retry."""
        if not changed:
            return
        writes, deltas = [], {}
        for before, changes in changed:
            after = rollups.applied(before, changes, None)
            fields = dict(changes)
            if not changes.keys().isdisjoint(queue_rules.STORED_FROM):
                fields.update(queue_rules.stored_fields(after))
            writes.append(UpdateOne({"_id": before["_id"]}, {"$set": fields}))
            rollups.add_into(deltas, rollups.difference(before, after))
        self.tickets.bulk_write(writes, ordered=True, session=session)
        self._add_to_rollups(deltas, changed[0][0]["number"] % rollups.SHARDS, session)

    def _store_queue_fields(self, ticket: dict, session) -> None:
        """The queue's stored fields (queue.stored_fields) after a change of their inputs, in
        the change's transaction (``ticket``: the inputs as the change left them)."""
        self.tickets.update_one({"_id": ticket["_id"]},
                                {"$set": queue_rules.stored_fields(ticket)}, session=session)

    def fill_queue_fields(self) -> int:
        """Give the queue's stored fields to tickets written without them (by a version
        before them, or straight into the database); at start-up, so an upgraded database's
        queue is complete.  A ticket changed meanwhile by this version already has them
        (the filter skips it).  Returns how many were filled."""
        missing = {"search_text": {"$exists": False}}
        filled, batch = 0, []
        for ticket in self.tickets.find(missing, projection=QUEUE_INPUTS):
            batch.append(UpdateOne({"_id": ticket["_id"], **missing},
                                   {"$set": queue_rules.stored_fields(ticket)}))
            if len(batch) == FILL_BATCH:
                filled += self.tickets.bulk_write(batch, ordered=False).modified_count
                batch = []
        if batch:
            filled += self.tickets.bulk_write(batch, ordered=False).modified_count
        return filled

    # ---------------------------------------------------------------- audit history

    @property
    def audit(self):
        return self.db.audit

    def record_audit(self, rows: list[dict], session) -> None:
        """Append-only: rows are inserted, never updated or deleted."""
        if rows:
            self.audit.insert_many([dict(r) for r in rows], session=session)

    def history(self, ticket_id: str) -> list[dict]:
        return list(self.audit.find({"ticket_id": ticket_id}, projection={"_id": 0})
                    .sort([("at", ASCENDING), ("_id", ASCENDING)]))

    # ---------------------------------------------------------------- tag dictionary

    @property
    def tag_usage(self):
        return self.db.tags

    def count_tags(self, deltas: dict[str, int], session) -> None:
        for tag, delta in deltas.items():
            self.tag_usage.update_one({"_id": tag}, {"$inc": {"count": delta}}, upsert=True,
                                      session=session)

    def suggest_tags(self, pattern: str, limit: int) -> list[dict]:
        return list(self.tag_usage.find({"_id": {"$regex": pattern}, "count": {"$gt": 0}})
                    .sort([("count", DESCENDING), ("_id", ASCENDING)]).limit(limit))

    def tickets_tagged(self, tag: str, session, limit: int) -> list[dict]:
        return list(self.tickets.find({"tags": tag}, projection={"messages": 0},
                                      session=session).sort("number", ASCENDING).limit(limit))

    def any_tagged(self, tag: str, session) -> bool:
        return self.tickets.find_one({"tags": tag}, projection={"_id": 1},
                                     session=session) is not None

    def drop_tag(self, tag: str, session) -> None:
        self.tag_usage.delete_one({"_id": tag}, session=session)

    # ---------------------------------------------------------------- canned responses

    @property
    def canned(self):
        return self.db.canned

    def canned_for(self, actor_id: str, language: str | None) -> list[dict]:
        query: dict = {"$or": [{"scope": "shared"}, {"owner_id": actor_id}]}
        if language:
            query["language"] = language
        return list(self.canned.find(query).sort("title", ASCENDING))

    def save_canned(self, doc: dict) -> None:
        self.canned.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def delete_canned(self, canned_id: str) -> None:
        self.canned.delete_one({"_id": canned_id})

    # ---------------------------------------------------------------- email settings

    def mail_settings(self) -> dict | None:
        """What an admin saved (None: the deployment's defaults apply)."""
        return self.db.settings.find_one({"_id": "mail"}, projection={"_id": 0})

    def recent_mail_settings(self) -> dict | None:
        """``mail_settings`` as read within the last SETTINGS_TTL in this process."""
        return self.recent_setting("mail", self.mail_settings)

    def save_mail_settings(self, settings: dict) -> None:
        self.db.settings.replace_one({"_id": "mail"}, settings, upsert=True)
        self.settings_changed()

    # ---------------------------------------------------------------- CSAT link secrets
    # Made at first start and kept here (as the portal keeps its session secret), unless the
    # deployment sets HELPDESK_CSAT_SECRET.  Rotation keeps the retired one for a while.

    def csat_secrets(self, now: datetime) -> list[str]:
        """The signing secret first (made now if there is none), then the retired ones still
        accepted: retired less than CSAT_LINK_VALIDITY ago."""
        doc = self._csat_doc()
        return [doc["current"], *(p["value"] for p in doc["previous"]
                                  if p["retired_at"] > now - CSAT_LINK_VALIDITY)]

    def recent_csat_signing_secret(self) -> str:
        """The signing secret as read within the last SETTINGS_TTL in this process: after a
        rotation elsewhere, links are signed with the retired one (still accepted) that long."""
        return self.recent_setting("csat", self._csat_doc)["current"]

    def rotate_csat_secret(self, now: datetime) -> None:
        """A new signing secret; the old one is still accepted for CSAT_LINK_VALIDITY (links
        it signed expire by then); retired ones older than that are dropped.  Conditional on
        the secret read, so two rotations at once make one."""
        doc = self._csat_doc()
        kept = [p for p in doc["previous"] if p["retired_at"] > now - CSAT_LINK_VALIDITY]
        self.db.settings.update_one({"_id": "csat", "current": doc["current"]}, {"$set": {
            "current": secrets.token_urlsafe(48),
            "previous": [*kept, {"value": doc["current"], "retired_at": now}]}})
        self.settings_changed()

    def mail_token_secret(self) -> str:
        """Signs the per-ticket reply addresses (HELPDESK_MAIL_TOKEN_SECRET unset): made at first
        start and kept like the CSAT one, never changed."""
        return _FOR_LIFE.get(self.db.name, "mail-token",
                             lambda: self._kept_secret("mail-token"))["current"]

    def _csat_doc(self) -> dict:
        return self._kept_secret("csat")

    def _kept_secret(self, name: str) -> dict:
        return self.db.settings.find_one({"_id": name}) or self.db.settings.find_one_and_update(
            {"_id": name}, {"$setOnInsert": {"current": secrets.token_urlsafe(48),
                                             "previous": []}},
            upsert=True, return_document=ReturnDocument.AFTER
        ) or self.db.settings.find_one({"_id": name})  # lost a first-use race: the winner's

    # ---------------------------------------------------------------- attachments

    @property
    def files(self) -> gridfs.GridFS:
        return gridfs.GridFS(self.db, collection="attachments")

    def put_file(self, data: bytes, file_id: str, filename: str, content_type: str) -> None:
        self.files.put(data, _id=file_id, filename=filename, contentType=content_type)

    def delete_file(self, file_id: str) -> None:
        self.files.delete(file_id)

    def read_file(self, file_id: str) -> bytes | None:
        try:
            return self.files.get(file_id).read()
        except gridfs.errors.NoFile:
            return None

    def by_message_ids(self, message_ids: list[str]) -> dict | None:
        return self.tickets.find_one({"email_message_ids": {"$in": message_ids}},
                                     projection=WITHOUT_UNSETTLED)

    def find(self, filters: dict, page: int, per_page: int) -> tuple[list[dict], int]:
        total = self.tickets.count_documents(filters)
        cursor = (self.tickets.find(filters, projection={"messages": 0, "attachments": 0,
                                                          UNSETTLED: 0})
                  .sort("number", DESCENDING).skip((page - 1) * per_page).limit(per_page))
        return list(cursor), total

    def queue_page(self, query: dict, now) -> dict:
        """A page of the agents' queue read in index order (see queue.py): rows, has_more,
        and the total when the page reaches the end."""
        skip, limit = (query["page"] - 1) * query["per_page"], query["per_page"] + 1
        sort = query["sort"].lstrip("-")
        if queue_rules.SORTS[sort] == "next_due":
            return queue_rules.page_of(query, self._queue_by_due(query, now, skip, limit))
        if queue_rules.needs_computed(query["sort"]):
            return queue_rules.page_of(query, list(self.tickets.aggregate(
                queue_rules.pipeline(query, now))))
        return queue_rules.page_of(query, list(
            self.tickets.find(queue_rules.mongo_filter(query, now), QUEUE_ROW)
            .sort(queue_rules.sort_spec(query["sort"])).skip(skip).limit(limit)))

    def _queue_by_due(self, query: dict, now, skip: int, limit: int) -> list[dict]:
        """The rows from the page's first on: the racing tickets in next-due order (one index
        walk), then, when those run out, the ones without a running clock."""
        racing, racing_count = [], 0
        if queue_rules.races(query):
            found, order = queue_rules.racing_read(query, now)
            racing = list(self.tickets.find(found, QUEUE_ROW).sort(order)
                          .hint(DUE_INDEX).skip(skip).limit(limit))
            if len(racing) == limit:  # the page ends among racing ones
                return racing
            # Their count places the idle ones (counted only when the page starts past them).
            racing_count = skip + len(racing) if racing or not skip else \
                self.tickets.count_documents(found, hint=DUE_INDEX)
        idle_skip, idle_limit = queue_rules.idle_window(query, racing_count)
        idle = list(self.tickets.find(queue_rules.idle_filter(query, now), QUEUE_ROW)
                    .sort([("number", -1)]).skip(idle_skip).limit(idle_limit)) \
            if idle_limit else []
        return racing + idle

    # ---------------------------------------------------------------- report rollups

    def _rollup_collection(self, kind: str):
        """report_daily, report_agents, report_current."""
        return self.db[f"report_{kind}"]

    def _roll_up(self, before: dict | None, after: dict | None, session) -> None:
        """``$inc`` upserts of what the change adds to or takes from the daily rollups."""
        # By ticket number: tickets changed together (consecutive numbers) rarely share a
        # shard, so their transactions do not meet on a rollup document and abort.
        shard = (after or before or {}).get("number", 0) % rollups.SHARDS
        self._add_to_rollups(rollups.difference(before, after), shard, session)

    def _add_to_rollups(self, deltas: dict[tuple, dict[str, int]], shard: int,
                        session) -> None:
        writes: dict[str, list] = {}
        for key, delta in deltas.items():
            writes.setdefault(key[0], []).append(UpdateOne(
                {"_id": rollups.document_id(key, shard)},
                {"$inc": delta, "$setOnInsert": rollups.key_fields(key)}, upsert=True))
        for kind, operations in writes.items():
            self._rollup_collection(kind).bulk_write(operations, ordered=False, session=session)

    def rebuild_rollups(self, progress=lambda n: None) -> dict[str, int]:
        """Recompute every rollup from the tickets and replace the stored ones (not in one
        transaction: run it while intake is stopped, or changes made meanwhile drift until
        the next rebuild).  ``progress(n)`` is told of every n tickets read."""
        # New tickets not settled yet are counted here as they stand, not again when settled.
        unsettled = [t["_id"] for t in self.tickets.find({UNSETTLED: {"$exists": True}},
                                                         projection={"_id": 1})]
        for start in range(0, len(unsettled), FILL_BATCH):
            self.mark_settled(unsettled[start:start + FILL_BATCH], datetime.now(timezone.utc))
        total: dict[tuple, dict[str, int]] = {}
        read = 0
        for ticket in self.tickets.find({}, projection=list(rollups.FIELDS), batch_size=2000):
            rollups.add_into(total, rollups.contribution(ticket))
            read += 1
            if read % 1000 == 0:
                progress(1000)
        progress(read % 1000)
        documents: dict[str, list[dict]] = {kind: [] for kind in rollups.KINDS}
        for key, figures in total.items():
            documents[key[0]].append(rollups.as_document(key, figures))
        for kind, docs in documents.items():
            collection = self._rollup_collection(kind)
            collection.delete_many({})
            for start in range(0, len(docs), 5000):
                collection.insert_many(docs[start:start + 5000], ordered=False)
        return {"tickets": read, **{kind: len(docs) for kind, docs in documents.items()}}

    def rollup_documents(self) -> dict[str, list[dict]]:
        """The stored rollups, shards summed, without zero counts, sorted by id (to compare
        two states)."""
        return {kind: [doc for doc in map(rollups.without_zeros, rollups.merged_shards(
                           self._rollup_collection(kind).find()))
                       if doc is not None]
                for kind in rollups.KINDS}

    def report(self, start, end, department: str | None) -> dict:
        """Figures for the whole UTC days in [start, end) (see ``rollups.day_range``)."""
        match = reports.rollup_match(start, end, department)
        period = next(self._rollup_collection(rollups.DAILY).aggregate(
            reports.daily_pipeline(match)))
        agents = next(self._rollup_collection(rollups.AGENTS).aggregate(
            reports.agents_pipeline(match)))
        current = list(self._rollup_collection(rollups.CURRENT).aggregate(
            reports.current_pipeline(department)))
        return reports.shape(period, agents, current)
