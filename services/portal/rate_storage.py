"""Where the portal's rate limits count: limits' in-process memory storage, swept of expired
windows on the calling green thread at most every ``SWEEP_EVERY`` seconds.

limits' ``MemoryStorage`` starts a timer thread (10 ms) on nearly every hit, to sweep every
window it keeps.  Under eventlet that is a Thread object and a green thread per hit, two per
filing, ~7% of the portal's CPU in a burst (BENCHMARKS.md, nineteenth round); and the sweep
walks every window, each requester's ``50/day`` among them.  A window is checked for expiry
whenever it is read, so the sweep only gives back memory: now and then is enough."""
from __future__ import annotations

import time

from limits.storage import MemoryStorage

SWEEP_EVERY = 10.0  # seconds
SCHEME = "swept-memory"


class SweptMemoryStorage(MemoryStorage):
    STORAGE_SCHEME = [SCHEME]  # registered with limits by its metaclass

    def __init__(self, *args, **kwargs):
        self.next_sweep = 0.0
        super().__init__(*args, **kwargs)

    # Replaces MemoryStorage's private scheduling hook, called on every hit (limits pinned).
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self.next_sweep:
            self.next_sweep = now + SWEEP_EVERY
            self._MemoryStorage__expire_events()
