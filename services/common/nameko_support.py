"""Nameko glue shared by every service: Mongo and clock providers, the outbox relay, and the
event-handler decorator that validates contracts and retries transient failures."""
from __future__ import annotations

import functools
import inspect
import logging
from contextlib import ExitStack, contextmanager, nullcontext

import eventlet
from marshmallow import ValidationError
from nameko.events import event_handler
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from nameko.timer import timer

from . import correlation
from .amqp_reads import use_read_ahead
from .batches import EventBatchHandler
from .clock import SystemClock
from .events import EVENT_SOURCE, Event, parse_event, unbundled
from .keyed_lock import KeyedLock
from .observability import CorrelatedEventDispatcher, Observability
from .outbox import Outbox
from .results import Refusal, fail
from .storage import service_database
from .transient_rpc import use_transient_rpc

log = logging.getLogger(__name__)

use_transient_rpc()  # every service and its RPC clients (see transient_rpc)
use_read_ahead()  # every AMQP connection of the process (see amqp_reads)


class ServiceDatabase(DependencyProvider):
    """Hands each worker a repository over this service's own Mongo database.

    Subclasses set ``repository`` (a class taking the database) and may override
    ``prepare(db)`` to create indexes once at start-up.
    """

    repository: type

    def __init__(self, service: str):
        self.service = service
        self.db = None

    def setup(self):
        config = self.container.config
        self.db = service_database(config["MONGO_URI"], config.get("MONGO_DB", "helpdesk"),
                                   self.service)
        self.repository(self.db).ensure_indexes()
        Outbox(self.db).ensure_indexes()

    def get_dependency(self, worker_ctx):
        return self.repository(self.db)


class ClockProvider(DependencyProvider):
    """The service's sense of time.  Integration tests swap ``clock`` on the running
    provider (``nameko.testing.utils.get_extension``) to move time to the second."""

    def __init__(self):
        self.clock = SystemClock()

    def get_dependency(self, worker_ctx):
        return self.clock


class OutboxRelay:
    """Base for services that publish events: a 1 s sweep relays what the fast path missed.

    The subclass must define ``store`` whose repository exposes ``outbox``, and ``clock``.
    """

    dispatch = CorrelatedEventDispatcher()
    observe = Observability()

    def apply(self, work, *, event=None, consumer: str | None = None) -> list[dict]:
        """Run ``work(session) -> [events]`` in one transaction that also stages the events,
        then publish them.  With ``event``, effects apply once per ``consumer``."""
        staged: list[dict] = []

        def txn(session):
            # Replace rather than append: pymongo may retry the whole transaction.
            staged[:] = self.store.outbox.stage(work(session) or [], session, self.clock.now())

        if event is None:
            self.store.transaction(txn)
        else:
            self.store.handle_once(consumer, event.event_id, txn)
        self.store.outbox.publish(self.dispatch, staged)
        return staged

    @timer(interval=1.0)
    def relay_outbox(self):
        self.store.outbox.sweep(self.dispatch, self.clock.now())

    @rpc
    def ping(self):
        self.store.db.command("ping")
        return {"service": self.name, "ok": True}


# Events about one ticket are handled one at a time per service in a process (see
# keyed_lock).  Per service: where several run in one process (the integration tests), one
# service's handler may wait for another's on the same ticket (automation's assign trigger
# waits for routing to take the ticket in), which a shared turn would make wait for itself.
_TICKET_TURNS = KeyedLock()


def ticket_turn(service: str, ticket_id: str):
    """This service's turn on the ticket, for a batch handler's work on one of its tickets
    that must not interleave with the service's other events about it."""
    return _TICKET_TURNS.holding((service, ticket_id))


@contextmanager
def ticket_turns(service: str, ticket_ids: list[str]):
    """This service's turn on each of these tickets, for a batch handler whose work on them
    must not interleave with its other events about them (nor a later batch's).  Taken in
    one order (sorted), so two batches never wait for each other's turns."""
    with ExitStack() as turns:
        for ticket_id in sorted(set(ticket_ids)):
            turns.enter_context(ticket_turn(service, ticket_id))
        yield


def _parsed(event_type: str, payload) -> Event | None:
    """The event, or None for a message that breaks the contract: it will never succeed, so
    it is logged and dropped."""
    try:
        return parse_event(event_type, payload)
    except ValidationError as exc:
        log.error("dropping invalid %s event: %s payload=%r", event_type, exc.messages, payload)
        return None


def _first_copies(event_type: str, payloads: list, correlation_ids: list) -> dict[int, Event]:
    """The batch's valid events by position, each event once (its first copy), each with
    its own correlation id."""
    events: dict[int, Event] = {}
    seen: set[str] = set()
    for position, (payload, correlation_id) in enumerate(zip(payloads, correlation_ids)):
        event = _parsed(event_type, payload)
        if event is not None and event.event_id not in seen:
            seen.add(event.event_id)
            event.correlation_id = correlation_id
            events[position] = event
    return events


