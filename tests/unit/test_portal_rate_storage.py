"""The portal's rate-limit storage: limits' memory storage without a timer thread per hit."""
import threading
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from services.portal import rate_storage


def test_hits_start_no_thread_and_limits_still_count(monkeypatch):
    storage = storage_from_string(f"{rate_storage.SCHEME}://")
    assert isinstance(storage, rate_storage.SweptMemoryStorage)
    limiter = FixedWindowRateLimiter(storage)
    three = parse("3/minute")
    started = []

    class CountedTimer(threading.Timer):
        def start(self):
            started.append(self)
            super().start()

    time.sleep(0.02)  # the timer limits starts with the storage has run
    monkeypatch.setattr(threading, "Timer", CountedTimer)
    assert [limiter.hit(three, "ticket", "a@example.com") for _ in range(4)] == [
        True, True, True, False]
    assert limiter.hit(three, "ticket", "b@example.com")  # another key counts apart
    assert started == []  # limits' own MemoryStorage starts one here


def test_expired_windows_are_swept_on_a_later_hit():
    storage = rate_storage.SweptMemoryStorage()
    storage.incr("short", expiry=0.05)
    storage.incr("long", expiry=60)
    time.sleep(0.06)
    storage.incr("other", expiry=60)  # within SWEEP_EVERY of the first hit's sweep: kept
    assert "short" in storage.storage
    storage.next_sweep = 0.0
    storage.incr("other", expiry=60)
    assert "short" not in storage.storage
    assert storage.get("long") == 1 and storage.get("other") == 2
