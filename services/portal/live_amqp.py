"""Feeds the portal's live feed from RabbitMQ: one green thread per portal process consumes
every event the services publish (their "<service>.events" topic exchanges) through its own
exclusive, auto-deleted queue -- each portal replica sees every event, and the queue goes away
with the process.  After a lost connection it reconnects and tells the browsers to resync
(events published meanwhile were not seen)."""
from __future__ import annotations

import logging
import socket

import eventlet
import eventlet.event
from kombu import Connection, Consumer, Queue, binding
from nameko.standalone.events import get_event_exchange

from services.common.events import EVENT_SOURCE

from .live import RESYNC, LiveFeed

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0


class EventListener:
    def __init__(self, amqp_uri: str, feed: LiveFeed):
        self.amqp_uri, self.feed = amqp_uri, feed
        self.sources = sorted(set(EVENT_SOURCE.values()))
        self._thread = None
        self.connected = eventlet.event.Event()

    def start(self) -> "EventListener":
        self._thread = eventlet.spawn(self._run)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.kill()
            self._thread = None

    def _queue(self) -> Queue:
        return Queue(f"portal-live-{self.feed.process}", durable=False, exclusive=True,
                     auto_delete=True, bindings=[
                         binding(get_event_exchange(source, {}), routing_key="#")
                         for source in self.sources])

    def _on_message(self, body, message) -> None:
        self.feed.publish_event(body)

    def _run(self) -> None:
        first = True
        while True:
            try:
                with Connection(self.amqp_uri, heartbeat=0) as connection:
                    with Consumer(connection, queues=[self._queue()], no_ack=True,
                                  callbacks=[self._on_message], accept=["json"]):
                        if not first:
                            self.feed.publish(RESYNC)
                        first = False
                        if not self.connected.ready():
                            self.connected.send(True)
                        log.info("live feed consuming events of %s", ", ".join(self.sources))
                        while True:
                            try:
                                connection.drain_events(timeout=5)
                            except socket.timeout:
                                connection.heartbeat_check()
            except Exception:  # noqa: BLE001 - broker gone: retry, never kill the portal
                log.warning("live feed lost the broker; retrying in %.0f s", RETRY_SECONDS,
                            exc_info=True)
                eventlet.sleep(RETRY_SECONDS)
