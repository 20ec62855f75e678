"""A process's recent reads of settings only an admin's hand changes (rules, triggers,
subscriptions, policies, mail settings), so that a handler running per ticket event does not
ask Mongo for them every time."""
from __future__ import annotations

import pickle
import time
from typing import Any, Callable, Hashable

# How long a process keeps such a read: another replica's change is seen within this.
SETTINGS_TTL = 2.0


class RecentReads:
    """Keeps each read for ``ttl`` seconds of ``clock``.  A write in this process forgets the
    reads of its database at once (``forget``); another replica's write is seen within
    ``ttl``.  Every caller gets its own copy: values are kept pickled, which costs a tenth of
    a deep copy to hand out."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._kept: dict[tuple[str, Hashable], tuple[float, bytes]] = {}
        self._writes: dict[str, int] = {}  # per database: forget() calls so far

    def get(self, db_name: str, key: Hashable, load: Callable[[], Any]) -> Any:
        now = self._clock()
        kept = self._kept.get((db_name, key))
        if kept is not None and now < kept[0]:
            return pickle.loads(kept[1])
        writes = self._writes.get(db_name, 0)
        value = load()
        # A write that landed while this load ran may not be in it: keep the value only if
        # no forget() came meanwhile (the next read loads again).
        if self._writes.get(db_name, 0) == writes:
            self._kept[(db_name, key)] = (now + self.ttl,
                                          pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        return value  # not kept as such: the caller's own

    def forget(self, db_name: str) -> None:
        self._writes[db_name] = self._writes.get(db_name, 0) + 1
        for key in [k for k in self._kept if k[0] == db_name]:
            self._kept.pop(key, None)
