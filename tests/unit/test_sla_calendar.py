"""Business calendar arithmetic: worked examples plus hypothesis properties across DST."""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.sla.calendar import (ROUND_THE_CLOCK, BusinessCalendar, CalendarError,
                                   add_business_time, business_time_between, from_spec,
                                   interval_problems, parse_minute)

UTC = timezone.utc
OFFICE = {"mon": [["09:00", "18:00"]], "tue": [["09:00", "18:00"]], "wed": [["09:00", "18:00"]],
          "thu": [["09:00", "18:00"]], "fri": [["09:00", "18:00"]]}
MOSCOW = from_spec({"time_zone": "Europe/Moscow", "hours": OFFICE})
BERLIN = from_spec({"time_zone": "Europe/Berlin", "hours": OFFICE})
NEW_YORK = from_spec({"time_zone": "America/New_York", "hours": OFFICE})
# Lunch break, Saturday mornings, and a round-the-clock Sunday that crosses DST at night.
SPLIT = from_spec({"time_zone": "Europe/Berlin", "hours": {
    "mon": [["09:00", "13:00"], ["14:00", "18:00"]], "tue": [["08:30", "12:00"]],
    "wed": [["00:00", "02:30"], ["03:00", "24:00"]], "sat": [["10:00", "14:00"]],
    "sun": [["00:00", "24:00"]]}, "holidays": ["2024-12-31"], "yearly_holidays": ["01-01"]})
# Russian New Year holidays: Jan 1-8 every year, spanning a weekend.
RUSSIAN = from_spec({"time_zone": "Europe/Moscow", "hours": OFFICE,
                     "yearly_holidays": [f"01-0{d}" for d in range(1, 9)],
                     "holidays": ["2024-05-10"]})
# Sunday night shifts whose edges fall inside the spring gap and the repeated autumn hour
# (every switch sampled below is a Sunday around 02:00 local time).
NIGHT_SHIFTS = [from_spec({"time_zone": zone, "hours": {
    "sun": [["01:00", "02:15"], ["02:30", "02:45"], ["03:00", "04:00"], ["10:00", "24:00"]],
    "mon": [["00:00", "09:00"]]}}) for zone in ("Europe/Berlin", "America/New_York",
                                               "Europe/Moscow")]
CALENDARS = [MOSCOW, BERLIN, NEW_YORK, SPLIT, RUSSIAN, ROUND_THE_CLOCK,
             from_spec({"time_zone": "America/New_York", "always_open": True})] + NIGHT_SHIFTS
# Every hour of every day, but with a (long past) holiday: the day-by-day path, not the
# round-the-clock shortcut, which must still count exactly the real time across switches.
ALL_DAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
EVERY_HOUR = [from_spec({"time_zone": zone, "hours": ALL_DAYS, "holidays": ["1999-01-01"]})
              for zone in ("Europe/Berlin", "America/New_York", "Europe/Moscow")]


def msk(*args):
    return datetime(*args, tzinfo=ZoneInfo("Europe/Moscow"))


def test_friday_evening_plus_four_hours_is_monday_lunchtime():
    friday = msk(2026, 11, 20, 17, 30)
    assert add_business_time(MOSCOW, friday, timedelta(hours=4)) == msk(2026, 11, 23, 12, 30)
    assert business_time_between(MOSCOW, friday, msk(2026, 11, 23, 12, 30)) == timedelta(hours=4)


def test_ending_at_closing_time_ends_there_not_next_morning():
    assert add_business_time(MOSCOW, msk(2026, 11, 23, 9), timedelta(hours=9)) == \
        msk(2026, 11, 23, 18)


def test_start_outside_hours_waits_for_opening():
    assert add_business_time(MOSCOW, msk(2026, 11, 21, 3), timedelta(minutes=1)) == \
        msk(2026, 11, 23, 9, 1)


def test_new_year_holidays_spanning_a_weekend_are_skipped():
    dec30 = msk(2023, 12, 29, 17)  # Friday; Jan 1-8 2024 are holidays, Jan 9 is a Tuesday
    assert add_business_time(RUSSIAN, dec30, timedelta(hours=2)) == msk(2024, 1, 9, 10)
    assert business_time_between(RUSSIAN, dec30, msk(2024, 1, 9, 10)) == timedelta(hours=2)


def test_fixed_holiday_only_that_year():
    may9 = msk(2024, 5, 9, 17)  # Thursday; Friday May 10 2024 is a holiday
    assert add_business_time(RUSSIAN, may9, timedelta(hours=2)) == msk(2024, 5, 13, 10)
    may9_2025 = msk(2025, 5, 8, 17)  # May 10 2025 is a Saturday anyway; May 9 works here
    assert add_business_time(RUSSIAN, may9_2025, timedelta(hours=2)) == msk(2025, 5, 9, 10)


