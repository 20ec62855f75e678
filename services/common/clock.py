"""Time is injected so domain rules can be tested to the second."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that moves only when told to (unit tests)."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> datetime:
        return self.at
