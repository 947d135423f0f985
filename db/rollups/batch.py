"""A batch of clicks and every rollup it feeds, written by ONE PostgreSQL statement.

The redirect hot path: ``INSERT … SELECT FROM unnest(…)`` for the raw rows, then
data-modifying CTEs that fold the rows *really inserted* (``RETURNING``, so a replayed
click id never counts twice) into each rollup table with one aggregated upsert. A single
statement is its own transaction: one round trip and one commit per batch, no Python-side
aggregation. The rollup shapes come from ``db.rollups.writes`` (the same key tuples), and tests
check the result against ``apply_rollups`` row for row.
"""

from __future__ import annotations

import asyncio
import logging
from functools import lru_cache
from operator import attrgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import SQLModel

from db.bulk import pg_unnest_sql
from db.faults import is_data_error
from db.rollups.writes import (
    _BREAKDOWN_KEYS,
    _BREAKDOWN_WEEKLY_KEYS,
    _CAMPAIGN_KEYS,
    _CAMPAIGN_MEASURES,
    _CAMPAIGN_WEEKLY_KEYS,
    _CUBE_KEYS,
    _SUM,
    BREAKDOWN_DIMENSIONS,
    WEEK_PHASES,
    _pg_conflict,
    pg_block_start,
    sql_total,
)
from db.tables import (
    Click,
    ClickRecord,
    RollupBreakdownDaily,
    RollupBreakdownWeekly,
    RollupCampaignDaily,
    RollupCampaignWeekly,
    RollupCubeDaily,
    table_of,
)

log = logging.getLogger("funnelgate.ingest")

CLICK_COLUMNS = tuple(col.name for col in table_of(Click).columns)
_COLUMN_GETTERS = tuple(attrgetter(name) for name in CLICK_COLUMNS)

# A click as a rollup fact (what db.rollups.writes._fact_rows builds in Python). Text keys sort
# and group byte-wise (COLLATE "C"): several times cheaper than a locale's comparisons, and
# the order Python's sort of the same strings gives the conversion path.
_TEXT_FACTS = ("account_id", "handle", "campaign_id", "slug", "source", "medium", "country")
_FACT_COLUMNS = {
    **{name: f'{name} COLLATE "C"' for name in _TEXT_FACTS},
    "day": "day",
    "device": 'device COLLATE "C"',
    "segment": 'segment COLLATE "C"',
    "kind": "CASE WHEN is_bot THEN 'bot' ELSE 'click' END COLLATE \"C\"",
    "event_type": "'' COLLATE \"C\"",
    "currency": "'' COLLATE \"C\"",
    "is_test": "false",
    "count": "1::bigint",
    "value_micros": "0::bigint",
    "attributed": "0::bigint",
    "last_seen_at": "occurred_at",
}
_PHASES = "(VALUES {}) AS p(phase)".format(
    ", ".join(f"(CAST({p} AS smallint))" for p in WEEK_PHASES)
)
_RETURNED = ", ".join(
    ("account_id", "handle", "campaign_id", "day", "slug", "source", "medium", "country")
    + ("device", "segment", "is_bot", "occurred_at")
)