@pytest.mark.parametrize("zone, day, hours", [
    ("Europe/Berlin", date(2024, 3, 31), 23),  # spring forward
    ("Europe/Berlin", date(2024, 10, 27), 25),  # fall back
    ("America/New_York", date(2024, 3, 10), 23),
    ("America/New_York", date(2024, 11, 3), 25),
    ("Europe/Moscow", date(2024, 3, 31), 24),  # Moscow has no DST since 2014
    ("Europe/Moscow", date(2011, 3, 27), 23),  # ... but had it in 2011
])
def test_a_round_the_clock_day_lasts_what_the_wall_clock_says(zone, day, hours):
    calendar = from_spec({"time_zone": zone, "hours": {d: [["00:00", "24:00"]] for d in
                                                         ("mon", "tue", "wed", "thu", "fri",
                                                          "sat", "sun")},
                          "holidays": ["1999-01-01"]})  # a holiday forces the slow path
    start = datetime.combine(day, datetime.min.time(), ZoneInfo(zone))
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), ZoneInfo(zone))
    assert business_time_between(calendar, start, end) == timedelta(hours=hours)


def test_working_hours_inside_the_spring_gap():
    # Berlin 2024-03-31 02:00-03:00 does not exist: 02:30 reads as the jump (03:00 CEST).
    calendar = from_spec({"time_zone": "Europe/Berlin",
                          "hours": {"sun": [["01:00", "02:30"], ["02:45", "04:00"]]}})
    day = datetime(2024, 3, 31, tzinfo=ZoneInfo("Europe/Berlin"))
    assert business_time_between(calendar, day, day + timedelta(days=1)) == timedelta(hours=2)


def test_office_hours_keep_nine_hours_on_dst_days():
    berlin = ZoneInfo("Europe/Berlin")  # the clocks go forward on Sunday 2024-03-31
    assert add_business_time(BERLIN, datetime(2024, 3, 29, 17, 30, tzinfo=berlin),
                             timedelta(hours=1)) == datetime(2024, 4, 1, 9, 30, tzinfo=berlin)
    ny = ZoneInfo("America/New_York")
    assert business_time_between(NEW_YORK, datetime(2024, 11, 1, 9, tzinfo=ny),
                                 datetime(2024, 11, 4, 18, tzinfo=ny)) == timedelta(hours=18)


def test_a_calendar_with_no_hours_refuses_instead_of_looping():
    with pytest.raises(CalendarError):
        add_business_time(BusinessCalendar(hours=((),) * 7), datetime(2024, 1, 1, tzinfo=UTC),
                          timedelta(minutes=1))


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError):
        add_business_time(MOSCOW, datetime(2024, 1, 1), timedelta(minutes=1))


@pytest.mark.parametrize("text, minute", [("00:00", 0), ("09:30", 570), ("24:00", 1440)])
def test_parse_minute(text, minute):
    assert parse_minute(text) == minute


@pytest.mark.parametrize("text", ["9:00", "24:01", "12:60", "ab:cd", "", "12-00"])
def test_parse_minute_refuses(text):
    with pytest.raises(ValueError):
        parse_minute(text)


def test_interval_problems_name_overlaps_and_backwards_intervals():
    assert interval_problems([(540, 780), (840, 1080)]) == []
    assert interval_problems([(540, 780), (720, 1080)]) == ["09:00-13:00 overlaps 12:00-18:00"]
    assert "ends before it starts" in interval_problems([(1080, 540)])[0]


# --------------------------------------------------------------------------- properties

# Instants from 2010 to 2030 (covers Moscow's 2011/2014 changes and every DST switch since).
instants = st.datetimes(min_value=datetime(2010, 1, 1), max_value=datetime(2030, 1, 1),
                        timezones=st.just(UTC))


def offset_switches(zone_name: str, years) -> list[datetime]:
    """The instants (UTC) at which the zone's UTC offset changed during ``years``."""
    zone, found = ZoneInfo(zone_name), []
    for year in years:
        hour = datetime(year, 1, 1, tzinfo=UTC)
        while hour.year == year:
            if (hour + timedelta(hours=1)).astimezone(zone).utcoffset() != \
                    hour.astimezone(zone).utcoffset():
                found.append(hour + timedelta(hours=1))  # switches happen on the hour in UTC
            hour += timedelta(hours=1)
    return found


def holiday_edges(calendar: BusinessCalendar, days) -> list[datetime]:
    """Local midnights around each holiday and the office opening and closing next to it."""
    edges = []
    for day in days:
        for shift in (-1, 0, 1):
            local = datetime.combine(day + timedelta(days=shift), datetime.min.time(),
                                     calendar.zone)
            edges += [local.astimezone(UTC), (local + timedelta(hours=9)).astimezone(UTC),
                      (local + timedelta(hours=18)).astimezone(UTC)]
    return edges


