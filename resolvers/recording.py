"""One transaction of clicks and conversions with their rollups: what the ingest writer,
journal replay, bulk loaders and the demo commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.bulk import pg_insert_unnest
from db.dialect import is_postgresql
from db.engine import insert_for
from db.rollups.batch import ClickLane
from db.rollups.writes import apply_rollups
from db.tables import Click, ClickRecord, Conversion, table_of

if TYPE_CHECKING:  # resolvers.conversions imports this module
    from resolvers.accounts import AccountInfo
    from resolvers.conversions import ConversionInput, ConversionResult
    from resolvers.errors import DomainError

_CLICKS = table_of(Click)
_CLICK_COLUMNS = tuple(col.name for col in _CLICKS.columns)


@dataclass
class ConversionBatch:
    """One caller's conversion events, written together inside a larger transaction."""

    account: AccountInfo
    handle: str
    events: list[ConversionInput | DomainError]
    is_test: bool


async def write_batch(
    sessions: async_sessionmaker[AsyncSession],
    clicks: list[ClickRecord],
    conversion_jobs: Sequence[ConversionBatch],
    lane: ClickLane | None = None,
) -> dict[int, list[ConversionResult]]:
    """One transaction: clicks, then each conversion job, then one rollup upsert per table.

    Clicks go first so a conversion may name a click of the same batch. Only rows really
    inserted reach the rollups, so a replayed click id or event id never counts twice.
    """
    from resolvers.conversions import ingest_events

    if clicks and not conversion_jobs and is_postgresql(sessions):
        # Outside a writer (journal replay, bulk loads): a lane for this batch alone.
        batch_lane = lane or ClickLane(sessions.kw["bind"])
        try:
            await batch_lane.write(clicks)
        finally:
            if lane is None:
                await batch_lane.close()
        return {}
    results: dict[int, list[ConversionResult]] = {}
    async with sessions() as session:
        inserted_clicks: list[ClickRecord] = []
        if clicks:
            rows = [_row(c) for c in clicks]
            if is_postgresql(session):
                result = await pg_insert_unnest(
                    session,
                    _CLICKS,
                    rows,
                    'ON CONFLICT ("account_id", "id") DO NOTHING RETURNING "id"',
                )
            else:
                result = await session.execute(
                    insert_for(session)(_CLICKS)
                    .on_conflict_do_nothing(index_elements=["account_id", "id"])
                    .returning(_CLICKS.c.id),
                    rows,
                )
            inserted = set(result.scalars().all())
            inserted_clicks = [c for c in clicks if c.id in inserted]
        recorded: list[Conversion] = []
        for job in conversion_jobs:
            results[id(job)] = await ingest_events(
                session,
                job.account,
                job.handle,
                job.events,
                is_test=job.is_test,
                recorded_sink=recorded,
            )
        await apply_rollups(session, inserted_clicks, recorded)
        await session.commit()
    return results


async def write_clicks(
    sessions: async_sessionmaker[AsyncSession], clicks: list[ClickRecord]
) -> None:
    """Insert ``clicks`` and their rollups in one transaction (bulk loaders, the demo)."""
    await write_batch(sessions, clicks, [])


def _row(click: ClickRecord) -> dict[str, object]:
    return {name: getattr(click, name) for name in _CLICK_COLUMNS}
