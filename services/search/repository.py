"""Search's own records in Mongo: articles (their source of truth), the public copy of every
ticket, and suggestion feedback.  Each article/ticket copy carries a revision and stays flagged
until Elasticsearch has exactly that revision, so an outage (or an edit racing a sweep) loses
nothing."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Iterator

from pymongo import ASCENDING, UpdateOne
from pymongo.errors import DuplicateKeyError

from services.common.storage import Repository

COLLECTIONS = {"articles": "articles", "tickets": "tickets"}  # index kind -> collection


class SearchRepository(Repository):
    def ensure_indexes(self) -> None:
        for collection in COLLECTIONS.values():
            self.db[collection].create_index([("indexed", ASCENDING)])
            self.db[collection].create_index([("saved_at", ASCENDING)])
        self.db.articles.create_index([("translation_of", ASCENDING)])
        self.db.feedback.create_index([("result_id", ASCENDING)])

    @staticmethod
    def _revision(doc: dict, now: datetime) -> dict:
        return dict(doc, indexed=False, rev=uuid.uuid4().hex, saved_at=now)

    # ------------------------------------------------------------------ articles

    def insert_article(self, article: dict, now: datetime) -> bool:
        try:
            self.db.articles.insert_one(self._revision(article, now))
        except DuplicateKeyError:
            return False
        return True

    def save_article(self, article: dict, now: datetime) -> None:
        self.db.articles.replace_one({"_id": article["_id"]}, self._revision(article, now),
                                     upsert=True)

    def article(self, article_id: str) -> dict | None:
        return self.db.articles.find_one({"_id": article_id}, projection=_PRIVATE)

    def articles(self, filters: dict) -> list[dict]:
        return list(self.db.articles.find(filters, projection=_PRIVATE).sort("_id"))

    def translations(self, article_id: str) -> list[dict]:
        return list(self.db.articles.find({"translation_of": article_id},
                                          projection={"_id": 1, "language": 1}).sort("_id"))

    # ------------------------------------------------------------------ tickets

    def save_ticket(self, doc: dict, now: datetime) -> bool:
        """Keep the newest view only: events arrive in any order and fetches can race, so an
        older ``updated_at`` never replaces a newer one."""
        new = self._revision(doc, now)
        if self.db.tickets.replace_one({"_id": doc["_id"], "updated_at": {"$lte": doc["updated_at"]}},
                                       new).matched_count:
            return True
        try:
            self.db.tickets.insert_one(new)
        except DuplicateKeyError:
            return False  # we hold a newer view already
        return True

    # ------------------------------------------------------------------ index bookkeeping

    def unindexed(self, kind: str, limit: int) -> list[dict]:
        return list(self.db[COLLECTIONS[kind]].find({"indexed": False}).limit(limit))

    def mark_indexed(self, kind: str, revisions: list[tuple[str, str]]) -> None:
        """Only the revision that was sent: a newer save stays pending for the next sweep."""
        if revisions:
            self.db[COLLECTIONS[kind]].bulk_write(
                [UpdateOne({"_id": i, "rev": rev}, {"$set": {"indexed": True}})
                 for i, rev in revisions], ordered=False)

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


_PRIVATE = {"indexed": 0, "rev": 0, "saved_at": 0}
