"""Date ranges (``YYYYMMDD,YYYYMMDD`` or a named range), resolved to the inclusive local
days of an account."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from resolvers.errors import InvalidInput
from resolvers.storable import MAX_TIMESTAMP, MIN_TIMESTAMP

NAMED_RANGES = (
    "today",
    "yesterday",
    "last_7_days",
    "last_30_days",
    "this_week",
    "last_week",
    "this_month",
    "last_month",
    "this_year",
)
MAX_RANGE_DAYS = 3660
# The days a range may name: those of the storable timestamps, so that a day's bounds, the
# next day and the week blocks around a range stay inside what date and the databases hold.
FIRST_DAY = MIN_TIMESTAMP.date()
LAST_DAY = MAX_TIMESTAMP.date() - timedelta(days=1)


@dataclass(frozen=True)
class DayRange:
    start: date
    end: date  # inclusive

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class WeekSplit:
    """A day range as the 7-day blocks wholly inside it (the range of their first days)
    and the days before and after those blocks."""

    weeks: DayRange | None
    edges: tuple[DayRange, ...]


def split_weeks(days: DayRange, phase: int = 0) -> WeekSplit:
    """Blocks start on weekday ``phase`` (0 = Monday: ISO weeks)."""
    first_start = days.start + timedelta(days=(phase - days.start.weekday()) % 7)
    last_end = days.end - timedelta(days=(days.end.weekday() - phase - 6) % 7)
    if last_end < first_start:
        return WeekSplit(None, (days,))
    edges = []
    if days.start < first_start:
        edges.append(DayRange(days.start, first_start - timedelta(days=1)))
    if last_end < days.end:
        edges.append(DayRange(last_end + timedelta(days=1), days.end))
    return WeekSplit(DayRange(first_start, last_end - timedelta(days=6)), tuple(edges))


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _named(name: str, today: date) -> DayRange:
    if name == "today":
        return DayRange(today, today)
    if name == "yesterday":
        y = today - timedelta(days=1)
        return DayRange(y, y)
    if name == "last_7_days":
        return DayRange(today - timedelta(days=6), today)
    if name == "last_30_days":
        return DayRange(today - timedelta(days=29), today)
    if name == "this_week":
        return DayRange(today - timedelta(days=today.weekday()), today)
    if name == "last_week":
        monday = today - timedelta(days=today.weekday() + 7)
        return DayRange(monday, monday + timedelta(days=6))
    if name == "this_month":
        return DayRange(_month_start(today), today)
    if name == "last_month":
        last_of_previous = _month_start(today) - timedelta(days=1)
        return DayRange(_month_start(last_of_previous), last_of_previous)
    if name == "this_year":
        return DayRange(today.replace(month=1, day=1), today)
    raise AssertionError(name)


def _parse_day(text: str) -> date:
    if len(text) != 8 or not (text.isascii() and text.isdigit()):
        raise ValueError(text)
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


def parse_date_range(
    value: str, timezone: str, now: datetime | None = None, param: str = "date_range"
) -> DayRange:
    """``YYYYMMDD,YYYYMMDD`` (inclusive) or a named range, relative to today in ``timezone``."""
    text = value.strip().lower()
    if text in NAMED_RANGES:
        moment = now or datetime.now(ZoneInfo("UTC"))
        return _named(text, moment.astimezone(ZoneInfo(timezone)).date())
    parts = text.split(",")
    if len(parts) != 2:
        raise InvalidInput(
            f"Invalid parameter: {param} must be YYYYMMDD,YYYYMMDD or one of "
            f"{', '.join(NAMED_RANGES)}."
        )
    try:
        start, end = _parse_day(parts[0].strip()), _parse_day(parts[1].strip())
    except ValueError as exc:
        raise InvalidInput(f"Invalid parameter: {param} has an invalid date '{value}'.") from exc
    if not (FIRST_DAY <= start and end <= LAST_DAY):
        raise InvalidInput(
            f"Invalid parameter: {param} must lie between {FIRST_DAY:%Y%m%d} and {LAST_DAY:%Y%m%d}."
        )
    if start > end:
        raise InvalidInput(f"Invalid parameter: {param} starts after it ends.")
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput(f"Invalid parameter: {param} spans more than {MAX_RANGE_DAYS} days.")
    return DayRange(start, end)
