"""CPython's cyclic garbage collector, tuned for a long-running service process.

With the defaults (a young collection every 700 allocations) a 20 s burst of filings at c=32
spent 1.3 ms of collector time per ticket across the stack, and each full collection walked
the 75,000-120,000 objects every process keeps from its imports and set-up: 70-130 ms during
which the process served nothing (routing, portal, intake; BENCHMARKS.md, nineteenth round).
Those objects are moved out of the collector's sight once set-up is done (``gc.freeze``), and
young collections come every 20,000 allocations: 0.26 ms per ticket, in pauses of 20-40 ms
every few seconds of a burst.  A larger young generation (50,000) made each young collection
the long pause instead (0.47 ms per ticket)."""
from __future__ import annotations

import gc

YOUNG_COLLECTION_EVERY = 20_000  # allocations (CPython's default: 700)
OLDER_COLLECTION_EVERY = 20  # collections of the generation below (the default: 10, 10)


def tune_for_serving() -> None:
    """Call once a process has built what it keeps for its life, before it serves: what exists
    then is collected once and frozen, and the thresholds above apply from then on."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_EVERY, OLDER_COLLECTION_EVERY, OLDER_COLLECTION_EVERY)
