"""Search's own records in Mongo: articles (their source of truth), the public copy of every
ticket, and suggestion feedback.  Each article/ticket copy carries a revision counter (1, 2, …,
bumped by every save) and stays flagged until Elasticsearch has that revision, so an outage (or
an edit racing a sweep) loses nothing.  The counter is also the document's external version in
Elasticsearch, so an older revision arriving late never overwrites a newer one there."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterator

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from services.common.storage import Repository, duplicates_only, insert_new

from .domain import revision
from .versions import SCHEDULED

COLLECTIONS = {"articles": "articles", "tickets": "tickets", "answers": "answers"}  # kind -> coll.
# Saves of one document racing each other retry on the revision they read; each retry means
# another save won, so a handful is plenty even under heavy redelivery.
SAVE_ATTEMPTS = 20
# The sweep sets aside a revision Elasticsearch refused (until the next save gives it another).
REJECTED = "rejected"
# Kept from one revision to the next (re-encoded only when the text changes).
CARRIED = ("vectors", "vectors_key")


class SaveConflict(RuntimeError):
    """Concurrent saves of one document kept winning; the caller's event is retried."""


class VersionRepository:
    """Article versions (services/search/versions.py): ``article_versions``, one document per
    version, ``_id`` = ``<article id>@<number>`` so two saves can never take one number."""

    db = None  # the service database (SearchRepository's)

    def ensure_version_indexes(self) -> None:
        versions = self.db.article_versions
        versions.create_index([("article_id", ASCENDING), ("number", ASCENDING)], unique=True)
        # The publishing timer's query: scheduled versions by due time.
        versions.create_index([("status", ASCENDING), ("publish_at", ASCENDING)])
        self.db.articles.create_index([("from_answer", ASCENDING)])

    def add_version(self, article_id: str, make) -> dict:
        """Insert ``make(number)`` under the next free number for the article."""
        for _ in range(SAVE_ATTEMPTS):
            last = self.db.article_versions.find_one(
                {"article_id": article_id}, projection={"number": 1}, sort=[("number", -1)])
            version = make((last["number"] if last else 0) + 1)
            try:
                self.db.article_versions.insert_one(version)
                return version
            except DuplicateKeyError:
                continue  # another edit took that number: take the next one
        raise SaveConflict(f"article_versions/{article_id}: {SAVE_ATTEMPTS} concurrent edits won")

    def version(self, article_id: str, number: int) -> dict | None:
        return self.db.article_versions.find_one({"article_id": article_id, "number": number})

    def versions(self, article_id: str) -> list[dict]:
        return list(self.db.article_versions.find({"article_id": article_id})
                    .sort("number", -1))

    def decide_version(self, article_id: str, number: int, expected: tuple[str, ...],
                       changes: dict) -> bool:
        """Set ``changes`` if the version is still in one of the ``expected`` statuses (two
        editors, or two timer replicas, never both decide)."""
        return self.db.article_versions.update_one(
            {"article_id": article_id, "number": number, "status": {"$in": list(expected)}},
            {"$set": changes}).modified_count == 1

    def due_versions(self, now: datetime, limit: int = 100) -> list[dict]:
        return list(self.db.article_versions.find(
            {"status": SCHEDULED, "publish_at": {"$lte": now}}).sort("publish_at", 1)
            .limit(limit))

    def article_from_answer(self, answer_id: str) -> dict | None:
        return self.db.articles.find_one({"from_answer": answer_id}, projection={"_id": 1})


