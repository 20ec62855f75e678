"""What the knowledge loop costs with many visits: N suggest visits (a quarter unanswered, with
vectors) recorded through GapRepository into a throw-away database on the Mongo server of
HELPDESK_MONGO_URI, then the funnel report for the whole period and the questions the gaps page
groups (read + clustering of the newest MAX_ITEMS).

Usage: python -m bench.gaps.funnel_bench [N]"""
from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone

import numpy as np
from pymongo import MongoClient

from services.search import gaps, semantic
from services.search.gap_store import GapRepository


def timed(work, runs: int = 5) -> tuple[float, float]:
    spent = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        spent.append(time.perf_counter() - began)
    return statistics.median(spent), max(spent)


def main(n: int) -> None:
    client = MongoClient(os.environ.get("HELPDESK_MONGO_URI", "mongodb://127.0.0.1:27017/"),
                         tz_aware=True, retryWrites=False)
    name = f"bench_gaps_{secrets.token_hex(4)}"
    store = GapRepository(client[name])
    store.ensure_indexes()
    try:
        now = datetime.now(timezone.utc)
        rng = np.random.default_rng(7)
        vectors = rng.normal(size=(64, semantic.DIMENSIONS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1)[:, None]
        began = time.perf_counter()
        for i in range(n):
            unanswered = i % 4 == 0
            session = secrets.token_hex(16)
            store.record_question(session, "ru" if i % 2 else "en", f"question {i % 500}",
                                  [] if unanswered else [f"article:a{i % 40}"],
                                  semantic.pack(vectors[i % 64:i % 64 + 1]) if unanswered
                                  else None, now - timedelta(seconds=n - i))
            if i % 3 == 0 and not unanswered:
                store.record_step(session, "opened", f"article:a{i % 40}")
            if i % 5 == 0:
                store.record_filed(session, i + 1, now)
        per_visit = (time.perf_counter() - began) / n * 1000
        since, until = now - timedelta(days=1), now + timedelta(minutes=1)
        funnel = timed(lambda: store.funnel(since, until, None))

        def gap_questions():
            items = [gaps.GapItem("question", v["_id"], v["question"], v["language"],
                                  v["last_at"], semantic.unpack(v["vector"])[0])
                     for v in store.unanswered_questions(since, gaps.MAX_ITEMS)]
            gaps.find_gaps(items, 20)
        grouped = timed(gap_questions)
        print(f"{n} visits: recording {per_visit:.2f} ms per visit (1-3 writes); "
              f"funnel report p50 {funnel[0]:.2f} s max {funnel[1]:.2f} s; "
              f"gap questions read + grouped p50 {grouped[0]:.2f} s max {grouped[1]:.2f} s")
    finally:
        client.drop_database(name)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
