"""RPC requests and replies are transient messages on the real broker (nobody can use them
after a restart, and the broker's disk costs about twice its CPU); events stay persistent."""
import json
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from nameko.exceptions import RpcTimeout

from services.common import events as ev
from services.portal.rpc import RpcPool
from services.routing.service import RoutingService
from tests.integration.routing_helpers import dispatcher, ticket_created
from tests.support import eventually, running

RPC_EXCHANGE = Exchange("nameko-rpc", type="topic", durable=True)


def _waiting(connection, queue: str):
    return connection.default_channel.basic_get(queue, no_ack=True)


def test_a_request_waits_for_its_service_unpersisted(config):
    with running(config, RoutingService):
        pass  # its queue is declared; now nobody consumes it
    with pytest.raises(RpcTimeout):
        RpcPool({"AMQP_URI": config["AMQP_URI"], "serializer": "json"}, timeout=0.5).call(
            "routing", "ping")
    with Connection(config["AMQP_URI"]) as connection:
        request = eventually(lambda: _waiting(connection, "rpc-routing"))
        assert request.properties["delivery_mode"] == 1


def test_a_reply_is_unpersisted_and_an_event_persisted(config):
    replies = Queue(f"probe-replies-{uuid.uuid4().hex[:6]}", RPC_EXCHANGE, durable=True)
    replies.routing_key = replies.name
    events = Queue("probe-events", Exchange("intake.events", type="topic", durable=True),
                   routing_key=ev.TICKET_CREATED, durable=True)
    with Connection(config["AMQP_URI"]) as connection:
        for queue in (replies, events):
            queue(connection.default_channel).declare()
        with running(config, RoutingService):
            connection.Producer(serializer="json").publish(
                {"args": [], "kwargs": {}}, exchange=RPC_EXCHANGE, routing_key="routing.ping",
                reply_to=replies.name, correlation_id=uuid.uuid4().hex)
            reply = eventually(lambda: _waiting(connection, replies.name))
            assert json.loads(reply.body)["result"]["ok"] is True
            assert reply.properties["delivery_mode"] == 1
            dispatcher(config)(ticket_created(1, "general"))
            assert eventually(lambda: _waiting(connection, "probe-events")
                              ).properties["delivery_mode"] == 2
