"""A pool of nameko RPC clients for the web process: each standalone proxy owns a reply queue
and must not be shared by concurrent requests, so requests borrow one at a time, in the order
they asked (eventlet's queue wakes its waiters in no particular order, so under more
concurrent requests than clients some waited on while later ones went through).  Each
call carries the request's correlation id (nameko context_data) and is counted and timed."""
from __future__ import annotations

import time
from contextlib import contextmanager

import eventlet
from eventlet.semaphore import Semaphore
from nameko.exceptions import RpcTimeout
from nameko.standalone.rpc import ClusterRpcProxy

from services.common import correlation
from services.common.amqp_reads import use_read_ahead
from services.common.metrics import RPC_CLIENT_CALLS, RPC_CLIENT_SECONDS
from services.common.transient_rpc import use_transient_rpc

use_transient_rpc()  # see transient_rpc
use_read_ahead()  # the RPC clients' and the live feed's connections (see amqp_reads)


class RpcPool:
    def __init__(self, config: dict, size: int = 32, timeout: float = 10.0):
        self._config, self._timeout = config, timeout
        self._turns = Semaphore(size)  # first come, first served; at most ``size`` clients
        self._idle: list = []

    @property
    def amqp_uri(self) -> str:
        return self._config["AMQP_URI"]

    @property
    def timeout(self) -> float:
        """Seconds a call waits for its answer."""
        return self._timeout

    def _new(self):
        # nameko keeps this dict as the proxy's context_data and reads it at each call, so
        # the borrower sets the current request's correlation id in it (see call).
        context: dict = {}
        holder = ClusterRpcProxy(self._config, context_data=context, timeout=self._timeout)
        return holder, (holder.start(), context)

    @contextmanager
    def _borrow(self):
        with self._turns:
            holder, proxy = self._idle.pop() if self._idle else self._new()
            try:
                yield proxy
            except (RpcTimeout, OSError, ConnectionError):
                # The reply queue may now hold a late answer or be broken: do not reuse it.
                try:
                    holder.stop()
                except Exception:  # noqa: BLE001 - it is being thrown away anyway
                    pass
                raise
            except BaseException:
                self._idle.append((holder, proxy))
                raise
            else:
                self._idle.append((holder, proxy))

    def call(self, service: str, method: str, *args, **kwargs):
        return self._call(None, service, method, *args, **kwargs)

    def call_within(self, budget: float, service: str, method: str, *args):
        """``call`` that gives up after ``budget`` seconds (shorter than the pool's timeout)
        with RpcTimeout, like a call that timed out; its client is thrown away as then."""
        return self._call(budget, service, method, *args)

    def _call(self, budget: float | None, service: str, method: str, *args, **kwargs):
        began, outcome = time.perf_counter(), "error"
        try:
            with self._borrow() as (proxy, context):
                context[correlation.CONTEXT_KEY] = correlation.current() or correlation.new_id()
                with eventlet.Timeout(budget, RpcTimeout(f"{service}.{method}: over {budget} s")):
                    result = getattr(getattr(proxy, service), method)(*args, **kwargs)
            outcome = "ok"
            return result
        finally:
            RPC_CLIENT_CALLS.labels(service, method, outcome).inc()
            RPC_CLIENT_SECONDS.labels(service, method).observe(time.perf_counter() - began)

    def close(self) -> None:
        while self._idle:
            holder, _ = self._idle.pop()
            holder.stop()
