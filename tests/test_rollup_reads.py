"""Unit tests of db.rollups.reads.plan_range: the parts of a range count each day of
the range exactly once and no other day that can hold data."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from db.rollups.reads import RangeParts, plan_range
from resolvers.dateranges import DayRange

LATEST = date(2026, 3, 18)  # a Wednesday


def _multiplicity(parts: RangeParts) -> Counter:
    """How many times each day is counted (subtracted days count -1)."""
    counted: Counter = Counter()
    for i, mode in enumerate(parts.modes):
        p = {k.split("_", 1)[1]: v for k, v in parts.params.items() if k.startswith(f"p{i}_")}
        if mode in ("days", "minus"):
            span = [p["start"] + timedelta(days=n) for n in range((p["end"] - p["start"]).days + 1)]
        else:
            assert mode == "weeks"
            span = [p["start"] + timedelta(days=n) for n in range((p["end"] - p["start"]).days + 7)]
        for day in span:
            counted[day] += -1 if mode == "minus" else 1
    return counted


@pytest.mark.parametrize("subtract", [False, True])
def test_every_day_of_the_range_once_and_no_other_day_with_data(subtract):
    for offset in range(60):
        start = LATEST - timedelta(days=offset)
        for length in (1, 2, 3, 4, 5, 6, 7, 8, 13, 14, 15, 29, 30, 31, 45, 70):
            days = DayRange(start, start + timedelta(days=length - 1))
            parts = plan_range(days, LATEST, subtract=subtract)
            counted = _multiplicity(parts)
            for day in set(counted) | {days.start + timedelta(days=n) for n in range(length)}:
                if day > LATEST:
                    continue  # no data there yet
                want = 1 if days.start <= day <= days.end else 0
                assert counted[day] == want, (days, day, parts.modes)
            assert subtract or "minus" not in parts.modes


def test_a_30_day_dashboard_reads_few_rows_per_key_on_any_weekday():
    for weekday in range(7):
        latest = LATEST + timedelta(days=weekday)
        days = DayRange(latest - timedelta(days=29), latest)
        parts = plan_range(days, latest, subtract=True)
        assert parts.rows_per_key <= 6, (days, parts.phase, parts.modes)
        assert parts.modes.count("weeks") == 1 and len(parts.modes) <= 3, parts.modes


def test_the_phase_with_fewer_rows_is_chosen():
    # Thursday to Friday four weeks later, on that Friday: blocks from Thursday fit it
    # (four blocks and the current one); ISO weeks would leave four days at the start.
    friday = date(2026, 3, 20)
    parts = plan_range(DayRange(friday - timedelta(days=29), friday), friday, subtract=False)
    assert parts.phase == 3 and parts.modes == ["weeks"] and parts.rows_per_key == 5


def test_all_time_reads_every_week():
    assert plan_range(None, LATEST, subtract=True).modes == ["all"]
