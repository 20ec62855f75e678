"""Search's records of the knowledge loop: suggest visits (the deflection funnel and the
questions left unanswered), draft articles made from gap groups, and the stored links from
solved tickets to the article that now covers them."""
from __future__ import annotations

from datetime import datetime
from typing import Iterator

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from services.common.nameko_support import ServiceDatabase
from services.common.storage import Repository

from . import funnel
from .domain import ANSWERED


class GapRepository(Repository):
    def ensure_indexes(self) -> None:
        self.db.suggest_sessions.create_index([("started_at", ASCENDING)])
        self.db.suggest_sessions.create_index([("abstained", ASCENDING),
                                               ("last_at", DESCENDING)])
        self.db.ticket_articles.create_index([("article_id", ASCENDING)])
        self.db.gap_drafts.create_index([("linked", ASCENDING)])
        self.db.tickets.create_index([("status", ASCENDING), ("solved_at", DESCENDING)])
        self.db.answers.create_index([("ticket_id", ASCENDING)])

    # ------------------------------------------------------------------ the funnel

    def record_question(self, session: str, language: str | None, question: str,
                        shown: list[str], vector: bytes | None, now: datetime) -> None:
        query, update = funnel.question_update(session, language, question, shown, vector, now)
        try:
            self.db.suggest_sessions.update_one(query, update, upsert=True)
        except DuplicateKeyError:  # the first two calls of a visit raced: the record exists
            self.db.suggest_sessions.update_one(query, update)

    def record_step(self, session: str, step: str, key: str) -> bool:
        return bool(self.db.suggest_sessions.update_one(
            *funnel.step_update(session, step, key)).matched_count)

    def record_filed(self, session: str, number: int, now: datetime) -> bool:
        return bool(self.db.suggest_sessions.update_one(
            *funnel.filed_update(session, number, now)).modified_count)

    def funnel(self, since: datetime, until: datetime, language: str | None) -> dict:
        sessions = self.db.suggest_sessions
        report = funnel.summary(list(sessions.aggregate(
            funnel.funnel_pipeline(since, until, language))))
        report["results"] = [dict(r, result=r.pop("_id")) for r in sessions.aggregate(
            funnel.article_pipeline(since, until, language))]
        query = {"started_at": {"$gte": since, "$lt": until}}
        if language:
            query["language"] = language
        report["failing"] = funnel.failing(list(sessions.find(query, projection={
            "question": 1, "language": 1, "abstained": 1, "not_helped": 1, "filed_at": 1})))
        return report

    # ------------------------------------------------------------------ gaps

    def unanswered_questions(self, since: datetime, limit: int) -> Iterator[dict]:
        """Visits whose last question got no confident suggestion and no draft covers yet."""
        return self.db.suggest_sessions.find(
            {"abstained": True, "last_at": {"$gte": since}, "covered_by": None,
             "vector": {"$ne": None}},
            projection={"question": 1, "language": 1, "last_at": 1, "vector": 1}
        ).sort("last_at", DESCENDING).limit(limit)

    def uncovered_tickets(self, since: datetime, limit: int, chunk: int = 500) -> list[dict]:
        """The newest solved tickets with an answer and vectors that no article is linked to
        (read in chunks by the ``status, solved_at`` index, links looked up per chunk)."""
        found = self.db.tickets.find(
            {"status": {"$in": list(ANSWERED)}, "solved_at": {"$gte": since},
             "resolution": {"$exists": True}, "vectors": {"$exists": True}},
            projection={"title": 1, "language": 1, "solved_at": 1, "vectors": 1, "number": 1},
            batch_size=chunk).sort("solved_at", DESCENDING)
        out: list[dict] = []
        while len(out) < limit:
            batch = [t for _, t in zip(range(chunk), found)]
            linked = self.linked_tickets([t["_id"] for t in batch])
            out += [t for t in batch if t["_id"] not in linked]
            if len(batch) < chunk:
                break
        return out[:limit]

    def tickets(self, numbers: list[int]) -> list[dict]:
        return list(self.db.tickets.find({"number": {"$in": numbers}}, projection={
            "title": 1, "resolution": 1, "language": 1, "status": 1, "number": 1,
            "vectors": 1}))

    def approved_answers(self, ticket_ids: list[str]) -> dict[str, dict]:
        return {a["ticket_id"]: a for a in self.db.answers.find(
            {"ticket_id": {"$in": ticket_ids}, "published": True},
            projection={"ticket_id": 1, "body": 1})}

    def questions(self, sessions: list[str]) -> list[dict]:
        return list(self.db.suggest_sessions.find({"_id": {"$in": sessions}},
                                                  projection={"question": 1, "language": 1}))

    def linked_tickets(self, ticket_ids: list[str]) -> set[str]:
        return {r["_id"] for r in self.db.ticket_articles.find(
            {"_id": {"$in": ticket_ids}}, projection={"_id": 1})}

    # ------------------------------------------------------------------ drafts and links

    def save_draft(self, key: str, article_ids: list[str], ticket_ids: list[str],
                   sessions: list[str], actor_id: str, now: datetime) -> None:
        self.db.gap_drafts.update_one({"_id": key}, {
            "$setOnInsert": {"articles": article_ids, "tickets": ticket_ids,
                             "questions": sessions, "created_by": actor_id, "created_at": now,
                             "linked": False}}, upsert=True)

    def drafts_to_link(self) -> list[dict]:
        return list(self.db.gap_drafts.find({"linked": False}))

    def link(self, draft: dict, article_id: str, now: datetime) -> None:
        """The draft's tickets (and questions) are covered by ``article_id`` from now on;
        repeating it changes nothing (a ticket linked before keeps its first article)."""
        for ticket_id in draft["tickets"]:
            self.db.ticket_articles.update_one(
                {"_id": ticket_id},
                {"$setOnInsert": {"article_id": article_id, "linked_at": now,
                                  "draft": draft["_id"]}}, upsert=True)
        if draft["questions"]:
            self.db.suggest_sessions.update_many({"_id": {"$in": draft["questions"]}},
                                                 {"$set": {"covered_by": article_id}})
        self.db.gap_drafts.update_one({"_id": draft["_id"]},
                                      {"$set": {"linked": True, "linked_to": article_id,
                                                "linked_at": now}})

    def published(self, article_ids: list[str]) -> list[str]:
        return [a["_id"] for a in self.db.articles.find(
            {"_id": {"$in": article_ids}, "published": True}, projection={"_id": 1})
            .sort("_id")]


class GapStore(ServiceDatabase):
    repository = GapRepository
