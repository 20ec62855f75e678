"""RPC requests and replies are transient messages on the real broker (nobody can use them
after a restart, and the broker's disk costs about twice its CPU); events stay persistent."""
import json
import time
import uuid

import pytest
from kombu import Connection, Exchange, Queue
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.rpc import rpc

from services.common import events as ev
from services.portal.rpc import RpcPool
from services.routing.service import RoutingService
from tests.integration.routing_helpers import dispatcher, ticket_created
from tests.support import (delete_vhost, eventually, isolated_config, message_stats,
                           running)

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


class Echo:
    """A service that only answers: no events, nothing else confirmed or acknowledged."""
    name = "echo"

    @rpc
    def echo(self, word: str) -> str:
        return word


def test_the_portal_sends_unconfirmed_requests_and_takes_unacknowledged_replies():
    """The portal's pool: the broker confirms none of its requests and is sent no
    acknowledgement for a reply (each was a frame both ways per call); the service still
    acknowledges each request it took."""
    config = isolated_config()
    try:
        pool = RpcPool({"AMQP_URI": config["AMQP_URI"], "serializer": "json"}, timeout=5)
        with running(config, Echo):
            assert [pool.call("echo", "echo", f"w{n}") for n in range(5)] == \
                [f"w{n}" for n in range(5)]
            stats = eventually(lambda: (s := message_stats(config["_vhost"])).get(
                "deliver_get", 0) >= 10 and s)
        pool.close()
        assert stats.get("confirm", 0) == 0
        assert stats["ack"] == 5 and stats["deliver_no_ack"] == 5
    finally:
        delete_vhost(config["_vhost"])


def test_a_service_that_never_listened_is_unknown_at_once(config):
    """Asked once per service whether its queue exists, as nameko learned it from a
    confirmed request: not after the call's whole wait."""
    pool = RpcPool({"AMQP_URI": config["AMQP_URI"], "serializer": "json"}, timeout=5)
    began = time.monotonic()
    with pytest.raises(UnknownService):
        pool.call("nobody", "ping")
    assert time.monotonic() - began < 1
    with running(config, Echo):
        assert pool.call("echo", "echo", "here") == "here"
    pool.close()
