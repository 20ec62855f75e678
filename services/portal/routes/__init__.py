"""Each module registers its views with ``register(app, portal)`` and lists its API operations
in ``OPERATIONS`` for the OpenAPI document: (path, method, summary, request schema,
response schema, needs auth)."""
from . import (accounts, directory, knowledge, knowledge_admin, pages, reports, sla_admin, system,
               ticket_extras, tickets)

MODULES = (system, accounts, tickets, ticket_extras, knowledge, knowledge_admin, directory,
           reports, sla_admin, pages)


def operations() -> list[tuple]:
    return [op for module in MODULES for op in module.OPERATIONS]
