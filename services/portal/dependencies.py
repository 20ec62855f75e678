"""Wiring for the web process: the RPC pool and the portal's own Mongo database."""
from __future__ import annotations

import os

from services.common.storage import service_database

from .repository import UserRepository
from .rpc import RpcPool


def nameko_config() -> dict:
    return {"AMQP_URI": os.environ.get("HELPDESK_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"),
            "serializer": "json"}


def user_repository() -> UserRepository:
    repo = UserRepository(service_database(
        os.environ.get("HELPDESK_MONGO_URI",
                       "mongodb://127.0.0.1:27017/?retryWrites=false&directConnection=true"),
        os.environ.get("HELPDESK_MONGO_DB", "helpdesk"), "portal"))
    repo.ensure_indexes()
    return repo


def rpc_pool() -> RpcPool:
    return RpcPool(nameko_config(), size=int(os.environ.get("HELPDESK_RPC_POOL", "32")),
                   timeout=float(os.environ.get("HELPDESK_RPC_TIMEOUT", "10")))
