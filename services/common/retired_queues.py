"""Queues an earlier version consumed and this one does not.  Left bound, such a queue would
collect every event of its type forever; it may also hold events not yet handled when the new
version starts.  At start their waiting messages move to the queue that handles those events
now (its handler does every part idempotently), in the successor's form where the event itself
changed (a translation may also drop what no longer concerns anyone), then the empty queue is
deleted.  It is unbound first, so nothing new comes in while it is emptied."""
from __future__ import annotations

import logging
from typing import Callable

import eventlet

from amqp import Message
from amqp.exceptions import NotFound
from kombu import Connection
from nameko.extensions import DependencyProvider

from .events import EVENT_SOURCE

log = logging.getLogger(__name__)

SUCCESSOR_WAIT_SECONDS = 60  # a new successor is declared by the service's consumers as it starts


def handler_queue(service: str, event_type: str, method: str) -> str:
    """The queue nameko consumes for ``service.method`` handling ``event_type``."""
    return f"evt-{EVENT_SOURCE[event_type]}-{event_type}--{service}.{method}"


def _binding(queue: str) -> tuple[str, str]:
    """The exchange and routing key of a ``handler_queue``."""
    _, source, event_type = queue.split("--", 1)[0].split("-", 2)
    return f"{source}.events", event_type


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


# A waiting message's body in its successor's form, or None when it is nobody's business now.
Translation = Callable[[bytes], "bytes | None"]


def retire(amqp_uri: str, moves: dict[str, str],
           translations: dict[str, Translation] | None = None) -> int:
    """Move what waits in each retired queue to its successor (through ``translations`` of
    that retired queue, if any), then delete it.  A retired queue whose successor does not
    exist yet is left for a later call.  Returns the messages moved."""
    moved = 0
    with Connection(amqp_uri) as connection:
        for retired, successor in moves.items():
            if not _exists(connection, retired) or not _exists(connection, successor):
                continue
            translate = (translations or {}).get(retired, lambda body: body)
            channel = connection.channel()
            exchange, routing_key = _binding(retired)
            channel.queue_unbind(retired, exchange, routing_key)
            channel.confirm_select()  # each publish is confirmed before its original is acked
            while (message := channel.basic_get(retired)) is not None:
                body = translate(message.body)
                if body is not None:
                    channel.basic_publish(Message(body, **message.properties),
                                          exchange="", routing_key=successor)
                    moved += 1
                channel.basic_ack(message.delivery_tag)
            channel.queue_delete(retired)
            channel.close()
            log.info("retired queue %s (its waiting events went to %s)", retired, successor)
    return moved


def waiting(amqp_uri: str, moves: dict[str, str]) -> list[str]:
    """The retired queues still there (their successors not declared yet, or just emptied)."""
    with Connection(amqp_uri) as connection:
        return [retired for retired in moves if _exists(connection, retired)]


class RetiredQueues(DependencyProvider):
    """``RetiredQueues({retired queue: successor}, {retired queue: translation})`` on a
    service: retired once the service has started (and declared its queues)."""

    def __init__(self, moves: dict[str, str],
                 translations: dict[str, Translation] | None = None):
        self.moves = moves
        self.translations = translations

    def start(self):
        self.container.spawn_managed_thread(self._retire)

    def _retire(self):
        uri = self.container.config["AMQP_URI"]
        for _ in range(SUCCESSOR_WAIT_SECONDS):
            retire(uri, self.moves, self.translations)
            if not waiting(uri, self.moves):
                return
            eventlet.sleep(1)
        log.warning("retired queues left for the next start: %s", waiting(uri, self.moves))
