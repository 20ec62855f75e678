"""Intake's persistence: tickets (with their thread) and the ticket-number counter."""
from __future__ import annotations

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.common.storage import Repository

from . import reports

FIRST_TICKET_NUMBER = 1000


class TicketRepository(Repository):
    @property
    def tickets(self):
        return self.db.tickets

    def ensure_indexes(self) -> None:
        self.tickets.create_index("number", unique=True)
        # Sparse: only tickets filed with a key take part in the uniqueness check.
        self.tickets.create_index("idempotency_key", unique=True, sparse=True)
        self.tickets.create_index([("assignee_id", ASCENDING), ("status", ASCENDING)])
        self.tickets.create_index([("requester_id", ASCENDING), ("created_at", DESCENDING)])
        self.tickets.create_index([("department", ASCENDING), ("status", ASCENDING)])
        self.tickets.create_index("created_at")
        # Create the counter before first use: racing upserts on a missing document can
        # return None on the wire server.
        try:
            self.db.counters.insert_one({"_id": "ticket_number", "value": FIRST_TICKET_NUMBER - 1})
        except DuplicateKeyError:
            pass

    def next_number(self) -> int:
        # Outside the creating transaction on purpose: a shared counter inside every
        # transaction would serialise all intake.  A failed create leaves a gap, not a clash.
        doc = self.db.counters.find_one_and_update(
            {"_id": "ticket_number"}, {"$inc": {"value": 1}}, return_document=ReturnDocument.AFTER)
        return doc["value"]

    def insert(self, ticket: dict, session) -> None:
        if ticket.get("idempotency_key") is None:
            ticket = {k: v for k, v in ticket.items() if k != "idempotency_key"}
        self.tickets.insert_one(ticket, session=session)

    def by_idempotency_key(self, key: str) -> dict | None:
        return self.tickets.find_one({"idempotency_key": key})

    def by_number(self, number: int, session=None) -> dict | None:
        return self.tickets.find_one({"number": number}, session=session)

    def by_id(self, ticket_id: str, session=None) -> dict | None:
        return self.tickets.find_one({"_id": ticket_id}, session=session)

    def update(self, ticket_id: str, changes: dict, session, expected_status: str | None = None,
               push: dict | None = None) -> bool:
        """Conditional update: with ``expected_status`` it fails if someone moved it first."""
        query = {"_id": ticket_id}
        if expected_status is not None:
            query["status"] = expected_status
        update = {"$set": changes}
        if push:
            update["$push"] = push
        return self.tickets.update_one(query, update, session=session).matched_count == 1

    def find(self, filters: dict, page: int, per_page: int) -> tuple[list[dict], int]:
        total = self.tickets.count_documents(filters)
        cursor = (self.tickets.find(filters, projection={"messages": 0})
                  .sort("number", DESCENDING).skip((page - 1) * per_page).limit(per_page))
        return list(cursor), total

    def report(self, since, until, department: str | None, now) -> dict:
        period = next(self.tickets.aggregate(reports.period_pipeline(since, until, department)))
        current = list(self.tickets.aggregate(reports.current_pipeline(now, department)))
        return reports.shape(period, current)
