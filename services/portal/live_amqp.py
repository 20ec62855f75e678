"""Feeds the portal's live feed from RabbitMQ: one green thread per portal process consumes
every event the services publish (their "<service>.events" topic exchanges) through its own
exclusive, auto-deleted queue -- each portal replica sees every event, and the queue goes away
with the process.

It consumes only while a browser listens (and ``idle_seconds`` after the last one left): with
nobody watching, every event of every ticket would cost the broker and this process a
delivery for nothing.  Events published while it was not consuming (idle, or the connection
lost) were not seen, so each start tells the browsers to resync."""
from __future__ import annotations

import logging
import socket
import time

import eventlet
from kombu import Connection, Consumer, Queue, binding
from nameko.standalone.events import get_event_exchange

from services.common.events import EVENT_SOURCE, unbundled

from .live import RESYNC, LiveFeed

log = logging.getLogger(__name__)
RETRY_SECONDS = 2.0
IDLE_SECONDS = 60.0   # a page reloading or moving on reconnects within this without a resync
WAKE_SECONDS = 0.2    # how often an idle process looks for a listener


class EventListener:
    def __init__(self, amqp_uri: str, feed: LiveFeed, idle_seconds: float = IDLE_SECONDS):
        self.amqp_uri, self.feed, self.idle_seconds = amqp_uri, feed, idle_seconds
        self.sources = sorted(set(EVENT_SOURCE.values()))
        self._thread = None

    def start(self) -> "EventListener":
        self._thread = eventlet.spawn(self._run)
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.kill()
            self._thread = None

    @property
    def queue_name(self) -> str:
        return f"portal-live-{self.feed.process}"

    def _queue(self) -> Queue:
        return Queue(self.queue_name, durable=False, exclusive=True, auto_delete=True,
                     bindings=[binding(get_event_exchange(source, {}), routing_key="#")
                               for source in self.sources])

    def _on_message(self, body, message) -> None:
        for envelope, _ in unbundled(body, None):
            self.feed.publish_event(envelope)

    def _run(self) -> None:
        while True:
            while not self.feed.listeners:
                eventlet.sleep(WAKE_SECONDS)
            try:
                self._consume_while_listened()
            except Exception:  # noqa: BLE001 - broker gone: retry, never kill the portal
                log.warning("live feed lost the broker; retrying in %.0f s", RETRY_SECONDS,
                            exc_info=True)
                eventlet.sleep(RETRY_SECONDS)

    def _consume_while_listened(self) -> None:
        with Connection(self.amqp_uri, heartbeat=0) as connection:
            with Consumer(connection, queues=[self._queue()], no_ack=True,
                          callbacks=[self._on_message], accept=["json"]):
                self.feed.publish(RESYNC)
                log.info("live feed consuming events of %s", ", ".join(self.sources))
                unheard_since = None
                while True:
                    try:
                        connection.drain_events(timeout=min(5.0, self.idle_seconds))
                    except socket.timeout:
                        connection.heartbeat_check()
                    if self.feed.listeners:
                        unheard_since = None
                    elif unheard_since is None:
                        unheard_since = time.monotonic()
                    elif time.monotonic() - unheard_since >= self.idle_seconds:
                        log.info("live feed idle: no browser listens")
                        return
