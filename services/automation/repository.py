"""The automation service's persistence: its copy of each ticket's timing state (indexed by
the rule it waits for and since when) and the admin's time rules."""
from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING, ReplaceOne, UpdateOne
from pymongo.errors import DuplicateKeyError

from services.common.nameko_support import ServiceDatabase
from services.common.storage import Repository, insert_new

from . import time_rules as tr

# Triggers and webhook subscriptions are read on every ticket event and change only by an
# admin's hand: the event handlers use reads kept per process (Repository.recent_setting), the
# admin's RPCs read afresh.


class StateChanged(Exception):
    """Another event or replica wrote the ticket's state first: read it again."""


class AutomationRepository(Repository):
    def ensure_indexes(self) -> None:
        # The sweep's range scan: per rule, the tickets waiting since before now - delay.
        # Sparse: tickets waiting for nothing (open, closed, taken) are not in it.
        self.db.ticket_states.create_index([("due_rule", ASCENDING), ("due_from", ASCENDING)],
                                           sparse=True)
        # Deliveries to attempt: pending ones by when; the dead-letter list by status.
        self.db.deliveries.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
        self.db.webhooks.create_index("events")

    # ------------------------------------------------------------------ time rules

    def saved_rules(self) -> dict | None:
        return self.db.settings.find_one({"_id": "time_rules"}, projection={"_id": 0})

    def save_rules(self, payload: dict) -> None:
        self.db.settings.replace_one({"_id": "time_rules"}, payload, upsert=True)

    # ------------------------------------------------------------------ ticket states

    def state(self, ticket_id: str, session=None) -> tr.TicketState | None:
        return self.db.ticket_states.find_one({"_id": ticket_id}, session=session)

    def states(self, ticket_ids: list[str]) -> dict[str, tr.TicketState]:
        """These tickets' stored states by ticket id, in one read."""
        return {s["_id"]: s for s in self.db.ticket_states.find({"_id": {"$in": ticket_ids}})}

    def save_state(self, state: tr.TicketState, session=None) -> None:
        """Compare-and-set on the version read (0: not stored yet)."""
        if not self.save_states([state], session):
            raise StateChanged(state["_id"])

    def save_states(self, states: list[tr.TicketState], session=None) -> bool:
        """``save_state`` for many, in one unordered write; False when some were refused
        (another writer stored or changed the ticket's state first), which the write's answer
        does not say."""
        if not states:
            return True
        result = self.db.ticket_states.bulk_write([_compare_and_set(s) for s in states],
                                                  ordered=False, session=session)
        return result.upserted_count + result.modified_count == len(states)

    def start_states(self, states: list[tr.TicketState]) -> list[int]:
        """New tickets' first states, in one write; the positions of those refused (a later
        event, or a redelivery, stored the ticket's state first)."""
        return insert_new(self.db.ticket_states, [_stored(dict(s, version=1)) for s in states])

    def due(self, rule: tr.Rule, waiting_since_before: datetime, limit: int) -> list[dict]:
        return list(self.db.ticket_states.find(
            {"due_rule": rule, "due_from": {"$lte": waiting_since_before}})
            .sort("due_from", ASCENDING).limit(limit))


    # ------------------------------------------------------------------ webhooks

    def upsert_webhook(self, webhook: dict) -> None:
        self.db.webhooks.replace_one({"_id": webhook["_id"]}, webhook, upsert=True)
        self.settings_changed()

    def webhooks(self) -> list[dict]:
        return list(self.db.webhooks.find().sort("_id", ASCENDING))

    def webhook(self, webhook_id: str) -> dict | None:
        return self.db.webhooks.find_one({"_id": webhook_id})

    def delete_webhook(self, webhook_id: str) -> bool:
        return self.settings_changed(
            self.db.webhooks.delete_one({"_id": webhook_id}).deleted_count == 1)

    def subscribed(self, event_type: str) -> list[dict]:
        """Read per ticket event: as read within the last SETTINGS_TTL in this process."""
        return self.recent_setting(("subscribed", event_type), lambda: list(
            self.db.webhooks.find({"events": event_type, "active": True})))

    def enqueue(self, deliveries: list[dict], session) -> None:
        if deliveries:
            self.db.deliveries.insert_many(deliveries, session=session)

    def due_deliveries(self, now: datetime, limit: int) -> list[dict]:
        return list(self.db.deliveries.find({"status": "pending",
                                             "next_attempt_at": {"$lte": now}})
                    .sort("next_attempt_at", ASCENDING).limit(limit))

    def claim_delivery(self, delivery: dict, hold_until: datetime) -> bool:
        """Take a due delivery for one attempt (of several replicas, one wins); a worker that
        dies mid-attempt leaves it due again at ``hold_until``."""
        return self.db.deliveries.update_one(
            {"_id": delivery["_id"], "status": "pending", "attempts": delivery["attempts"],
             "next_attempt_at": delivery["next_attempt_at"]},
            {"$set": {"next_attempt_at": hold_until}}).modified_count == 1

    def record_attempt(self, delivery_id: str, changes: dict) -> None:
        self.db.deliveries.update_one({"_id": delivery_id}, {"$set": changes})

    def deliveries(self, status: str, limit: int) -> list[dict]:
        return list(self.db.deliveries.find({"status": status}, projection={"body": 0})
                    .sort("next_attempt_at", ASCENDING).limit(limit))

    def dead_letter(self, delivery_id: str) -> dict | None:
        return self.db.deliveries.find_one({"_id": delivery_id, "status": "dead"})

    def replay(self, delivery_id: str, changes: dict) -> bool:
        return self.db.deliveries.update_one({"_id": delivery_id, "status": "dead"},
                                             {"$set": changes}).modified_count == 1


    # ------------------------------------------------------------------ triggers

    def upsert_trigger(self, trigger: dict) -> None:
        self.db.triggers.replace_one({"_id": trigger["_id"]}, trigger, upsert=True)
        self.settings_changed()

    def triggers(self) -> list[dict]:
        return list(self.db.triggers.find().sort([("position", ASCENDING), ("_id", ASCENDING)]))

    def recent_triggers(self) -> list[dict]:
        """``triggers`` as read within the last SETTINGS_TTL in this process."""
        return self.recent_setting("triggers", self.triggers)

    def delete_trigger(self, trigger_id: str) -> bool:
        return self.settings_changed(
            self.db.triggers.delete_one({"_id": trigger_id}).deleted_count == 1)

    def claim_firing(self, trigger_id: str, event_id: str) -> bool:
        """At most once per (trigger, event): the marker is written before the actions run."""
        try:
            self.db.processed_events.insert_one({"_id": f"trigger:{trigger_id}:{event_id}"})
        except DuplicateKeyError:
            return False
        return True

    def save_mark(self, ticket_id: str, trigger_id: str, edit: dict, at: datetime) -> None:
        """The loop guard's memory: the last edit this trigger made to this ticket."""
        self.db.trigger_marks.replace_one({"_id": f"{ticket_id}:{trigger_id}"},
                                          {"edit": edit, "at": at}, upsert=True)

    def mark(self, ticket_id: str, trigger_id: str) -> dict | None:
        return self.db.trigger_marks.find_one({"_id": f"{ticket_id}:{trigger_id}"})


def _compare_and_set(state: tr.TicketState) -> UpdateOne | ReplaceOne:
    """The write of a state over the version it was read at: inserted if none is stored yet
    (version 0; a state stored meanwhile is left as it is), else in place of that version
    (another one stored meanwhile is not matched).  Either way a refused write modifies
    nothing."""
    expected = state.get("version", 0)
    doc = _stored(dict(state, version=expected + 1))
    if expected == 0:
        return UpdateOne({"_id": state["_id"]}, {"$setOnInsert": doc}, upsert=True)
    return ReplaceOne({"_id": state["_id"], "version": expected}, doc)


def _stored(state: dict) -> dict:
    """Nothing due: no due fields, so the sparse index skips the ticket."""
    return {k: v for k, v in state.items()
            if not (k in ("due_rule", "due_from") and v is None)}


class AutomationStore(ServiceDatabase):
    repository = AutomationRepository
