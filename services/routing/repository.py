"""Routing's persistence: departments, agents with their load, assignments, the waiting queue."""
from __future__ import annotations

from pymongo import ASCENDING

from services.common.storage import Repository


class RoutingRepository(Repository):
    def ensure_indexes(self) -> None:
        self.db.agents.create_index([("departments", ASCENDING), ("status", ASCENDING)])
        self.db.assignments.create_index("agent_id")
        self.db.queue.create_index([("department", ASCENDING), ("queued_at", ASCENDING)])

    def upsert_department(self, department: dict) -> None:
        self.db.departments.update_one({"_id": department["id"]}, {"$set": {
            "name": department["name"], "name_ru": department.get("name_ru")}}, upsert=True)

    def department_exists(self, department_id: str) -> bool:
        return self.db.departments.count_documents({"_id": department_id}, limit=1) == 1

    def departments(self) -> list[dict]:
        return list(self.db.departments.find().sort("_id"))

    def upsert_agent(self, agent: dict) -> dict:
        """Profile fields are replaced; the live load is kept (it is counted, not configured)."""
        fields = {k: v for k, v in agent.items() if k != "id"}
        return self.db.agents.find_one_and_update(
            {"_id": agent["id"]}, {"$set": fields, "$setOnInsert": {"load": 0}},
            upsert=True, return_document=True)

    def agents(self, department: str | None = None, session=None) -> list[dict]:
        query = {"departments": department} if department else {}
        return list(self.db.agents.find(query, session=session).sort("_id"))

    def take_slot(self, agent_id: str, now, session) -> dict | None:
        """Atomic: succeeds only while the agent is online and below capacity."""
        agent = self.db.agents.find_one({"_id": agent_id}, session=session)
        if agent is None:
            return None
        return self.db.agents.find_one_and_update(
            {"_id": agent_id, "status": "online", "load": {"$lt": agent["capacity"]},
             "capacity": agent["capacity"]},
            {"$inc": {"load": 1}, "$set": {"last_assigned_at": now}},
            session=session, return_document=True)

    def free_slot(self, agent_id: str, session) -> None:
        self.db.agents.update_one({"_id": agent_id, "load": {"$gt": 0}}, {"$inc": {"load": -1}},
                                  session=session)

    def active_assignment(self, ticket_id: str, session=None) -> dict | None:
        return self.db.assignments.find_one({"_id": ticket_id, "active": True}, session=session)

    def record_assignment(self, ticket_id: str, agent_id: str, department: str, now,
                          session) -> None:
        self.db.assignments.update_one({"_id": ticket_id}, {"$set": {
            "agent_id": agent_id, "department": department, "active": True,
            "assigned_at": now}}, upsert=True, session=session)
        self.db.assignment_log.insert_one({"ticket_id": ticket_id, "agent_id": agent_id,
                                           "action": "assigned", "at": now}, session=session)

    def end_assignment(self, ticket_id: str, now, session) -> dict | None:
        assignment = self.db.assignments.find_one_and_update(
            {"_id": ticket_id, "active": True}, {"$set": {"active": False}}, session=session)
        if assignment:
            self.db.assignment_log.insert_one({"ticket_id": ticket_id,
                                               "agent_id": assignment["agent_id"],
                                               "action": "released", "at": now}, session=session)
        return assignment

    def enqueue(self, ticket: dict, now, session) -> bool:
        result = self.db.queue.update_one({"_id": ticket["ticket_id"]}, {"$setOnInsert": {
            "number": ticket["number"], "department": ticket["department"],
            "priority": ticket["priority"], "preferred_agent_id": ticket.get("preferred_agent_id"),
            "queued_at": now}}, upsert=True, session=session)
        return result.upserted_id is not None

    def dequeue(self, ticket_id: str, session) -> None:
        self.db.queue.delete_one({"_id": ticket_id}, session=session)

    def queued(self, department: str, limit: int) -> list[dict]:
        return list(self.db.queue.find({"department": department})
                    .sort("queued_at", ASCENDING).limit(limit))
