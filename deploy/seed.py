"""Demo data, loaded through the services' own RPC (and the portal's user store), so every
rule that guards real input guards this too.  Safe to run repeatedly."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from argon2 import PasswordHasher
from nameko.standalone.rpc import ClusterRpcProxy

from services.portal.dependencies import nameko_config, user_repository

DEMO_PASSWORD = "demo-pass-1"

DEPARTMENTS = [
    {"id": "general", "name": "General questions", "name_ru": "Общие вопросы"},
    {"id": "billing", "name": "Billing", "name_ru": "Оплата"},
    {"id": "technical", "name": "Technical support", "name_ru": "Техническая поддержка"},
]
AGENTS = [
    {"id": "agent-anna", "name": "Anna Petrova", "email": "agent.anna@example.com",
     "departments": ["technical", "general"], "languages": ["ru", "en"], "capacity": 10},
    {"id": "agent-boris", "name": "Boris Ivanov", "email": "agent.boris@example.com",
     "departments": ["technical"], "languages": ["ru"], "capacity": 8},
    {"id": "agent-clara", "name": "Clara Jones", "email": "agent.clara@example.com",
     "departments": ["billing", "general"], "languages": ["en"], "capacity": 10},
]
PEOPLE = [
    {"id": "supervisor-sam", "name": "Sam Supervisor", "email": "supervisor@example.com",
     "role": "supervisor"},
    {"id": "admin-ada", "name": "Ada Admin", "email": "admin@example.com", "role": "admin"},
    {"id": "customer-carl", "name": "Carl Customer", "email": "customer@example.com",
     "role": "customer"},
]
POLICIES = [
    {"id": "urgent", "name": "Urgent", "priority": "urgent",
     "targets": {"first_response": 30, "resolution": 240}},
    {"id": "high", "name": "High", "priority": "high",
     "targets": {"first_response": 60, "resolution": 480}},
    {"id": "normal", "name": "Normal", "priority": "normal",
     "targets": {"first_response": 240, "resolution": 1440}},
    {"id": "low", "name": "Low", "priority": "low",
     "targets": {"first_response": 480, "resolution": 4320}},
]


def _check(result: dict, what: str) -> None:
    if not result.get("ok"):
        sys.exit(f"seeding {what} failed: {result.get('errors')}")


def main() -> None:
    users = user_repository()
    password = PasswordHasher().hash(os.environ.get("HELPDESK_DEMO_PASSWORD", DEMO_PASSWORD))
    for person in [dict(a, role="agent") for a in AGENTS] + PEOPLE:
        if users.by_email(person["email"]) is None:
            users.create(email=person["email"], name=person["name"], role=person["role"],
                         password_hash=password, user_id=person["id"])
    articles = json.loads((Path(__file__).parent / "demo" / "articles.json").read_text("utf-8"))
    with ClusterRpcProxy(nameko_config(), timeout=30) as rpc:
        for department in DEPARTMENTS:
            _check(rpc.routing.upsert_department(department), f"department {department['id']}")
        for agent in AGENTS:
            _check(rpc.routing.upsert_agent(agent), f"agent {agent['id']}")
        for policy in POLICIES:
            _check(rpc.sla.upsert_policy(policy), f"policy {policy['id']}")
        for article in articles:  # originals come before their translations in the file
            _check(rpc.search.upsert_article(article), f"article {article['id']}")
    print(f"demo data: {len(DEPARTMENTS)} departments, {len(AGENTS)} agents, "
          f"{len(POLICIES)} SLA policies, {len(articles)} articles")


if __name__ == "__main__":
    main()
