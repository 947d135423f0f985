"""Rollup maintenance: one aggregated upsert per table per ingest batch.

Called inside the transaction that inserts the raw events, so figures and events commit
together. Measures are additive, so concurrent batches merge with ``count = count + n``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from db.bulk import pg_insert_unnest
from db.tables import (
    ClickRecord,
    Conversion,
    RollupBreakdownDaily,
    RollupBreakdownWeekly,
    RollupCampaignDaily,
    RollupCampaignWeekly,
    RollupCubeDaily,
    table_of,
)

BREAKDOWN_DIMENSIONS = ("source", "medium", "country", "device", "link", "segment")


# The weekly rollups keep two sets of 7-day blocks: ISO weeks (phase 0, from Monday) and
# blocks from Thursday (phase 3). Any 30-day range is then at most 6 rows per key away:
# the reader picks the phase whose blocks fit the range best.
WEEK_PHASES = (0, 3)


def week_of(day: date, phase: int = 0) -> date:
    """The first day of the 7-day block holding ``day``; blocks start on weekday ``phase``
    (0 = Monday: the ISO week)."""
    return day - timedelta(days=(day.weekday() - phase) % 7)


def pg_block_start(day: str, phase: str) -> str:
    """``week_of`` in PostgreSQL, over SQL expressions (isodow: Monday = 1)."""
    return f"({day} - (CAST(extract(isodow FROM {day}) AS integer) + 6 - {phase}) % 7)"


def sql_total(measure: str) -> str:
    """How a measure adds up over rows: ``last_seen_at`` is the latest, the rest sum."""
    return f'max("{measure}")' if measure == "last_seen_at" else f'sum("{measure}")'


def _fact_rows(
    clicks: Iterable[ClickRecord], conversions: Iterable[Conversion]
) -> list[dict[str, Any]]:
    """Normalise clicks and conversions to one fact shape with additive measures."""
    facts: list[dict[str, Any]] = []
    for c in clicks:
        if not c.campaign_id:
            continue
        facts.append(
            {
                "account_id": c.account_id,
                "handle": c.handle,
                "campaign_id": c.campaign_id,
                "day": c.day,
                "slug": c.slug,
                "source": c.source,
                "medium": c.medium,
                "country": c.country,
                "device": c.device,
                "segment": c.segment,
                "kind": "bot" if c.is_bot else "click",
                "event_type": "",
                "currency": "",
                "is_test": False,
                "count": 1,
                "value_micros": 0,
                "attributed": 0,
                "last_seen_at": c.occurred_at,
            }
        )
    for e in conversions:
        if not e.campaign_id:
            continue
        facts.append(
            {
                "account_id": e.account_id,
                "handle": e.handle,
                "campaign_id": e.campaign_id,
                "day": e.day,
                "slug": e.slug or "",
                "source": e.source,
                "medium": e.medium,
                "country": e.country,
                "device": e.device,
                "segment": e.segment,
                "kind": "event",
                "event_type": e.event_type,
                "currency": e.currency or "",
                "is_test": e.is_test,
                "count": 1,
                "value_micros": e.value_micros or 0,
                "attributed": 1 if e.attributed else 0,
                "last_seen_at": e.occurred_at,
            }
        )
    return facts


def _aggregate(
    facts: list[dict[str, Any]], keys: tuple[str, ...], measures: tuple[str, ...]
) -> list[dict[str, Any]]:
    acc: dict[tuple[Any, ...], dict[str, Any]] = {}
    for f in facts:
        key = tuple(f[k] for k in keys)
        row = acc.get(key)
        if row is None:
            row = acc[key] = {k: f[k] for k in keys} | {m: 0 for m in measures}
            if "last_seen_at" in measures:
                row["last_seen_at"] = f["last_seen_at"]
        for m in measures:
            if m == "last_seen_at":
                row[m] = max(row[m], f[m])
            else:
                row[m] += f[m]
    return list(acc.values())


async def _upsert(
    session: AsyncSession,
    table: type[SQLModel],
    rows: list[dict[str, Any]],
    keys: tuple[str, ...],
    measures: tuple[str, ...],
) -> None:
    if not rows:
        return
    # Sorted so that concurrent batches lock rollup rows in the same order (no deadlocks).
    rows.sort(key=lambda r: tuple(str(r[k]) for k in keys))
    if session.bind.dialect.name == "postgresql":
        await pg_insert_unnest(session, table_of(table), rows, _pg_conflict(table, keys, measures))
        return
    stmt = sqlite_insert(table_of(table))
    excluded = stmt.excluded
    col = table_of(table).c
    sets: dict[str, Any] = {}
    for m in measures:
        if m == "last_seen_at":
            sets[m] = func.max(func.coalesce(col[m], excluded[m]), excluded[m])
        else:
            sets[m] = col[m] + excluded[m]
    await session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=sets), rows)


def _pg_conflict(table: type[SQLModel], keys: tuple[str, ...], measures: tuple[str, ...]) -> str:
    name = table.__tablename__
    sets = []
    for m in measures:
        if m == "last_seen_at":
            sets.append(
                f'"{m}" = GREATEST(COALESCE("{name}"."{m}", EXCLUDED."{m}"), EXCLUDED."{m}")'
            )
        else:
            sets.append(f'"{m}" = "{name}"."{m}" + EXCLUDED."{m}"')
    targets = ", ".join(f'"{k}"' for k in keys)
    return f"ON CONFLICT ({targets}) DO UPDATE SET {', '.join(sets)}"


def _key(table: type[SQLModel]) -> tuple[str, ...]:
    """A rollup's grouping key: its primary key, which its upserts' ON CONFLICT names, in
    the key's own order (the order rows are locked in)."""
    return tuple(column.name for column in table_of(table).primary_key.columns)


