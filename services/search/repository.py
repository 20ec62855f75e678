"""Search's own records in Mongo: articles (their source of truth) and the public copy of
solved tickets, each flagged until Elasticsearch has it, so an outage loses nothing."""
from __future__ import annotations

from pymongo import ASCENDING

from services.common.storage import Repository


class SearchRepository(Repository):
    def ensure_indexes(self) -> None:
        self.db.articles.create_index([("indexed", ASCENDING)])
        self.db.solved_tickets.create_index([("indexed", ASCENDING)])

    def save_article(self, article: dict) -> None:
        self.db.articles.replace_one({"_id": article["_id"]}, dict(article, indexed=False),
                                     upsert=True)

    def article(self, article_id: str) -> dict | None:
        return self.db.articles.find_one({"_id": article_id}, projection={"indexed": 0})

    def articles(self, language: str | None = None) -> list[dict]:
        query = {"language": language} if language else {}
        return list(self.db.articles.find(query, projection={"indexed": 0}).sort("_id"))

    def save_solved_ticket(self, doc: dict, session) -> None:
        self.db.solved_tickets.replace_one({"_id": doc["_id"]}, dict(doc, indexed=False),
                                           upsert=True, session=session)

    def withdraw_ticket(self, ticket_id: str, session) -> None:
        """Reopened: no longer a resolution; remove from the index on the next sweep."""
        self.db.solved_tickets.update_one({"_id": ticket_id},
                                          {"$set": {"indexed": False, "withdrawn": True}},
                                          session=session)

    def unindexed(self, collection: str, limit: int) -> list[dict]:
        return list(self.db[collection].find({"indexed": False}).limit(limit))

    def mark_indexed(self, collection: str, ids: list[str], withdrawn: list[str] = ()) -> None:
        if ids:
            self.db[collection].update_many({"_id": {"$in": ids}}, {"$set": {"indexed": True}})
        if withdrawn:
            self.db[collection].delete_many({"_id": {"$in": list(withdrawn)}, "withdrawn": True})
