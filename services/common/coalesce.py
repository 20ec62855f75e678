"""Work handed in by many green threads, done in batches: while one batch runs, what arrives
waits for the next, which takes it all.  Under a burst one write serves many requests; a
request arriving alone waits for nothing, or for ``linger`` when its batch may wait for
company (work nobody waits on, where fewer and larger writes are what counts)."""
from __future__ import annotations

import logging
from typing import Callable, Generic, TypeVar

import eventlet

log = logging.getLogger(__name__)

Item = TypeVar("Item")


class Coalescer(Generic[Item]):
    """``add(item)`` returns at once; ``flush(items)`` runs in a green thread of its own, one
    batch at a time, each gathering for ``linger`` seconds after its first item.  A failed
    batch is logged and dropped: callers keep a durable record of what is owed (a sweep
    finishes it), so this is only the fast path."""

    def __init__(self, flush: Callable[[list[Item]], None], what: str, linger: float = 0.0,
                 most: int | None = None):
        """``most``: the most items a batch takes; the rest go in the next."""
        self._flush, self._what, self._linger, self._most = flush, what, linger, most
        self._waiting: list[Item] = []
        self._running = False

    def add(self, item: Item) -> None:
        self._waiting.append(item)
        if not self._running:
            self._running = True
            eventlet.spawn_n(self._drain)

    def _drain(self) -> None:
        try:
            while self._waiting:
                if self._linger:
                    eventlet.sleep(self._linger)
                batch = self._waiting[:self._most]
                del self._waiting[:len(batch)]
                try:
                    self._flush(batch)
                except Exception:
                    log.warning("%s for %d failed; left to the sweep", self._what, len(batch),
                                exc_info=True)
        finally:
            self._running = False
