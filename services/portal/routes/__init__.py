"""Each module registers its views with ``register(app, portal)`` and lists its API operations
in ``OPERATIONS`` for the OpenAPI document: (path, method, summary, request schema,
response schema, needs auth)."""
from . import accounts, directory, knowledge, pages, routing_admin, system, tickets

MODULES = (system, accounts, tickets, knowledge, directory, routing_admin, pages)


def operations() -> list[tuple]:
    return [op for module in MODULES for op in module.OPERATIONS]
