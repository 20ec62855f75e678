"""An event entrypoint that hands a worker the events waiting in its queue together, so one
bulk write serves many of them (``nameko_support.on_events``)."""
from __future__ import annotations

import functools

import eventlet
import kombu
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import QueueConsumer

from . import correlation
from .events import unbundled

# Seconds a batch of background work (recording what another service decided, the received
# notice, ...) waits for company: at 30 tickets/s the ticket-assigned batches carried one
# event each, a transaction of eight Mongo commands per ticket (BENCHMARKS.md, fourteenth
# round).  Not for the steps a filing's latency is measured by (routing, the SLA clock).
BACKGROUND_LINGER = 0.1
# The most events such a batch takes: under a burst its consumers fell furthest behind (the
# received notices, the SLA dues) while each batch was capped at 8 (BENCHMARKS.md, sixteenth
# round).
BACKGROUND_BATCH = 32
BACKGROUND = {"linger": BACKGROUND_LINGER, "batch_size": BACKGROUND_BATCH}  # on_events(..., **)


class _OwnPrefetchConsumer(kombu.Consumer):
    """RabbitMQ gives a channel's (non-global) basic.qos to the consumers started after it,
    and nameko sends every consumer's before it starts any: sent again right before this
    consumer starts, its prefetch is its own."""

    def consume(self, no_ack=None):
        self.qos(prefetch_count=self.prefetch_count)
        super().consume(no_ack)


class BatchQueueConsumer(QueueConsumer):
    """nameko's queue consumer (one per process, its own connection) for the batch handlers:
    each consumes with its ``batch_size`` as prefetch, since a batch is at most what is
    delivered and not yet acknowledged."""

    def get_consumers(self, consumer_cls, channel):
        make = functools.partial(_OwnPrefetchConsumer, *consumer_cls.args,
                                 **consumer_cls.keywords)
        for provider in self._providers:
            self._consumers[provider] = make(
                queues=[provider.queue], accept=self.accept,
                callbacks=[functools.partial(self.handle_message, provider)],
                prefetch_count=provider.batch_size)
        return self._consumers.values()


class EventBatchHandler(EventHandler):
    """nameko's event handler, handed the events that wait in its queue together.  The first
    message in lets the consumer pass on what else it has read (one green-thread switch), then
    one worker takes them all (at most ``batch_size``, its prefetch; by default the container's
    ``max_workers``): under a burst one bulk write serves many events, while an event arriving
    alone waits for nothing.  The worker gets the payloads and their correlation ids, and
    answers with the positions that failed: those messages are requeued, the rest
    acknowledged.  A handler of work nobody waits on may ``linger``: its first message waits
    up to that long for company (each message arrives in a thread of its own), so a steady
    trickle makes batches too, not only a burst; a batch that reaches the prefetch goes at
    once (no more could come).  A message may be a bundle of events (events.bundle): the
    worker gets its events one by one, so a batch holds up to ``batch_size`` messages."""

    queue_consumer = BatchQueueConsumer()

    def __init__(self, *args, linger: float = 0.0, batch_size: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.linger = linger
        self._batch_size = batch_size
        self.gathering: list = []
        self.full: eventlet.Event | None = None  # sent when the gathering batch is full

    @property
    def batch_size(self) -> int:
        return self._batch_size or self.container.max_workers

    def handle_message(self, body, message):
        self.gathering.append((body, message))
        if len(self.gathering) > 1:  # joins the batch the first message is gathering
            if self.full is not None and not self.full.ready() \
                    and len(self.gathering) >= self.batch_size:
                self.full.send()
            return
        # With no linger this is one green-thread switch, as eventlet.sleep(0).
        self.full = eventlet.Event()
        self.full.wait(timeout=self.linger)
        self.full = None
        batch, self.gathering = self.gathering, []
        messages = [message for _, message in batch]
        contexts = [self.unpack_message_headers(message) for message in messages]
        payloads, correlation_ids, carriers = [], [], []  # per event; carrier: its message
        for carrier, ((body, _), context) in enumerate(zip(batch, contexts)):
            for payload, correlation_id in unbundled(body, context.get(correlation.CONTEXT_KEY)):
                payloads.append(payload)
                correlation_ids.append(correlation_id)
                carriers.append(carrier)
        try:
            self.container.spawn_worker(
                self, (payloads, correlation_ids), {}, context_data=contexts[0],
                handle_result=functools.partial(self.handle_batch_result, messages, carriers))
        except ContainerBeingKilled:
            for message in messages:
                self.queue_consumer.requeue_message(message)

    def handle_batch_result(self, messages, carriers, worker_ctx, result=None, exc_info=None):
        """A message whose event (one of a bundle's) failed is requeued, bundle and all: its
        other events come again, which idempotent handlers absorb."""
        failed = range(len(messages)) if exc_info is not None else \
            {carriers[position] for position in result or ()}
        for position, message in enumerate(messages):
            if position in failed:
                self.queue_consumer.requeue_message(message)
            else:
                self.queue_consumer.ack_message(message)
        return result, exc_info
