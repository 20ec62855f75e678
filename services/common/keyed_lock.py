"""One holder at a time per key, within a process (green threads).

A new ticket's follow-up events (assigned, deadlines set, classified) arrive together; handled
at once by two workers of one service, their transactions write the same ticket document, one
meets the other's uncommitted write and the whole transaction is aborted and run again.  Taking
them in turn costs a short wait instead of a wasted transaction.  (Replicas of a service still
race now and then; the transaction retry covers that.)"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Hashable, Iterator

from eventlet.semaphore import Semaphore


class KeyedLock:
    def __init__(self) -> None:
        self._held: dict[Hashable, tuple[Semaphore, int]] = {}

    @contextmanager
    def holding(self, key: Hashable) -> Iterator[None]:
        lock, waiting = self._held.get(key, (None, 0))
        lock = lock or Semaphore(1)
        self._held[key] = (lock, waiting + 1)
        try:
            with lock:
                yield
        finally:
            lock, waiting = self._held[key]
            if waiting == 1:
                del self._held[key]  # nobody else holds or waits: keep the table small
            else:
                self._held[key] = (lock, waiting - 1)

    def __len__(self) -> int:
        return len(self._held)