def _quoted(names: tuple[str, ...]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _fold(
    cte: str, table: type[SQLModel], source: str, keys: tuple[str, ...], measures: tuple[str, ...]
) -> str:
    aggregates = ", ".join(sql_total(m) for m in measures)
    # Rows go in key order, so concurrent batches lock shared rollup rows in the same order.
    return (
        f'{cte} AS (INSERT INTO "{table.__tablename__}" ({_quoted(keys + measures)}) '
        f"SELECT {_quoted(keys)}, {aggregates} FROM {source} "
        f"GROUP BY {_quoted(keys)} ORDER BY {_quoted(keys)} "
        f"{_pg_conflict(table, keys, measures)})"
    )


@lru_cache(maxsize=1)
def click_batch_sql() -> str:
    """The statement; parameters are one array per column of ``clicks``, in CLICK_COLUMNS
    order. It returns the number of clicks inserted."""
    insert = pg_unnest_sql(
        table_of(Click),
        CLICK_COLUMNS,
        f'ON CONFLICT ("account_id", "id") DO NOTHING RETURNING {_RETURNED}',
    )
    facts = ", ".join(f'{expr} AS "{name}"' for name, expr in _FACT_COLUMNS.items())
    dimensions = ", ".join(
        f"('{d}', c.{'slug' if d == 'link' else d})" for d in BREAKDOWN_DIMENSIONS
    )
    measures = ", ".join(f'{sql_total(m)} AS "{m}"' for m in _CAMPAIGN_MEASURES)
    ctes = [
        f"inserted AS ({insert})",
        f"facts AS (SELECT {facts} FROM inserted "
        "WHERE campaign_id IS NOT NULL AND campaign_id <> '')",
        # The batch at the cube's grain first (hashed, no sort): the other rollups are
        # coarser, so they fold these few rows instead of every click.
        f"cube AS MATERIALIZED (SELECT {_quoted(_CUBE_KEYS)}, {measures} FROM facts "
        f"GROUP BY {_quoted(_CUBE_KEYS)})",
        "exploded AS (SELECT c.*, d.dimension, d.value FROM cube c "
        f"CROSS JOIN LATERAL (VALUES {dimensions}) AS d(dimension, value))",
        # Each row again in each phase's 7-day block (db.rollups.writes.WEEK_PHASES).
        f"cube_weeks AS (SELECT c.*, p.phase, {pg_block_start('c.day', 'p.phase')} AS week "
        f"FROM cube c CROSS JOIN {_PHASES})",
        f"exploded_weeks AS (SELECT e.*, p.phase, {pg_block_start('e.day', 'p.phase')} AS week "
        f"FROM exploded e CROSS JOIN {_PHASES})",
        _fold("campaign_rows", RollupCampaignDaily, "cube", _CAMPAIGN_KEYS, _CAMPAIGN_MEASURES),
        _fold(
            "campaign_weekly_rows",
            RollupCampaignWeekly,
            "cube_weeks",
            _CAMPAIGN_WEEKLY_KEYS,
            _CAMPAIGN_MEASURES,
        ),
        _fold("breakdown_rows", RollupBreakdownDaily, "exploded", _BREAKDOWN_KEYS, _SUM),
        _fold(
            "breakdown_weekly_rows",
            RollupBreakdownWeekly,
            "exploded_weeks",
            _BREAKDOWN_WEEKLY_KEYS,
            _SUM,
        ),
        _fold("cube_rows", RollupCubeDaily, "cube", _CUBE_KEYS, _SUM),
    ]
    return f"WITH {', '.join(ctes)} SELECT count(*) FROM inserted"


def click_batch_args(clicks: list[ClickRecord]) -> list[list[Any]]:
    """One array per column, for ``click_batch_sql``."""
    return [[get(c) for c in clicks] for get in _COLUMN_GETTERS]


async def write_click_batch(connection: Any, clicks: list[ClickRecord]) -> int:
    """Insert ``clicks`` and their rollups on a raw asyncpg connection (autocommit: the
    statement is the transaction). Returns how many were new."""
    return int(await connection.fetchval(click_batch_sql(), *click_batch_args(clicks)))


class _KeepConnection(Exception):
    """Carries a data error out of the retry loop without discarding the connection."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class ClickLane:
    """One ingest writer's own PostgreSQL connection for click batches.

    A batch is one autocommit statement: one round trip, without the pool's checkout ping
    and reset. The statement is idempotent (click ids are unique and only inserted rows
    reach the rollups), so it is safely run again: after a deadlock, and on a fresh
    connection when a reused one fails (it may have died while idle: a server restart, an
    idle timeout). A failure discards the connection, whose state is then unknown (a
    timeout's cancellation included); the next batch reconnects.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._raw: Any = None  # the asyncpg connection under it (asyncpg has no types)

    async def write(self, clicks: list[ClickRecord]) -> int:
        try:
            for attempt in range(3):
                reused = self._raw is not None
                if not reused:
                    self._conn = await self._engine.connect()
                    self._raw = (await self._conn.get_raw_connection()).driver_connection
                    # Its plan does not depend on the values (arrays): plan it once.
                    await self._raw.execute("SET plan_cache_mode = force_generic_plan")
                try:
                    return await write_click_batch(self._raw, clicks)
                except Exception as exc:
                    if is_data_error(exc):
                        # The rows' fault: the statement failed alone (autocommit) and the
                        # connection is fine; the writer splits the batch.
                        raise _KeepConnection(exc) from exc
                    deadlock = getattr(exc, "sqlstate", None) == "40P01"
                    if attempt == 2 or not (deadlock or reused):
                        raise
                    if not deadlock:
                        await self._discard()
            raise AssertionError("unreachable")
        except _KeepConnection as kept:
            raise kept.error from None
        except BaseException:
            await self._discard()
            raise

    async def _discard(self) -> None:
        conn, self._conn, self._raw = self._conn, None, None
        if conn is not None:
            try:
                await asyncio.shield(conn.invalidate())
            except BaseException:  # noqa: BLE001 - the connection is gone either way
                log.debug("click lane connection discarded uncleanly", exc_info=True)

    async def close(self) -> None:
        conn, raw, self._conn, self._raw = self._conn, self._raw, None, None
        if conn is None:
            return
        try:
            # Back to the pool as it came: other users want plans made for their values.
            await raw.execute("RESET plan_cache_mode")
        except Exception:  # noqa: BLE001 - a broken connection is not worth keeping
            await conn.invalidate()
        await conn.close()
