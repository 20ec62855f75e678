"""A process's recent reads of rarely changed settings (rules, subscriptions), so that a
handler running per event does not ask Mongo for them every time."""
from __future__ import annotations

import copy
import time
from typing import Any, Callable, Hashable


class RecentReads:
    """Keeps each read for ``ttl`` seconds.  A write in this process forgets the reads of its
    database at once; another replica's write is seen within ``ttl``."""

    def __init__(self, ttl: float):
        self.ttl = ttl
        self._kept: dict[tuple[str, Hashable], tuple[float, Any]] = {}

    def get(self, db_name: str, key: Hashable, load: Callable[[], Any]) -> Any:
        now = time.monotonic()
        kept = self._kept.get((db_name, key))
        if kept is None or kept[0] <= now:
            kept = self._kept[(db_name, key)] = (now + self.ttl, load())
        return copy.deepcopy(kept[1])  # callers may change what they get

    def forget(self, db_name: str) -> None:
        for key in [k for k in self._kept if k[0] == db_name]:
            self._kept.pop(key, None)
