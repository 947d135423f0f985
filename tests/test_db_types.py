"""db.types.UtcDateTime: timestamps come back as aware UTC on both databases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import make_engine
from db.tables import OutboxEvent

TOKYO = timezone(timedelta(hours=9))
INSTANT = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)
table = OutboxEvent.__table__


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _write(
    engine: AsyncEngine, created_at: datetime, next_attempt_at: datetime | None
) -> str:
    event_id = "evt_" + uuid.uuid4().hex
    row = {
        "id": event_id,
        "account_id": "types-test",
        "handle": "types-test",
        "type": "test",
        "payload": {},
        "status": "TEST",
        "attempts": 0,
        "next_attempt_at": next_attempt_at,
        "created_at": created_at,
    }
    async with engine.begin() as conn:
        await conn.execute(insert(table), row)
    return event_id


async def _cleanup(engine: AsyncEngine, event_id: str) -> None:
    async with engine.begin() as conn:
        await conn.execute(delete(table).where(table.c.id == event_id))


async def test_an_aware_value_of_any_offset_is_stored_and_read_back_as_the_same_utc_instant(
    engine: AsyncEngine, backend: str
):
    event_id = await _write(engine, INSTANT.astimezone(TOKYO), None)
    try:
        async with engine.connect() as conn:
            created_at, next_attempt_at = (
                await conn.execute(
                    select(table.c.created_at, table.c.next_attempt_at).where(
                        table.c.id == event_id
                    )
                )
            ).one()
            found = (
                await conn.execute(
                    select(table.c.id).where(table.c.created_at == INSTANT.astimezone(TOKYO))
                )
            ).scalar_one_or_none()
            latest = (
                await conn.execute(
                    select(func.max(table.c.created_at)).where(table.c.id == event_id)
                )
            ).scalar_one()
            stored = (
                await conn.execute(
                    text("SELECT created_at FROM outbox_events WHERE id = :id"), {"id": event_id}
                )
            ).scalar_one()
    finally:
        await _cleanup(engine, event_id)
    assert created_at == INSTANT and created_at.tzinfo is UTC
    assert next_attempt_at is None
    assert found == event_id  # a bound value compares as the same instant
    assert latest == INSTANT and latest.tzinfo is UTC  # max() keeps the column's type
    if backend == "sqlite":  # no time zone type: the text is the naive UTC time
        assert stored == "2026-03-01 00:30:00.000000"
    else:
        assert stored == INSTANT


async def test_naive_values_are_taken_as_utc(engine: AsyncEngine):
    naive = INSTANT.replace(tzinfo=None)
    event_id = await _write(engine, naive, naive + timedelta(minutes=5))
    try:
        async with engine.connect() as conn:
            created_at, next_attempt_at = (
                await conn.execute(
                    select(table.c.created_at, table.c.next_attempt_at).where(
                        table.c.id == event_id
                    )
                )
            ).one()
    finally:
        await _cleanup(engine, event_id)
    assert created_at == INSTANT and created_at.tzinfo is UTC
    assert next_attempt_at == INSTANT + timedelta(minutes=5) and next_attempt_at.tzinfo is UTC
