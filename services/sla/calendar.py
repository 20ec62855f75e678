"""Business-time arithmetic, pure and exact (to the microsecond).

A calendar is an IANA time zone, working hours per weekday (several intervals a day are
allowed, given as minutes after local midnight, the end may be 1440 = 24:00), holidays (fixed
dates and yearly month-days) -- or round-the-clock.  Business time is real elapsed time that
falls inside working intervals: a 09:00-18:00 day is 9 h, and a 00:00-24:00 day is 23 h or
25 h on the days the clocks change.

Wall times that do not exist (inside a spring-forward gap) are read as the instant the clocks
jump; ambiguous ones (the repeated hour in autumn) as their first occurrence.  That keeps the
wall-time -> instant mapping monotonic, so intervals never overlap or run backwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY_MINUTES = 24 * 60
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZERO = timedelta(0)
# A calendar with no working time for this long is broken; refuse rather than loop forever.
MAX_IDLE_DAYS = 3 * 366


class CalendarError(ValueError):
    """The calendar cannot supply the requested business time."""


@dataclass(frozen=True)
class BusinessCalendar:
    time_zone: str = "UTC"
    # weekday (0 = Monday) -> sorted, non-overlapping (start, end) minutes after local midnight
    hours: tuple[tuple[tuple[int, int], ...], ...] = field(
        default_factory=lambda: (((0, DAY_MINUTES),),) * 7)
    holidays: frozenset[date] = frozenset()
    yearly_holidays: frozenset[tuple[int, int]] = frozenset()  # (month, day)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def round_the_clock(self) -> bool:
        return (not self.holidays and not self.yearly_holidays
                and all(day == ((0, DAY_MINUTES),) for day in self.hours))

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays or (day.month, day.day) in self.yearly_holidays

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """Working intervals of a local date as UTC instants, in order."""
        if self.is_holiday(day):
            return []
        zone = self.zone
        return [(_instant(day, start, zone), _instant(day, end, zone))
                for start, end in self.hours[day.weekday()]]

    def _days_from(self, moment: datetime):
        day = moment.astimezone(self.zone).date()
        while True:
            yield day
            day += timedelta(days=1)


ROUND_THE_CLOCK = BusinessCalendar()


def _instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    local = datetime.combine(day, time(0)) + timedelta(minutes=minute)
    return _local_to_utc(local, zone)


@lru_cache(maxsize=65536)
def _local_to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    first = local.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)
    later = local.replace(tzinfo=zone, fold=1).astimezone(timezone.utc)
    if first <= later:  # normal, or ambiguous (first occurrence wins)
        return first
    # In a gap: fold=0 reads it with the old offset, fold=1 with the new one, so ``later`` is
    # before the jump and ``first`` after it.  The jump is the first instant with the new offset.
    new_offset = first.astimezone(zone).utcoffset()
    low, high = later, first
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == new_offset:
            high = middle
        else:
            low = middle
    return high  # low < jump <= high and they are 1 µs apart: high is the jump itself


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("business time needs aware datetimes")
    return moment.astimezone(timezone.utc)


def add_business_time(calendar: BusinessCalendar, start: datetime,
                      duration: timedelta) -> datetime:
    """The instant when ``duration`` of business time has passed since ``start``.

    A duration that ends exactly at the close of a working interval ends there (18:00), not
    at the next opening.  A zero duration returns ``start`` itself.
    """
    if duration < ZERO:
        raise ValueError("duration must not be negative")
    start = _aware(start)
    if duration == ZERO:
        return start
    if calendar.round_the_clock:
        return start + duration
    remaining, idle = duration, 0
    for day in calendar._days_from(start):
        worked = False
        for opens, closes in calendar.intervals_on(day):
            if closes <= start:
                continue
            begin = max(opens, start)
            available = closes - begin
            if available <= ZERO:
                continue
            worked = True
            if remaining <= available:
                return begin + remaining
            remaining -= available
        idle = 0 if worked else idle + 1
        if idle > MAX_IDLE_DAYS:
            raise CalendarError("the calendar has no working time left")


def business_time_between(calendar: BusinessCalendar, a: datetime, b: datetime) -> timedelta:
    """Business time inside [a, b); zero when b is not after a."""
    a, b = _aware(a), _aware(b)
    if b <= a:
        return ZERO
    if calendar.round_the_clock:
        return b - a
    total = ZERO
    last_day = b.astimezone(calendar.zone).date()
    for day in calendar._days_from(a):
        if day > last_day:
            break
        for opens, closes in calendar.intervals_on(day):
            overlap = min(closes, b) - max(opens, a)
            if overlap > ZERO:
                total += overlap
    return total


# --------------------------------------------------------------------------- specifications
# What users send and what is stored: plain JSON.  ``from_spec`` assumes a validated spec.

def parse_minute(text: str) -> int:
    """'09:30' -> 570; '24:00' -> 1440 (only as an end)."""
    hours, _, minutes = text.partition(":")
    if not (len(hours) == 2 and len(minutes) == 2 and hours.isdigit() and minutes.isdigit()):
        raise ValueError(f"{text!r} is not a time as HH:MM")
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > DAY_MINUTES:
        raise ValueError(f"{text!r} is not a time of day (00:00-24:00)")
    return value


def interval_problems(intervals: list[tuple[int, int]]) -> list[str]:
    """Why a day's working intervals are unusable (empty list when they are fine)."""
    problems = []
    for start, end in intervals:
        if end <= start:
            problems.append(f"{_hhmm(start)}-{_hhmm(end)} ends before it starts "
                            f"(an interval cannot pass midnight; split it at 24:00)")
    ordered = sorted(intervals)
    for (s1, e1), (s2, e2) in zip(ordered, ordered[1:]):
        if s2 < e1:
            problems.append(f"{_hhmm(s1)}-{_hhmm(e1)} overlaps {_hhmm(s2)}-{_hhmm(e2)}")
    return problems


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def from_spec(spec: dict | None) -> BusinessCalendar:
    """A validated calendar document -> BusinessCalendar.  None means round-the-clock UTC."""
    if spec is None or spec.get("always_open"):
        return BusinessCalendar(time_zone=(spec or {}).get("time_zone", "UTC"))
    hours = tuple(tuple(sorted((parse_minute(s), parse_minute(e))
                               for s, e in spec.get("hours", {}).get(name, [])))
                  for name in WEEKDAYS)
    holidays = frozenset(date.fromisoformat(d) if isinstance(d, str) else d
                         for d in spec.get("holidays", []))
    yearly = frozenset((int(md[:2]), int(md[3:])) for md in spec.get("yearly_holidays", []))
    return BusinessCalendar(time_zone=spec["time_zone"], hours=hours, holidays=holidays,
                            yearly_holidays=yearly)


def to_spec(calendar: BusinessCalendar) -> dict:
    """The inverse of ``from_spec``: a JSON-ready document (clocks keep the calendar they
    were timed on, so replaying their events later gives the same instants)."""
    if calendar.round_the_clock:
        return {"always_open": True, "time_zone": calendar.time_zone}
    return {"time_zone": calendar.time_zone,
            "hours": {name: [[_hhmm(s), _hhmm(e)] for s, e in day]
                      for name, day in zip(WEEKDAYS, calendar.hours) if day},
            "holidays": sorted(d.isoformat() for d in calendar.holidays),
            "yearly_holidays": sorted(f"{m:02d}-{d:02d}" for m, d in calendar.yearly_holidays)}
