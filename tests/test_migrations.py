"""The Alembic chain builds the schema the models describe, on SQLite and on PostgreSQL.

These tests build their own empty databases (no app fixtures), so they run once each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from db.engine import make_engine
from db.migrate import alembic_config, upgrade
from db.tables import metadata
from tests.pg_admin import scratch_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with scratch_database("fg_migrate") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return request.getfixturevalue(fixture)


def _describe(connection: Connection) -> dict[str, Any]:
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    version = None
    if "alembic_version" in tables:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    columns = {
        table: {c["name"] for c in inspector.get_columns(table)}
        for table in tables
        if table != "alembic_version"
    }
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return {
        "tables": tables,
        "version": version,
        "columns": columns,
        "diff": compare_metadata(context, metadata),
    }


def describe(url: str) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        engine = make_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(_describe)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def head_revision(url: str) -> str:
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    assert head is not None
    return head


def test_empty_database_starts_without_tables(empty_database):
    assert describe(empty_database)["tables"] == set()


def test_upgrade_to_head_creates_exactly_the_model_tables(empty_database):
    upgrade(empty_database)
    schema = describe(empty_database)
    assert schema["tables"] - {"alembic_version"} == set(metadata.tables)
    assert "alembic_version" in schema["tables"]
    assert schema["version"] == head_revision(empty_database)


def test_migrated_columns_match_the_models(empty_database):
    upgrade(empty_database)
    schema = describe(empty_database)
    expected = {name: {c.name for c in table.columns} for name, table in metadata.tables.items()}
    assert schema["columns"] == expected
    # Alembic's own comparison (tables, columns, types, indexes, constraints) finds no drift.
    assert schema["diff"] == []


def test_upgrade_is_idempotent(empty_database):
    upgrade(empty_database)
    first = describe(empty_database)
    upgrade(empty_database)
    second = describe(empty_database)
    assert second["tables"] == first["tables"]
    assert second["version"] == first["version"]


def test_every_tenant_table_carries_account_id():
    # The spec's distribution story: every tenant table has a tenant column.
    global_tables = {"accounts"}
    for name, table in metadata.tables.items():
        if name in global_tables:
            continue
        assert "account_id" in table.columns, name


def test_0006_fills_the_weekly_rollups_from_the_day_rows(empty_database):
    """Upgrading a database with traffic: each phase's 7-day blocks hold the sums of their
    days (checked against db.rollups.writes.week_of)."""
    from datetime import UTC, date, datetime, timedelta

    from db.rollups.writes import WEEK_PHASES, week_of

    upgrade(empty_database, "0005")
    first = date(2026, 3, 1)  # a Sunday
    campaign_rows = [
        {
            "day": first + timedelta(days=d),
            "kind": kind,
            "count": 10 * d + 1,
            "seen": datetime(2026, 3, 1, tzinfo=UTC) + timedelta(days=d, hours=d),
        }
        for d in range(16)
        for kind in ("click", "bot")
    ]
    breakdown_rows = [
        {"day": first + timedelta(days=d), "value": value, "count": d + len(value)}
        for d in range(16)
        for value in ("US", "DE")
    ]

    async def load_and_read() -> tuple[list, list]:
        engine = make_engine(empty_database)
        try:
            async with engine.begin() as conn:
                for r in campaign_rows:
                    await conn.execute(
                        text(
                            "INSERT INTO rollup_campaign_daily VALUES ('a', 'h', 'c', :day, "
                            ":kind, '', '', false, :count, 0, 0, :seen)"
                        ),
                        r,
                    )
                for r in breakdown_rows:
                    await conn.execute(
                        text(
                            "INSERT INTO rollup_breakdown_daily (account_id, handle, kind, "
                            "dimension, campaign_id, day, value, event_type, currency, "
                            "is_test, count, value_micros) VALUES ('a', 'h', 'click', "
                            "'country', 'c', :day, :value, '', '', false, :count, 0)"
                        ),
                        r,
                    )
            await asyncio.to_thread(upgrade, empty_database)
            async with engine.connect() as conn:
                campaign = (
                    await conn.execute(
                        text(
                            "SELECT phase, week, kind, count, last_seen_at "
                            "FROM rollup_campaign_weekly"
                        )
                    )
                ).all()
                breakdown = (
                    await conn.execute(
                        text("SELECT phase, week, value, count FROM rollup_breakdown_weekly")
                    )
                ).all()
            return campaign, breakdown
        finally:
            await engine.dispose()

    campaign, breakdown = asyncio.run(load_and_read())
    want_campaign: dict = {}
    for r in campaign_rows:
        for phase in WEEK_PHASES:
            key = (phase, week_of(r["day"], phase), r["kind"])
            count, seen = want_campaign.get(key, (0, r["seen"]))
            want_campaign[key] = (count + r["count"], max(seen, r["seen"]))

    def moment(value: Any) -> datetime:  # SQLite hands back text
        value = datetime.fromisoformat(value) if isinstance(value, str) else value
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    got_campaign = {
        (p, date.fromisoformat(str(w)), k): (c, moment(s)) for p, w, k, c, s in campaign
    }
    assert got_campaign == want_campaign
    want_breakdown: dict = {}
    for r in breakdown_rows:
        for phase in WEEK_PHASES:
            key = (phase, week_of(r["day"], phase), r["value"])
            want_breakdown[key] = want_breakdown.get(key, 0) + r["count"]
    assert {(p, date.fromisoformat(str(w)), v): c for p, w, v, c in breakdown} == want_breakdown
