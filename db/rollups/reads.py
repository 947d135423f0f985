"""Which rollup rows answer a day range: the funnel statements over daily and weekly tiers.

A range reads the 7-day blocks lying wholly inside it from the weekly rollups and only its
edges from the daily ones, in whichever of the two block phases (from Monday, from
Thursday: db.rollups.writes.WEEK_PHASES) fits the range with fewer rows. Two more cuts keep a
30-day dashboard at 5-6 rows per key, whatever the weekday it starts on:

- A last, partial block that reaches the latest day holding data is that block's row as a
  whole: no day after the range exists yet.
- Counts are additive, so a breakdown reads a partial block of 5-6 days as the block minus
  the 1-2 days outside the range (a value seen only in those days sums to 0 and is
  dropped). Totals carry ``max(last_seen_at)``, which cannot be subtracted, so they read
  such edges day by day.

The statements are built once per shape with bound parameters: building a union of
selects and its cache key on every request cost more than reading its rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, bindparam, cast, func, literal, select, union_all

from db.rollups.writes import WEEK_PHASES, local_day, week_of
from db.tables import (
    RollupBreakdownDaily,
    RollupBreakdownWeekly,
    RollupCampaignDaily,
    RollupCampaignWeekly,
)
from resolvers.dateranges import DayRange, split_weeks
from resolvers.domain import EVENT_FUTURE_TOLERANCE, utcnow

BREAKDOWN_DIMENSIONS = ("source", "country", "device")
# Subtracting the missing days of a partial week reads fewer rows from this many days on.
_SUBTRACT_FROM = 5

# Part modes: daily rows added ("days") or subtracted ("minus"), weekly rows over a span
# of Mondays ("weeks"), every weekly row ("all").
Mode = str


@dataclass
class RangeParts:
    """The parts of one statement: their modes (the statement's shape) and parameters,
    the weekly blocks' phase among them."""

    phase: int
    modes: list[Mode] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.params["phase"] = self.phase

    def add(self, mode: Mode, **values: Any) -> None:
        name = f"p{len(self.modes)}"
        self.modes.append(mode)
        self.params |= {f"{name}_{key}": value for key, value in values.items()}

    def add_days(self, span: DayRange, mode: Mode = "days") -> None:
        self.add(mode, start=span.start, end=span.end)

    @property
    def shape(self) -> tuple[Mode, ...]:
        return tuple(self.modes)

    @property
    def rows_per_key(self) -> int:
        """Rollup rows read per key (campaign, dimension, value)."""
        rows = 0
        for i, mode in enumerate(self.modes):
            if mode == "all":
                return 1 << 30
            span = (self.params[f"p{i}_end"] - self.params[f"p{i}_start"]).days
            rows += span // 7 + 1 if mode == "weeks" else span + 1
        return rows


def _within_blocks(edge: DayRange, phase: int) -> list[DayRange]:
    """``edge`` cut where blocks start: each piece lies within one block."""
    pieces, start = [], edge.start
    while start <= edge.end:
        end = min(edge.end, week_of(start, phase) + timedelta(days=6))
        pieces.append(DayRange(start, end))
        start = end + timedelta(days=1)
    return pieces


def latest_data_day(timezone: str) -> date:
    """The last local day that can hold data: today, or tomorrow shortly before midnight
    (an event may be stamped a little ahead of the server's clock)."""
    return local_day(utcnow() + EVENT_FUTURE_TOLERANCE, ZoneInfo(timezone))


def plan_range(days: DayRange | None, latest_day: date, *, subtract: bool) -> RangeParts:
    """The parts reading ``days`` in the phase of weekly blocks that reads the fewest rows
    per key; ``latest_day`` is the last local day that can hold data (today, or tomorrow
    within the tolerance for events stamped slightly ahead)."""
    if days is None:
        parts = RangeParts(phase=WEEK_PHASES[0])
        parts.add("all")
        return parts
    plans = [_plan_phase(days, latest_day, subtract, phase) for phase in WEEK_PHASES]
    return min(plans, key=lambda plan: plan.rows_per_key)


def _plan_phase(days: DayRange, latest_day: date, subtract: bool, phase: int) -> RangeParts:
    split = split_weeks(days, phase)
    starts: set[date] = set()
    if split.weeks is not None:
        starts.update(
            split.weeks.start + timedelta(days=7 * n) for n in range(split.weeks.days // 7 + 1)
        )
    daily: list[tuple[DayRange, Mode]] = []
    for edge in (piece for e in split.edges for piece in _within_blocks(e, phase)):
        first = week_of(edge.start, phase)
        last = first + timedelta(days=6)
        if edge.start == first and edge.end >= latest_day:
            starts.add(first)  # nothing after edge.end exists yet
        elif subtract and edge.days >= _SUBTRACT_FROM:
            starts.add(first)
            if edge.start > first:
                daily.append((DayRange(first, edge.start - timedelta(days=1)), "minus"))
            if edge.end < last:
                daily.append((DayRange(edge.end + timedelta(days=1), last), "minus"))
        else:
            daily.append((edge, "days"))
    # One part per run of consecutive blocks (there is one run: the edge blocks border the
    # whole ones): each part costs an index descent per campaign and dimension.
    parts = RangeParts(phase=phase)
    for run in _runs(sorted(starts)):
        parts.add("weeks", start=run[0], end=run[-1])
    for span, mode in daily:
        parts.add_days(span, mode)
    return parts


def _runs(mondays: list[date]) -> list[list[date]]:
    runs: list[list[date]] = []
    for monday in mondays:
        if runs and monday - runs[-1][-1] == timedelta(days=7):
            runs[-1].append(monday)
        else:
            runs.append([monday])
    return runs


def _period_filter(mode: Mode, name: str, daily: Any, weekly: Any) -> tuple[Any, list[Any]]:
    """The table a part reads and its period condition."""
    if mode in ("days", "minus"):
        return daily, [
            daily.day >= bindparam(f"{name}_start"),
            daily.day <= bindparam(f"{name}_end"),
        ]
    if mode == "weeks":
        return weekly, [
            weekly.phase == bindparam("phase"),
            weekly.week >= bindparam(f"{name}_start"),
            weekly.week <= bindparam(f"{name}_end"),
        ]
    return weekly, [weekly.phase == bindparam("phase")]


def _signed(column: Any, mode: Mode) -> Any:
    return -column if mode == "minus" else column


def _sum(column: Any) -> Any:
    """SUM as a 64-bit integer: PostgreSQL's sum(bigint) is numeric, which arrives as a
    Decimal per row; a dashboard reads a few thousand of them."""
    return cast(func.sum(column), BigInteger)


def _tenant(table: Any) -> list[Any]:
    return [
        table.account_id == bindparam("account_id"),
        table.handle == bindparam("handle"),
        table.campaign_id.in_(bindparam("campaign_ids", expanding=True)),
    ]


def _union(parts: list[Any]) -> Any:
    return union_all(*parts).subquery() if len(parts) > 1 else parts[0].subquery()


@lru_cache(maxsize=64)
def totals_statement(shape: tuple[Mode, ...], include_test: bool) -> Any:
    """Clicks, bots and events per campaign, event type and currency (parameters:
    account_id, handle, campaign_ids and the parts')."""
    parts = []
    for i, mode in enumerate(shape):
        table, period = _period_filter(mode, f"p{i}", RollupCampaignDaily, RollupCampaignWeekly)
        where = [*_tenant(table), *period]
        if not include_test:
            where.append(table.is_test.is_(False))
        parts.append(
            select(
                table.campaign_id,
                table.kind,
                table.event_type,
                table.currency,
                table.count,
                table.value_micros,
                table.attributed,
                table.last_seen_at,
            ).where(*where)
        )
    rows = _union(parts)
    keys = (rows.c.campaign_id, rows.c.kind, rows.c.event_type, rows.c.currency)
    return select(
        *keys,
        _sum(rows.c.count),
        _sum(rows.c.value_micros),
        _sum(rows.c.attributed),
        func.max(rows.c.last_seen_at),
    ).group_by(*keys)


@lru_cache(maxsize=64)
def breakdown_statement(shape: tuple[Mode, ...]) -> Any:
    """Qualified clicks per campaign, dimension and value (same parameters)."""
    parts = []
    for i, mode in enumerate(shape):
        table, period = _period_filter(mode, f"p{i}", RollupBreakdownDaily, RollupBreakdownWeekly)
        parts.append(
            select(
                table.campaign_id,
                table.dimension,
                table.value,
                _signed(table.count, mode).label("count"),
            ).where(
                *_tenant(table),
                table.kind == "click",
                table.dimension.in_(BREAKDOWN_DIMENSIONS),
                *period,
            )
        )
    rows = _union(parts)
    keys = (rows.c.campaign_id, rows.c.dimension, rows.c.value)
    total = _sum(rows.c.count)
    # A value seen only in subtracted days sums to 0; a stored count is never 0.
    return select(*keys, total).group_by(*keys).having(total > literal(0))