class NotYet(Exception):
    """Raised by a handler whose event waits on another one a moment away (e.g. its ticket's
    creation): the event is requeued as expected, not as a failure."""


class SomeEventsLater(NotYet):
    """Raised by an ``on_events`` handler that did the work of its batch but for ``events``
    (not doable yet, e.g. overtaken by an event they need): only those are requeued, the rest
    acknowledged, instead of the whole batch being tried again event by event."""

    def __init__(self, events: list, why: str):
        super().__init__(f"{len(events)} events of the batch later: {why}")
        self.events = events


# Back-offs before a requeued event comes again: long enough that a dead dependency does not
# spin the queue; an event left for later waits on another event a moment away.
FAILED_BACKOFF, LATER_BACKOFF = 0.5, 0.1


def _redelivered_later(event_type: str, reason: Exception) -> None:
    """Before a requeue: an event that waits (``NotYet``) is told plainly and comes back soon;
    a failure is logged with its traceback and backs off."""
    if isinstance(reason, NotYet):
        log.info("%s: %s; requeued", event_type, reason)
        eventlet.sleep(LATER_BACKOFF)
    else:
        log.exception("%s handler failed; message will be redelivered", event_type)
        eventlet.sleep(FAILED_BACKOFF)


def on_event(event_type: str):
    """``@on_event("ticket_created")``: subscribe (shared queue across replicas), parse the
    envelope against its contract, take the ticket's turn, and requeue on unexpected errors so
    nothing is lost.  A handler that may wait on something slow without transactions to
    collide takes batches instead (``on_events``, which takes no turns): search's assignments,
    whose index writes would otherwise hold a ticket's turn through each 5 s timeout while
    Elasticsearch hangs."""
    source = EVENT_SOURCE[event_type]

    def decorator(fn):
        def handle(self, payload):
            event = _parsed(event_type, payload)
            if event is None:
                return None
            try:
                ticket_id = event.data.get("ticket_id")
                with ticket_turn(self.name, ticket_id) if ticket_id else nullcontext():
                    return fn(self, event)
            except Exception as exc:
                _redelivered_later(event_type, exc)
                raise

        @functools.wraps(fn)
        def handler(self, payload):
            parts = unbundled(payload, correlation.current())
            if len(parts) == 1:
                return handle(self, parts[0][0])
            # A bundle's events one after another, each under its own trace; should one fail,
            # the whole message comes again and the done ones are absorbed as repeats.
            for one, correlation_id in parts:
                correlation.bind(correlation_id,
                                 ticket=correlation.ticket_in({"event": one}))
                handle(self, one)
            return None

        return event_handler(source, event_type, requeue_on_error=True)(handler)

    return decorator


def on_events(event_type: str, linger: float = 0.0, batch_size: int | None = None):
    """``@on_events("ticket_created")``: as ``on_event``, for a handler that takes a list of
    events (those waiting together, or arriving within ``linger`` seconds of the first, see
    EventBatchHandler; at most ``batch_size``, by default ``max_workers``) and does their work
    in bulk; it takes no turns, so its writes must be guarded (versions, conditions) rather
    than serialised, or the handler takes its tickets' turns itself (``ticket_turns``).  A
    repeat of an event in the batch (a redelivery beside it) is not handed over: it is
    acknowledged with the batch, its first copy does the work (and is the one requeued should
    it fail).
    When the batch fails, each event is tried alone: one bad event holds back only itself; a
    handler that knows which events to leave for later raises ``SomeEventsLater``."""
    source = EVENT_SOURCE[event_type]

    def decorator(fn):
        @functools.wraps(fn)
        def handler(self, payloads, correlation_ids):
            events = _first_copies(event_type, payloads, correlation_ids)
            if not events:
                return []
            try:
                fn(self, list(events.values()))
                return []
            except SomeEventsLater as some:
                left = {id(event) for event in some.events}
                later = [position for position, event in events.items() if id(event) in left]
                if later:
                    _redelivered_later(event_type, some)
                return later
            except Exception as exc:
                if len(events) == 1:
                    _redelivered_later(event_type, exc)
                    return list(events)
                log.warning("a batch of %d %s events failed; trying each alone", len(events),
                            event_type, exc_info=True)
            failed = []
            for position, event in events.items():
                correlation.bind(event.correlation_id, ticket=event.data.get("number"))
                try:
                    fn(self, [event])
                except Exception as exc:
                    _redelivered_later(event_type, exc)
                    failed.append(position)
            return failed

        return EventBatchHandler.decorator(source, event_type, requeue_on_error=True,
                                           linger=linger, batch_size=batch_size)(handler)

    return decorator


def command(method):
    """An RPC command: a ``Refusal`` raised anywhere inside becomes a ``fail`` result
    (never a remote traceback)."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Refusal as exc:
            return fail(exc.status, exc.errors)
    # nameko checks call arguments against the signature; keep the real one visible.
    run.__signature__ = inspect.signature(method)
    return rpc(run)
