"""The automation service's persistence: its copy of each ticket's timing state (indexed by
the rule it waits for and since when) and the admin's time rules."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING

from services.common.nameko_support import ServiceDatabase
from services.common.storage import Repository

from . import time_rules as tr


class StateChanged(Exception):
    """Another event or replica wrote the ticket's state first: read it again."""


class AutomationRepository(Repository):
    def ensure_indexes(self) -> None:
        # The sweep's range scan: per rule, the tickets waiting since before now - delay.
        # Sparse: tickets waiting for nothing (open, closed, taken) are not in it.
        self.db.ticket_states.create_index([("due_rule", ASCENDING), ("due_from", ASCENDING)],
                                           sparse=True)

    # ------------------------------------------------------------------ time rules

    def saved_rules(self) -> dict | None:
        return self.db.settings.find_one({"_id": "time_rules"}, projection={"_id": 0})

    def save_rules(self, payload: dict) -> None:
        self.db.settings.replace_one({"_id": "time_rules"}, payload, upsert=True)

    # ------------------------------------------------------------------ ticket states

    def state(self, ticket_id: str, session=None) -> tr.TicketState | None:
        return self.db.ticket_states.find_one({"_id": ticket_id}, session=session)

    def save_state(self, state: tr.TicketState, session=None) -> None:
        """Compare-and-set on the version read (0: not stored yet)."""
        expected = state.get("version", 0)
        doc = _stored(dict(state, version=expected + 1))
        if expected == 0:
            result = self.db.ticket_states.update_one(
                {"_id": state["_id"]}, {"$setOnInsert": doc}, upsert=True, session=session)
            if result.upserted_id is None:
                raise StateChanged(state["_id"])
            return
        result = self.db.ticket_states.replace_one({"_id": state["_id"], "version": expected},
                                                   doc, session=session)
        if result.matched_count != 1:
            raise StateChanged(state["_id"])

    def due(self, rule: tr.Rule, waiting_since_before: datetime, limit: int) -> list[dict]:
        return list(self.db.ticket_states.find(
            {"due_rule": rule, "due_from": {"$lte": waiting_since_before}})
            .sort("due_from", ASCENDING).limit(limit))


def _stored(state: dict) -> dict:
    """Nothing due: no due fields, so the sparse index skips the ticket."""
    return {k: v for k, v in state.items()
            if not (k in ("due_rule", "due_from") and v is None)}


class AutomationStore(ServiceDatabase):
    repository = AutomationRepository