_CAMPAIGN_KEYS = _key(RollupCampaignDaily)
_CAMPAIGN_WEEKLY_KEYS = _key(RollupCampaignWeekly)
_BREAKDOWN_KEYS = _key(RollupBreakdownDaily)
_BREAKDOWN_WEEKLY_KEYS = _key(RollupBreakdownWeekly)
_CUBE_KEYS = _key(RollupCubeDaily)
_CAMPAIGN_MEASURES = ("count", "value_micros", "attributed", "last_seen_at")
_SUM = ("count", "value_micros")


def _in_blocks(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row once in each phase's 7-day block."""
    return [r | {"phase": p, "week": week_of(r["day"], p)} for r in rows for p in WEEK_PHASES]


def rollup_upserts(
    clicks: Iterable[ClickRecord], conversions: Iterable[Conversion]
) -> list[tuple[type[SQLModel], list[dict[str, Any]], tuple[str, ...], tuple[str, ...]]]:
    """(table, rows, key columns, measures) for each rollup table, rows aggregated."""
    facts = _fact_rows(clicks, conversions)
    if not facts:
        return []
    exploded = [
        f | {"dimension": dim, "value": f["slug"] if dim == "link" else f[dim]}
        for f in facts
        for dim in BREAKDOWN_DIMENSIONS
    ]
    weekly_facts, weekly_exploded = _in_blocks(facts), _in_blocks(exploded)
    return [
        (
            RollupCampaignDaily,
            _aggregate(facts, _CAMPAIGN_KEYS, _CAMPAIGN_MEASURES),
            _CAMPAIGN_KEYS,
            _CAMPAIGN_MEASURES,
        ),
        (
            RollupCampaignWeekly,
            _aggregate(weekly_facts, _CAMPAIGN_WEEKLY_KEYS, _CAMPAIGN_MEASURES),
            _CAMPAIGN_WEEKLY_KEYS,
            _CAMPAIGN_MEASURES,
        ),
        (RollupBreakdownDaily, _aggregate(exploded, _BREAKDOWN_KEYS, _SUM), _BREAKDOWN_KEYS, _SUM),
        (
            RollupBreakdownWeekly,
            _aggregate(weekly_exploded, _BREAKDOWN_WEEKLY_KEYS, _SUM),
            _BREAKDOWN_WEEKLY_KEYS,
            _SUM,
        ),
        (RollupCubeDaily, _aggregate(facts, _CUBE_KEYS, _SUM), _CUBE_KEYS, _SUM),
    ]


async def apply_rollups(
    session: AsyncSession, clicks: Iterable[ClickRecord], conversions: Iterable[Conversion]
) -> None:
    for table, rows, keys, measures in rollup_upserts(clicks, conversions):
        await _upsert(session, table, rows, keys, measures)


def weekly_fill(dialect: str) -> list[str]:
    """SQL that sums ``:account_id``'s day rows into the weekly rollups, each phase's
    blocks (bulk loads write day rows only; migration 0006 does the same for everyone)."""
    statements = []
    for phase in WEEK_PHASES:
        if dialect == "postgresql":
            week = pg_block_start("day", str(phase))
        else:  # SQLite: %w is 0 for Sunday
            back = f"(CAST(strftime('%w', day) AS integer) + {6 - phase}) % 7"
            week = f"date(day, '-' || ({back}) || ' days')"
        for table, keys, measures in (
            (RollupCampaignWeekly, _CAMPAIGN_WEEKLY_KEYS, _CAMPAIGN_MEASURES),
            (RollupBreakdownWeekly, _BREAKDOWN_WEEKLY_KEYS, _SUM),
        ):
            source = {"phase": f"CAST({phase} AS SMALLINT)", "week": week}
            grouped = ", ".join(source.get(k, k) for k in keys)
            sums = ", ".join(sql_total(m) for m in measures)
            daily = table.__tablename__.replace("_weekly", "_daily")
            statements.append(
                f"INSERT INTO {table.__tablename__} ({', '.join(keys + measures)}) "
                f"SELECT {grouped}, {sums} FROM {daily} WHERE account_id = :account_id "
                f"GROUP BY {grouped}"
            )
    return statements


def local_day(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()
