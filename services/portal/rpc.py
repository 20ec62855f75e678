"""A pool of nameko RPC clients for the web process: each standalone proxy owns a reply queue
and must not be shared by concurrent requests, so requests borrow one at a time, in the order
they asked (eventlet's queue wakes its waiters in no particular order, so under more
concurrent requests than clients some waited on while later ones went through).  Each
call carries the request's correlation id (nameko context_data) and is counted and timed.

A request costs the broker and this process no more than it must: the pool asks the broker
once per service whether that service listens (its queue exists: nameko's requests were
confirmed only to learn that), and then sends its requests unconfirmed; replies are taken
without acknowledgements (a reply queue has one reader, this client, and a reply it missed
is a timeout either way)."""
from __future__ import annotations

import time
from contextlib import contextmanager

import eventlet
from amqp.exceptions import NotFound
from eventlet.semaphore import Semaphore
from kombu import Connection
from nameko.constants import AMQP_SSL_CONFIG_KEY, LOGIN_METHOD_CONFIG_KEY
from nameko.exceptions import RpcTimeout, UnknownService
from nameko.rpc import RPC_QUEUE_TEMPLATE
from nameko.standalone.rpc import (PollingQueueConsumer, SingleThreadedReplyListener,
                                   StandaloneProxyBase)

from services.common import correlation
from services.common.amqp_reads import use_read_ahead
from services.common.metrics import RPC_CLIENT_CALLS, RPC_CLIENT_SECONDS
from services.common.transient_rpc import UnconfirmedMethodProxy, use_transient_rpc

use_transient_rpc()  # see transient_rpc
use_read_ahead()  # the RPC clients' and the live feed's connections (see amqp_reads)


class _UnacknowledgedReplies(PollingQueueConsumer):
    """nameko's reply consumer, taking its replies without acknowledgements (nameko's own
    consumes with them, hard-coded: it is asked again once set up)."""

    def _setup_consumer(self):
        super()._setup_consumer()
        self.consumer.cancel()
        self.consumer.no_ack = True
        self.consumer.consume()


class UnacknowledgedReplyListener(SingleThreadedReplyListener):
    def __init__(self, timeout=None):
        super().__init__(timeout)
        self.queue_consumer = _UnacknowledgedReplies(timeout=timeout)


class RpcClient(StandaloneProxyBase):
    """nameko's standalone RPC client (one reply queue), sending unconfirmed requests and
    taking unacknowledged replies; its ``context`` is the context_data it sends (nameko
    reads that dict at each call, so the borrower sets the current request's correlation id
    in it)."""

    def __init__(self, config: dict, timeout: float):
        self.context: dict = {}
        super().__init__(config, context_data=self.context, timeout=timeout,
                         reply_listener_cls=UnacknowledgedReplyListener)

    def call(self, service: str, method: str, *args, **kwargs):
        return UnconfirmedMethodProxy(self._worker_ctx, service, method,
                                      self._reply_listener)(*args, **kwargs)


class RpcPool:
    def __init__(self, config: dict, size: int = 32, timeout: float = 10.0):
        self._config, self._timeout = config, timeout
        self._turns = Semaphore(size)  # first come, first served; at most ``size`` clients
        self._idle: list = []
        self._listening: set[str] = set()  # services whose queue this pool has seen

    @property
    def amqp_uri(self) -> str:
        return self._config["AMQP_URI"]

    @property
    def timeout(self) -> float:
        """Seconds a call waits for its answer."""
        return self._timeout

    def _new(self):
        client = RpcClient(self._config, self._timeout)
        client.start()
        return client

    def _make_sure_listening(self, service: str) -> None:
        """UnknownService, at once, for a service that has never listened: what nameko
        learned from a confirmed request.  Once its queue exists, a request waits there for
        the service, if it is down, as it did then."""
        if service in self._listening:
            return
        with Connection(self.amqp_uri, ssl=self._config.get(AMQP_SSL_CONFIG_KEY),
                        login_method=self._config.get(LOGIN_METHOD_CONFIG_KEY)) as connection:
            try:
                connection.default_channel.queue_declare(
                    RPC_QUEUE_TEMPLATE.format(service), passive=True)
            except NotFound:
                raise UnknownService(service) from None
        self._listening.add(service)

    @contextmanager
    def _borrow(self):
        with self._turns:
            client = self._idle.pop() if self._idle else self._new()
            try:
                yield client
            except (RpcTimeout, OSError, ConnectionError):
                # The reply queue may now hold a late answer or be broken: do not reuse it.
                try:
                    client.stop()
                except Exception:  # noqa: BLE001 - it is being thrown away anyway
                    pass
                raise
            except BaseException:
                self._idle.append(client)
                raise
            else:
                self._idle.append(client)

    def call(self, service: str, method: str, *args, **kwargs):
        return self._call(None, service, method, *args, **kwargs)

    def call_within(self, budget: float, service: str, method: str, *args):
        """``call`` that gives up after ``budget`` seconds (shorter than the pool's timeout)
        with RpcTimeout, like a call that timed out; its client is thrown away as then."""
        return self._call(budget, service, method, *args)

    def _call(self, budget: float | None, service: str, method: str, *args, **kwargs):
        began, outcome = time.perf_counter(), "error"
        try:
            with self._borrow() as client:
                client.context[correlation.CONTEXT_KEY] = \
                    correlation.current() or correlation.new_id()
                with eventlet.Timeout(budget, RpcTimeout(f"{service}.{method}: over {budget} s")):
                    self._make_sure_listening(service)  # within the budget: a first call's
                    result = client.call(service, method, *args, **kwargs)
            outcome = "ok"
            return result
        finally:
            RPC_CLIENT_CALLS.labels(service, method, outcome).inc()
            RPC_CLIENT_SECONDS.labels(service, method).observe(time.perf_counter() - began)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().stop()
