"""Unit tests of resolvers.dateranges.parse_date_range with a fixed ``now`` and timezones.

No app fixtures: these run once, not per backend."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from resolvers.dateranges import MAX_RANGE_DAYS, DayRange, parse_date_range, split_weeks
from resolvers.errors import InvalidInput

# 02:00 UTC on Sunday 1 March 2026: still Saturday 28 February in New York (21:00 EST).
NOW = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)


def rng(value: str, tz: str = "UTC", now: datetime = NOW) -> tuple[date, date]:
    r = parse_date_range(value, tz, now=now)
    return r.start, r.end


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- named ranges around a local day that differs from the UTC day -------------------------


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("today", "2026-02-28", "2026-02-28"),
        ("yesterday", "2026-02-27", "2026-02-27"),
        ("last_7_days", "2026-02-22", "2026-02-28"),
        ("last_30_days", "2026-01-30", "2026-02-28"),
        ("this_week", "2026-02-23", "2026-02-28"),  # weeks start on Monday
        ("last_week", "2026-02-16", "2026-02-22"),
        ("this_month", "2026-02-01", "2026-02-28"),
        ("last_month", "2026-01-01", "2026-01-31"),
        ("this_year", "2026-01-01", "2026-02-28"),
    ],
)
def test_named_ranges_in_new_york_use_the_local_day(name, start, end):
    assert rng(name, "America/New_York") == (d(start), d(end))


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("today", "2026-03-01", "2026-03-01"),
        ("yesterday", "2026-02-28", "2026-02-28"),
        ("last_7_days", "2026-02-23", "2026-03-01"),
        ("this_week", "2026-02-23", "2026-03-01"),  # Sunday closes the week that began Monday
        ("last_week", "2026-02-16", "2026-02-22"),
        ("this_month", "2026-03-01", "2026-03-01"),
        ("last_month", "2026-02-01", "2026-02-28"),
        ("this_year", "2026-01-01", "2026-03-01"),
    ],
)
def test_the_same_instant_in_utc_is_the_next_day(name, start, end):
    assert rng(name, "UTC") == (d(start), d(end))


def test_timezones_ahead_of_utc_are_already_tomorrow():
    # 20:00 UTC on 28 Feb = 05:00 on 1 March in Tokyo.
    now = datetime(2026, 2, 28, 20, 0, tzinfo=UTC)
    assert rng("today", "Asia/Tokyo", now) == (d("2026-03-01"), d("2026-03-01"))
    assert rng("today", "UTC", now) == (d("2026-02-28"), d("2026-02-28"))
    assert rng("last_month", "Asia/Tokyo", now) == (d("2026-02-01"), d("2026-02-28"))
    assert rng("last_month", "UTC", now) == (d("2026-01-01"), d("2026-01-31"))


def test_a_now_in_another_offset_is_converted_not_read_as_local():
    # The same instant as NOW, expressed in +09:00.
    same = NOW.astimezone(timezone(timedelta(hours=9)))
    assert rng("today", "America/New_York", same) == (d("2026-02-28"), d("2026-02-28"))


def test_year_boundary_new_years_eve_in_los_angeles():
    # 03:00 UTC on 1 Jan 2026 = 19:00 on 31 Dec 2025 in Los Angeles.
    now = datetime(2026, 1, 1, 3, 0, tzinfo=UTC)
    tz = "America/Los_Angeles"
    assert rng("today", tz, now) == (d("2025-12-31"), d("2025-12-31"))
    assert rng("this_month", tz, now) == (d("2025-12-01"), d("2025-12-31"))
    assert rng("last_month", tz, now) == (d("2025-11-01"), d("2025-11-30"))
    assert rng("this_year", tz, now) == (d("2025-01-01"), d("2025-12-31"))
    # In UTC it is already the new year.
    assert rng("this_year", "UTC", now) == (d("2026-01-01"), d("2026-01-01"))
    assert rng("last_month", "UTC", now) == (d("2025-12-01"), d("2025-12-31"))
    assert rng("yesterday", "UTC", now) == (d("2025-12-31"), d("2025-12-31"))


def test_weeks_across_the_year_boundary():
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday
    assert rng("this_week", "UTC", now) == (d("2026-01-05"), d("2026-01-05"))
    assert rng("last_week", "UTC", now) == (d("2025-12-29"), d("2026-01-04"))
    assert rng("last_7_days", "UTC", now) == (d("2025-12-30"), d("2026-01-05"))
    assert rng("last_30_days", "UTC", now) == (d("2025-12-07"), d("2026-01-05"))


def test_last_month_of_a_leap_february():
    now = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    assert rng("last_month", "UTC", now) == (d("2024-02-01"), d("2024-02-29"))


def test_last_month_from_a_31st():
    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    assert rng("last_month", "Europe/Madrid", now) == (d("2026-02-01"), d("2026-02-28"))


def test_dst_change_day():
    # US clocks spring forward on 8 March 2026 at 02:00 local.
    now = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST
    assert rng("today", "America/New_York", now) == (d("2026-03-08"), d("2026-03-08"))
    later = datetime(2026, 3, 9, 3, 30, tzinfo=UTC)  # 23:30 EDT on the 8th
    assert rng("today", "America/New_York", later) == (d("2026-03-08"), d("2026-03-08"))


@pytest.mark.parametrize("name", ["TODAY", " Last_7_Days ", "This_Month"])
def test_named_ranges_are_case_and_space_insensitive(name):
    assert parse_date_range(name, "UTC", now=NOW).end == d("2026-03-01")


def test_named_ranges_without_now_use_the_clock():
    before = datetime.now(UTC).date()
    r = parse_date_range("today", "UTC")
    after = datetime.now(UTC).date()
    assert r.start == r.end
    assert r.start in (before, after)


# --- custom ranges ---------------------------------------------------------------------------


def test_custom_range_is_inclusive_and_ignores_now_and_timezone():
    r = parse_date_range("20230601,20230630", "Pacific/Kiritimati", now=NOW)
    assert r == DayRange(d("2023-06-01"), d("2023-06-30"))
    assert r.days == 30


def test_single_day_custom_range():
    assert rng("20240229,20240229") == (d("2024-02-29"), d("2024-02-29"))


def test_custom_range_tolerates_spaces_around_parts():
    assert rng(" 20230601 , 20230630 ") == (d("2023-06-01"), d("2023-06-30"))


def test_longest_allowed_span():
    start = date(2015, 1, 1)
    end = date.fromordinal(start.toordinal() + MAX_RANGE_DAYS - 1)
    r = parse_date_range(f"{start:%Y%m%d},{end:%Y%m%d}", "UTC")
    assert r.days == MAX_RANGE_DAYS
    too_far = date.fromordinal(end.toordinal() + 1)
    with pytest.raises(InvalidInput):
        parse_date_range(f"{start:%Y%m%d},{too_far:%Y%m%d}", "UTC")


@pytest.mark.parametrize(
    "value",
    [
        "2023-06-01,2023-06-30",
        "20230631,20230701",  # 31 June
        "20230230,20230301",
        "20231301,20231302",
        "20230701,20230601",  # reversed
        "20230601",
        "20230601,",
        ",20230601",
        "20230601,20230630,20230701",
        "2023061,20230630",
        "202306011,20230630",
        "abcdefgh,20230630",
        "",
        "   ",
        "tomorrow",
        "last_90_days",
        "this-month",
    ],
)
def test_bad_ranges_are_invalid_input_naming_the_parameter(value):
    with pytest.raises(InvalidInput) as info:
        parse_date_range(value, "UTC", now=NOW)
    assert "date_range" in info.value.message
    assert info.value.status == 400


def test_the_parameter_name_in_messages_is_configurable():
    with pytest.raises(InvalidInput) as info:
        parse_date_range("nope", "UTC", now=NOW, param="dateRange")
    assert "dateRange" in info.value.message


# --- whole weeks inside a range (the weekly breakdown rollup) -------------------------------


@pytest.mark.parametrize(
    ("start", "end", "weeks", "edges"),
    [
        # Monday to Sunday: one week, no edge days.
        ("2026-03-02", "2026-03-08", ("2026-03-02", "2026-03-02"), []),
        # Tuesday to the next Monday: no whole week.
        ("2026-03-03", "2026-03-09", None, [("2026-03-03", "2026-03-09")]),
        # 30 days from a Wednesday: three weeks, five days before, four after.
        (
            "2026-02-25",
            "2026-03-26",
            ("2026-03-02", "2026-03-16"),
            [("2026-02-25", "2026-03-01"), ("2026-03-23", "2026-03-26")],
        ),
        # One day.
        ("2026-03-04", "2026-03-04", None, [("2026-03-04", "2026-03-04")]),
    ],
)
def test_split_weeks(start, end, weeks, edges):
    split = split_weeks(DayRange(d(start), d(end)))
    assert split.weeks == (DayRange(d(weeks[0]), d(weeks[1])) if weeks else None)
    assert split.edges == tuple(DayRange(d(a), d(b)) for a, b in edges)


@pytest.mark.parametrize("phase", range(7))
def test_split_weeks_covers_every_day_once(phase):
    for offset in range(14):
        start = date(2026, 2, 23) + timedelta(days=offset)
        for length in range(1, 45):
            days = DayRange(start, start + timedelta(days=length - 1))
            split = split_weeks(days, phase)
            covered = [e.start + timedelta(days=i) for e in split.edges for i in range(e.days)]
            if split.weeks is not None:
                assert split.weeks.start.weekday() == split.weeks.end.weekday() == phase
                weeks = split.weeks.days // 7 + 1
                covered += [split.weeks.start + timedelta(days=i) for i in range(7 * weeks)]
            expected = [days.start + timedelta(days=i) for i in range(days.days)]
            assert sorted(covered) == expected
            assert split.weeks is None or len(split.edges) <= 2
