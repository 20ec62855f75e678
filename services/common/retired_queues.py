"""Queues an earlier version consumed and this one does not.  Left bound, such a queue would
collect every event of its type forever; it may also hold events not yet handled when the new
version starts.  At start their waiting messages move to the queue that handles those events
now (its handler does every part idempotently), then the empty queue is deleted."""
from __future__ import annotations

import logging

from amqp import Message
from amqp.exceptions import NotFound
from kombu import Connection
from nameko.extensions import DependencyProvider

from .events import EVENT_SOURCE

log = logging.getLogger(__name__)


def handler_queue(service: str, event_type: str, method: str) -> str:
    """The queue nameko consumes for ``service.method`` handling ``event_type``."""
    return f"evt-{EVENT_SOURCE[event_type]}-{event_type}--{service}.{method}"


def _exists(connection: Connection, queue: str) -> bool:
    channel = connection.channel()  # a refused passive declare closes its channel
    try:
        channel.queue_declare(queue, passive=True)
        return True
    except NotFound:
        return False
    finally:
        if channel.is_open:
            channel.close()


def retire(amqp_uri: str, moves: dict[str, str]) -> int:
    """Move what waits in each retired queue to its successor, then delete it (only if no
    message came in meanwhile: a later start finishes the job).  Returns the messages moved."""
    moved = 0
    with Connection(amqp_uri) as connection:
        for retired, successor in moves.items():
            if not _exists(connection, retired) or not _exists(connection, successor):
                continue
            channel = connection.channel()
            channel.confirm_select()  # each publish is confirmed before its original is acked
            while (message := channel.basic_get(retired)) is not None:
                channel.basic_publish(Message(message.body, **message.properties),
                                      exchange="", routing_key=successor)
                channel.basic_ack(message.delivery_tag)
                moved += 1
            channel.queue_delete(retired, if_empty=True)
            channel.close()
            log.info("retired queue %s (its waiting events went to %s)", retired, successor)
    return moved


class RetiredQueues(DependencyProvider):
    """``RetiredQueues({retired queue: successor})`` on a service: retired at its start."""

    def __init__(self, moves: dict[str, str]):
        self.moves = moves

    def start(self):
        retire(self.container.config["AMQP_URI"], self.moves)