class SearchRepository(Repository, VersionRepository):
    def ensure_indexes(self) -> None:
        for collection in COLLECTIONS.values():
            self.db[collection].create_index([("indexed", ASCENDING)])
            self.db[collection].create_index([("saved_at", ASCENDING)])
            self.db[collection].create_index([("changed_at", ASCENDING)])
        self.db.articles.create_index([("translation_of", ASCENDING)])
        self.db.tickets.create_index([("answer_ref", ASCENDING)])
        self.db.tickets.create_index([("number", ASCENDING)])
        self.db.feedback.create_index([("result_id", ASCENDING)])
        self.ensure_version_indexes()

    def _save(self, collection: str, doc: dict, now: datetime, newer_than: str | None = None
              ) -> bool:
        """Replace ``doc`` with the next revision number, pending for the index.  With
        ``newer_than`` (a field name) a stored copy whose field is later is kept instead
        (returns False).  Optimistic: the replace only matches the revision just read."""
        records = self.db[collection]
        projection = {"rev": 1, **{name: 1 for name in CARRIED}}
        if newer_than:
            projection[newer_than] = 1
        for _ in range(SAVE_ATTEMPTS):
            current = records.find_one({"_id": doc["_id"]}, projection=projection)
            if current is None:
                try:
                    records.insert_one(dict(doc, indexed=False, rev=1, saved_at=now))
                    return True
                except DuplicateKeyError:
                    continue  # a first save raced this one: compare with what it wrote
            if newer_than and _later(current.get(newer_than), doc[newer_than]):
                return False  # we hold a newer view already
            rev = current.get("rev")
            following = revision(current) + 1  # (0: before counters)
            unchanged = {"_id": doc["_id"], "rev": rev}
            if newer_than:
                unchanged[newer_than] = {"$lte": doc[newer_than]}  # a newer view racing in
            # Vectors stay with the copy; the sweep re-encodes them if the text changed.
            carried = {name: current[name] for name in CARRIED if name in current}
            if records.replace_one(unchanged, dict(carried, **doc, indexed=False, rev=following,
                                                   saved_at=now)).matched_count:
                return True
            # Lost a race: the next read tells a newer view (above) from a newer revision.
        if newer_than and records.count_documents(
                {"_id": doc["_id"], newer_than: {"$gt": doc[newer_than]}}, limit=1):
            return False  # the last race was lost to a newer view (or not dates: Mongo says)
        raise SaveConflict(f"{collection}/{doc['_id']}: {SAVE_ATTEMPTS} concurrent saves won")

    # ------------------------------------------------------------------ articles

    def insert_article(self, article: dict, now: datetime) -> bool:
        try:
            self.db.articles.insert_one(dict(article, indexed=False, rev=1, saved_at=now))
        except DuplicateKeyError:
            return False
        return True

    def save_article(self, article: dict, now: datetime) -> None:
        self._save("articles", article, now)

    def article(self, article_id: str) -> dict | None:
        return self.db.articles.find_one({"_id": article_id}, projection=_PRIVATE)

    def articles(self, filters: dict) -> list[dict]:
        return list(self.db.articles.find(filters, projection=_PRIVATE).sort("_id"))

    def translations(self, article_id: str) -> list[dict]:
        return list(self.db.articles.find({"translation_of": article_id},
                                          projection={"_id": 1, "language": 1, "published": 1})
                    .sort("_id"))

    # ------------------------------------------------------------------ tickets

    def save_ticket(self, doc: dict, now: datetime) -> bool:
        """Keep the newest state only: events arrive in any order, so an older ``updated_at``
        never replaces a newer one (an equal one is saved again).  Routing's assignment may be
        newer than the state (intake records it later): it is applied again afterwards."""
        saved = self._save("tickets", doc, now, newer_than="updated_at")
        self._assign_copies([doc["_id"]], now)
        return saved

    def save_tickets(self, docs: list[dict], now: datetime, first_sight: bool = False) -> None:
        """``save_ticket`` for a batch of events: copies not stored yet (new tickets) go in
        one insert and one read finds routing's assignments for all; a copy already stored
        (or whose first save another one raced) is saved on its own, as ``save_ticket`` does.
        ``first_sight``: the tickets are most likely new (their creation), so no read first
        finds which copies exist: the insert's duplicate key errors tell."""
        newest: dict[str, dict] = {}
        for doc in docs:  # several views of one ticket in a batch: the newest counts
            kept = newest.get(doc["_id"])
            if kept is None or not _later(kept["updated_at"], doc["updated_at"]):
                newest[doc["_id"]] = doc
        stored = set() if first_sight else {
            c["_id"] for c in self.db.tickets.find({"_id": {"$in": list(newest)}},
                                                   projection={"_id": 1})}
        again = [doc for ticket_id, doc in newest.items() if ticket_id in stored]
        first = [dict(doc, indexed=False, rev=1, saved_at=now)
                 for ticket_id, doc in newest.items() if ticket_id not in stored]
        if first:
            again += [newest[first[i]["_id"]] for i in insert_new(self.db.tickets, first)]
        for doc in again:
            self._save("tickets", doc, now, newer_than="updated_at")
        self._assign_copies(list(newest), now)

    def _assign_copies(self, ticket_ids: list[str], now: datetime) -> None:
        self._show_assignments({a["_id"]: a for a in self.db.assignments.find(
            {"_id": {"$in": ticket_ids}})}, now)

    def save_assignments(self, assignments: list[dict], now: datetime) -> None:
        """Routing's latest assignment of each ticket (``ticket_id``, ``agent_id``,
        ``assigned_at``: a ``ticket_assigned`` event's data), kept on its own too: a ticket's
        copy may not be saved yet (its event can come later), and the save applies it then.
        Of several assignments of one ticket the latest counts.  One write to
        ``assignments`` and one to the copies, however many there are."""
        latest: dict[str, dict] = {}
        for given in assignments:
            kept = latest.get(given["ticket_id"])
            if kept is None or _later(given["assigned_at"], kept["assigned_at"]):
                latest[given["ticket_id"]] = {"agent_id": given["agent_id"],
                                              "assigned_at": given["assigned_at"]}
        if not latest:
            return
        try:  # each upserted over an older assignment, or none
            self.db.assignments.bulk_write([UpdateOne(
                {"_id": ticket_id, "assigned_at": {"$not": {"$gte": a["assigned_at"]}}},
                {"$set": a}, upsert=True) for ticket_id, a in latest.items()], ordered=False)
        except BulkWriteError as exc:
            # A duplicate key: the condition failed on a later assignment, kept already.
            duplicates_only(exc)
        self._show_assignments(latest, now)

    def _show_assignments(self, assignments: dict[str, dict], now: datetime) -> None:
        """Each ticket's copy (by id) shows its assignment (``agent_id``, ``assigned_at``)
        unless intake's state of the ticket is newer than it and names an assignee (intake
        records routing's assignments, so that one is newer).  A copy not saved yet matches
        nothing: the save does this again.  One write for all."""
        if not assignments:
            return
        # The ``$or`` inside an ``$and`` with the _id: at the top level the wire server would
        # plan its branches on their own, each a scan of the collection.
        self.db.tickets.bulk_write([UpdateOne(
            {"$and": [{"_id": ticket_id, "assignee_id": {"$ne": a["agent_id"]}},
                      {"$or": [{"assignee_id": None},
                               {"updated_at": {"$lte": a["assigned_at"]}}]}]},
            {"$set": {"assignee_id": a["agent_id"], "indexed": False, "saved_at": now},
             "$inc": {"rev": 1}}) for ticket_id, a in assignments.items()], ordered=False)

    def suggested_id(self, kind: str, result_id: str) -> str | None:
        """The id feedback on a suggestion counts under: a published article or approved answer,
        or a ticket (only its owner and staff are suggested one); None when none exists."""
        published = {"_id": result_id, "published": True}
        collection, query = {"article": ("articles", published), "answer": ("answers", published),
                             "ticket": ("tickets", {"_id": result_id})}[kind]
        found = self.db[collection].find_one(query, projection={"_id": 1})
        return found["_id"] if found else None

    def ticket(self, ticket_id: str) -> dict | None:
        return self.db.tickets.find_one({"_id": ticket_id}, projection=_PRIVATE)

    def ticket_by_number(self, number: int) -> dict | None:
        return self.db.tickets.find_one({"number": number}, projection=_PRIVATE)

    # ------------------------------------------------------------------ approved answers

    def save_answer(self, answer: dict, now: datetime) -> None:
        self._save("answers", answer, now)

    def answer(self, answer_id: str) -> dict | None:
        return self.db.answers.find_one({"_id": answer_id}, projection=_PRIVATE)

    # ------------------------------------------------------------------ index bookkeeping

    def unindexed(self, kind: str, limit: int) -> list[dict]:
        return list(self.db[COLLECTIONS[kind]].find({"indexed": False}).limit(limit))

    def mark_indexed(self, kind: str, revisions: list[tuple[str, int]]) -> None:
        """Only the revision that was sent: a newer save stays pending for the next sweep."""
        if revisions:
            changed = datetime.now(timezone.utc)  # wall clock: every replica reads it
            self.db[COLLECTIONS[kind]].bulk_write(
                [UpdateOne({"_id": i, "rev": rev},
                           {"$set": {"indexed": True, "changed_at": changed}})
                 for i, rev in revisions], ordered=False)

    def set_vectors(self, kind: str, encoded: list[tuple[str, bytes, str]]) -> None:
        """``(id, packed vectors, key of the text they encode)``, whatever revision is stored
        now: the key tells the next sweep whether the text moved on since."""
        if encoded:
            changed = datetime.now(timezone.utc)
            self.db[COLLECTIONS[kind]].bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"vectors": blob, "vectors_key": key,
                                                 "changed_at": changed}})
                 for i, blob, key in encoded], ordered=False)

    def changed_since(self, kind: str, moment: datetime | None) -> Iterator[dict]:
        """Indexed (or re-encoded) since ``moment`` (None: all), for the in-memory vectors."""
        query = {"changed_at": {"$gte": moment}} if moment else {}
        return self.db[COLLECTIONS[kind]].find(query, projection={
            "indexed": 0, "index_error": 0, "conversation": 0}, batch_size=2000)

    def mark_rejected(self, kind: str, rejections: list[tuple[str, int, str]]) -> None:
        """Revisions Elasticsearch refused are set aside with the reason, so the sweep moves on
        to the others; the next save of the document makes a new revision to try."""
        if rejections:
            self.db[COLLECTIONS[kind]].bulk_write(
                [UpdateOne({"_id": i, "rev": rev},
                           {"$set": {"indexed": REJECTED, "index_error": error[:1000]},
                            "$inc": {"index_rejections": 1}})
                 for i, rev, error in rejections], ordered=False)

    def index_status(self, kind: str, sample: int = 5) -> dict:
        records = self.db[COLLECTIONS[kind]]
        rejected = list(records.find({"indexed": REJECTED},
                                     projection={"rev": 1, "index_error": 1, "saved_at": 1})
                        .sort("saved_at", -1).limit(sample))
        return {"pending": records.count_documents({"indexed": False}),
                "rejected": records.count_documents({"indexed": REJECTED}),
                "recent_rejections": [{"id": r["_id"], "rev": r["rev"],
                                       "error": r.get("index_error")} for r in rejected]}

    def mark_changed_since(self, kind: str, moment: datetime) -> int:
        """After a rebuild: whatever was saved while it ran goes through the sweep again."""
        return self.db[COLLECTIONS[kind]].update_many(
            {"saved_at": {"$gte": moment}}, {"$set": {"indexed": False}}).modified_count

    def count(self, kind: str) -> int:
        return self.db[COLLECTIONS[kind]].estimated_document_count()

    def everything(self, kind: str, batch_size: int = 2000) -> Iterator[dict]:
        return self.db[COLLECTIONS[kind]].find({}, batch_size=batch_size)

    # ------------------------------------------------------------------ feedback

    def record_feedback(self, entry: dict) -> None:
        self.db.feedback.insert_one(entry)

    def feedback_summary(self) -> list[dict]:
        return list(self.db.feedback.aggregate([
            {"$group": {"_id": {"kind": "$result_kind", "id": "$result_id"},
                        "solved": {"$sum": {"$cond": ["$solved", 1, 0]}},
                        "not_solved": {"$sum": {"$cond": ["$solved", 0, 1]}}}},
            {"$sort": {"solved": -1}}]))


def _later(stored, mine) -> bool:
    """Whether Mongo's ``{"$gt": mine}`` matches ``stored``, for dates, as BSON keeps them:
    whole milliseconds (truncated), UTC (a naive datetime counts as UTC).  Anything else is
    left to Mongo (False here)."""
    if not (isinstance(stored, datetime) and isinstance(mine, datetime)):
        return False
    return _as_bson(stored) > _as_bson(mine)


def _as_bson(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


_PRIVATE = {"indexed": 0, "rev": 0, "saved_at": 0, "index_error": 0, "index_rejections": 0,
            "vectors": 0, "vectors_key": 0, "changed_at": 0}