# Where calendars are easiest to get wrong: the DST switches of Berlin and New York, Moscow's
# last spring-forward (2011) and its return to standard time (2014), and the edges of
# holidays (New Year holidays across a weekend, a fixed one-off holiday, a yearly one).
SWITCHES = sorted(set(
    offset_switches("Europe/Berlin", (2024, 2025)) + offset_switches("America/New_York", (2024,))
    + offset_switches("Europe/Moscow", (2011, 2014))
    + holiday_edges(RUSSIAN, [date(2024, 1, 1), date(2024, 1, 8), date(2024, 5, 10)])
    + holiday_edges(SPLIT, [date(2024, 12, 31), date(2025, 1, 1)])))
near_switches = st.builds(
    lambda switch, offset: switch + timedelta(seconds=offset), st.sampled_from(SWITCHES),
    st.one_of(st.just(0), st.integers(-120, 120), st.integers(-4 * 86400, 4 * 86400)))
moments = st.one_of(instants, near_switches)
durations = st.integers(min_value=0, max_value=30 * 24 * 3600).map(lambda s: timedelta(seconds=s))
short_durations = st.integers(min_value=0, max_value=6 * 3600).map(lambda s: timedelta(seconds=s))
calendars = st.sampled_from(CALENDARS)
PROPERTY = settings(max_examples=150, deadline=None)


def test_the_switches_sampled_are_the_real_ones():
    assert datetime(2024, 3, 31, 1, tzinfo=UTC) in SWITCHES  # Berlin, spring forward
    assert datetime(2024, 11, 3, 6, tzinfo=UTC) in SWITCHES  # New York, fall back
    assert datetime(2011, 3, 26, 23, tzinfo=UTC) in SWITCHES  # Moscow, the last spring forward
    assert datetime(2014, 10, 25, 22, tzinfo=UTC) in SWITCHES  # Moscow, back to UTC+3


@PROPERTY
@given(calendars, moments, st.one_of(durations, short_durations))
def test_measuring_what_was_added_gives_it_back(calendar, start, duration):
    end = add_business_time(calendar, start, duration)
    assert end >= start
    assert business_time_between(calendar, start, end) == duration


@PROPERTY
@given(calendars, moments, st.one_of(durations, short_durations), durations)
def test_adding_is_monotonic_and_composes(calendar, start, d1, d2):
    first = add_business_time(calendar, start, min(d1, d2))
    second = add_business_time(calendar, start, max(d1, d2))
    assert first <= second
    if d1 > timedelta(0):  # a later start mid-interval continues from where the first ended
        assert add_business_time(calendar, add_business_time(calendar, start, d1), d2) == \
            add_business_time(calendar, start, d1 + d2)


@PROPERTY
@given(calendars, moments, moments, moments)
def test_between_is_additive_and_bounded_by_real_time(calendar, a, b, c):
    a, b, c = sorted((a, b, c))
    ab, bc = business_time_between(calendar, a, b), business_time_between(calendar, b, c)
    assert ab + bc == business_time_between(calendar, a, c)
    assert timedelta(0) <= ab <= b - a


hours_around = st.integers(0, 8 * 3600).map(lambda s: timedelta(seconds=s))


@PROPERTY
@given(calendars, near_switches, hours_around, hours_around)
def test_a_stretch_across_a_switch_splits_there_and_adds_back(calendar, switch, before, after):
    a, c = switch - before, switch + after
    whole = business_time_between(calendar, a, c)
    assert business_time_between(calendar, a, switch) + \
        business_time_between(calendar, switch, c) == whole
    end = add_business_time(calendar, a, whole)
    assert end <= c and business_time_between(calendar, a, end) == whole


@PROPERTY
@given(st.sampled_from(EVERY_HOUR), moments, moments)
def test_every_hour_open_counts_real_time_across_switches(calendar, a, b):
    a, b = sorted((a, b))
    assert business_time_between(calendar, a, b) == b - a
    assert add_business_time(calendar, a, b - a) == b


@PROPERTY
@given(st.sampled_from([MOSCOW, BERLIN, NEW_YORK]), moments)
def test_office_hours_count_whole_weeks_as_45_hours(calendar, start):
    # Aware arithmetic in the calendar's zone is wall-clock arithmetic: a week on the office
    # clock, whatever DST did meanwhile.
    week_later = start.astimezone(calendar.zone) + timedelta(weeks=1)
    assert business_time_between(calendar, start, week_later) == timedelta(hours=45)
