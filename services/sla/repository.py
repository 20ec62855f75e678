"""SLA's persistence: policies and one clock per ticket, indexed by its next deadline."""
from __future__ import annotations

from pymongo import ASCENDING

from services.common.storage import Repository

from . import domain


class SlaRepository(Repository):
    def ensure_indexes(self) -> None:
        # The deadline sweep reads only clocks that are due: cost follows due, not open tickets.
        self.db.clocks.create_index([("next_due", ASCENDING)], sparse=True)
        self.db.policies.create_index("priority")

    def upsert_policy(self, policy: dict) -> None:
        self.db.policies.update_one({"_id": policy["id"]}, {"$set": {
            "name": policy["name"], "priority": policy["priority"],
            "targets": policy["targets"]}}, upsert=True)

    def policies(self) -> list[dict]:
        return list(self.db.policies.find().sort("_id"))

    def policy_for(self, priority: str) -> dict:
        found = self.db.policies.find_one({"priority": priority})
        return found or {"_id": f"default-{priority}",
                         "targets": domain.DEFAULT_POLICIES[priority]}

    def insert_clock(self, clock: dict, session) -> bool:
        result = self.db.clocks.update_one({"_id": clock["_id"]}, {"$setOnInsert": clock},
                                           upsert=True, session=session)
        return result.upserted_id is not None

    def clock(self, ticket_id: str, session=None) -> dict | None:
        return self.db.clocks.find_one({"_id": ticket_id}, session=session)

    def save_progress(self, clock: dict, session) -> None:
        self.db.clocks.update_one({"_id": clock["_id"]}, {"$set": {
            "met": clock["met"], "breached": clock["breached"],
            "next_due": domain.next_due(clock)}}, session=session)

    def due_clocks(self, now, limit: int) -> list[dict]:
        return list(self.db.clocks.find({"next_due": {"$lte": now}})
                    .sort("next_due", ASCENDING).limit(limit))

    def mark_breached(self, clock: dict, target: str, session) -> bool:
        """Atomic: only the first replica to see a breach records (and announces) it."""
        updated = dict(clock, breached=clock["breached"] + [target])
        result = self.db.clocks.update_one(
            {"_id": clock["_id"], "breached": {"$ne": target}},
            {"$push": {"breached": target}, "$set": {"next_due": domain.next_due(updated)}},
            session=session)
        return result.modified_count == 1
