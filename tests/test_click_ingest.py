"""The one-statement click write (PostgreSQL's redirect hot path) against apply_rollups."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text

from db.rollups.batch import ClickLane
from db.rollups.writes import apply_rollups
from db.tables import ClickRecord

ROLLUP_TABLES = (
    "rollup_campaign_daily",
    "rollup_campaign_weekly",
    "rollup_breakdown_daily",
    "rollup_breakdown_weekly",
    "rollup_cube_daily",
)


@pytest.fixture
def engine(app, backend):
    if backend != "postgresql":
        pytest.skip("the one-statement click write is PostgreSQL's; SQLite uses apply_rollups")
    return app.state.services.engine


def _varied_clicks(account_id: str, n: int, seed: int = 7) -> list[ClickRecord]:
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
    clicks = []
    for i in range(n):
        at = start + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
        clicks.append(
            ClickRecord(
                account_id=account_id,
                id=f"k{seed}{i:020d}",
                handle="shop",
                slug=rng.choice(["spring", "summer", "promo"]),
                campaign_id=rng.choice(["cmp_a", "cmp_b", "cmp_b", None, ""]),
                occurred_at=at,
                day=(at + timedelta(hours=2)).date(),  # a local day that is not UTC's
                visitor_id=uuid.uuid4().hex,
                country=rng.choice(["US", "DE", "unknown"]),
                device=rng.choice(["MOBILE", "DESKTOP", "TABLET"]),
                source=rng.choice(["google", "search", "direct", "newsletter"]),
                medium=rng.choice(["", "cpc", "email"]),
                is_bot=rng.random() < 0.2,
                segment=rng.choice(["default", "vip-offer"]),
                destination_url="https://shop.example/x",
            )
        )
    return clicks


async def _rollups(engine, account_id: str) -> dict[str, list[tuple]]:
    found = {}
    async with engine.connect() as conn:
        for table in ROLLUP_TABLES:
            rows = (
                await conn.execute(
                    text(f"SELECT * FROM {table} WHERE account_id = :a"), {"a": account_id}
                )
            ).mappings()
            found[table] = sorted(
                tuple(sorted((k, v) for k, v in row.items() if k != "account_id")) for row in rows
            )
    return found


async def _clicks_stored(engine, account_id: str) -> int:
    async with engine.connect() as conn:
        return (
            await conn.execute(
                text("SELECT count(*) FROM clicks WHERE account_id = :a"), {"a": account_id}
            )
        ).scalar_one()


async def test_one_statement_matches_apply_rollups_and_counts_a_replay_once(engine, ctx):
    by_statement, by_python = uuid.uuid4().hex[:24], uuid.uuid4().hex[:24]
    clicks = _varied_clicks(by_statement, 400)
    lane = ClickLane(engine)
    try:
        assert await lane.write(clicks[:250]) == 250
        # The second batch repeats 50 clicks of the first: only the 150 new ones count.
        assert await lane.write(clicks[200:]) == 150
        before_replay = await _rollups(engine, by_statement)
        assert await lane.write(clicks) == 0
    finally:
        await lane.close()
    assert await _rollups(engine, by_statement) == before_replay
    assert await _clicks_stored(engine, by_statement) == 400

    async with ctx.sessions() as session:
        await apply_rollups(session, _varied_clicks(by_python, 400), [])
        await session.commit()
    expected = await _rollups(engine, by_python)
    assert all(expected[t] for t in ROLLUP_TABLES)
    assert before_replay == expected
    campaign_rows = expected["rollup_campaign_daily"]
    clicks_counted = sum(dict(r)["count"] for r in campaign_rows)
    assert clicks_counted == sum(1 for c in clicks if c.campaign_id)


async def test_a_lane_reconnects_when_its_connection_was_killed(engine):
    account_id = uuid.uuid4().hex[:24]
    clicks = _varied_clicks(account_id, 20, seed=9)
    lane = ClickLane(engine)
    try:
        assert await lane.write(clicks[:10]) == 10
        pid = lane._raw.get_server_pid()
        async with engine.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        assert await lane.write(clicks[10:]) == 10
        assert lane._raw.get_server_pid() != pid
    finally:
        await lane.close()
    assert await _clicks_stored(engine, account_id) == 20


async def test_a_statement_refused_for_its_data_writes_nothing_and_keeps_the_connection(engine):
    account_id = uuid.uuid4().hex[:24]
    clicks = _varied_clicks(account_id, 5, seed=11)
    clicks[3].id = "x" * 40  # longer than the column: the whole batch fails
    lane = ClickLane(engine)
    try:
        await lane.write(clicks[:1])
        connection = lane._raw
        with pytest.raises(Exception, match="too long"):
            await lane.write(clicks)
        # The rows' fault, not the connection's: the writer splits the batch on it.
        assert lane._raw is connection
        assert await lane.write(clicks[:3]) == 2
    finally:
        await lane.close()
    assert await _clicks_stored(engine, account_id) == 3
    assert date(2026, 3, 1) <= min(c.day for c in clicks)


async def test_a_closed_lane_hands_its_connection_back_with_custom_plans(app, engine):
    from db.engine import make_engine

    # One pooled connection: the lane's, then the next user's.
    single = make_engine(app.state.services.settings.database_url, pool_size=1, max_overflow=0)
    try:
        lane = ClickLane(single)
        assert await lane.write(_varied_clicks(uuid.uuid4().hex[:24], 3, seed=13)) == 3
        assert await lane._raw.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        await lane.close()
        async with single.connect() as conn:
            mode = (await conn.execute(text("SHOW plan_cache_mode"))).scalar_one()
        assert mode == "force_custom_plan"
    finally:
        await single.dispose()
