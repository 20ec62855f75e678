"""Each module registers its views with ``register(app, portal)`` and lists its API operations
in ``OPERATIONS`` for the OpenAPI document: (path, method, summary, request schema,
response schema, needs auth)."""
from . import (access, account_pages, accounts, admin_automation_pages, admin_content_pages,
               admin_email_pages, admin_pages, admin_sla_pages, agent_macros, agent_operations,
               agent_pages, article_versions, automation_admin, directory, kb_pages, knowledge,
               knowledge_admin, knowledge_loop, pages, reports, routing_admin, sla_admin,
               supervisor_pages, system, ticket_extras, ticket_pages, tickets)

MODULES = (system, accounts, tickets, ticket_extras, knowledge, knowledge_admin, article_versions,
           directory, reports, routing_admin, sla_admin, pages, account_pages, ticket_pages,
           kb_pages, agent_pages, agent_macros, agent_operations, supervisor_pages, knowledge_loop,
           admin_pages, admin_sla_pages, admin_content_pages, admin_email_pages, access,
           automation_admin, admin_automation_pages)


def operations() -> list[tuple]:
    return [op for module in MODULES for op in module.OPERATIONS]
