"""Funnels over ranges of any length: whole weeks come from the weekly rollups, the days
around them from the daily ones. Checked against the clicks themselves, on both backends."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from db.tables import ClickRecord
from resolvers.accounts import account_for_handle
from resolvers.dateranges import DayRange
from resolvers.funnels import BREAKDOWN_DIMENSIONS, load_funnels
from resolvers.recording import write_clicks

# Data over the 45 days up to today (UTC, the tenant's timezone), so that ranges reaching
# today read the current week's rows as a whole.
TODAY = datetime.now(UTC).date()
FIRST_DAY = TODAY - timedelta(days=44)
CAMPAIGNS = {"cmp_a": "purchase", "cmp_b": "purchase"}


def _clicks(account_id: str, handle: str, n: int) -> list[ClickRecord]:
    rng = random.Random(3)
    clicks = []
    for i in range(n):
        day = FIRST_DAY + timedelta(days=rng.randrange(45))
        clicks.append(
            ClickRecord(
                account_id=account_id,
                id=uuid.uuid4().hex,
                handle=handle,
                slug="go",
                campaign_id=rng.choice(list(CAMPAIGNS)),
                occurred_at=datetime.combine(day, datetime.min.time(), UTC)
                + timedelta(hours=9, seconds=i),
                day=day,
                visitor_id=f"v{i}",
                country=rng.choice(["US", "DE", "FR"]),
                device=rng.choice(["mobile", "desktop"]),
                source=rng.choice(["google", "direct", "newsletter", "social"]),
                medium="",
                is_bot=rng.random() < 0.1,
                segment="default",
                destination_url="https://shop.example/",
            )
        )
    return clicks


def _within(click: ClickRecord, days: DayRange | None) -> bool:
    return days is None or days.start <= click.day <= days.end


def _expected(clicks: list[ClickRecord], days: DayRange | None) -> dict:
    counts: dict = {}
    for c in clicks:
        if c.is_bot or (days is not None and not days.start <= c.day <= days.end):
            continue
        for dim in BREAKDOWN_DIMENSIONS:
            key = (c.campaign_id, dim)
            counts.setdefault(key, {})
            value = getattr(c, dim)
            counts[key][value] = counts[key].get(value, 0) + 1
    return counts


async def test_funnels_match_the_clicks_for_any_range(ctx, tenant):
    clicks = _clicks(tenant.account_id, tenant.handle, 600)
    await write_clicks(ctx.sessions, clicks[:300])
    await write_clicks(ctx.sessions, clicks[300:])  # the same weeks again: upserts add up
    rng = random.Random(5)
    ranges: list[DayRange | None] = [None, DayRange(FIRST_DAY, TODAY)]
    for _ in range(25):
        start = FIRST_DAY + timedelta(days=rng.randrange(-3, 40))
        ranges.append(DayRange(start, start + timedelta(days=rng.randrange(0, 35))))
    for back in range(7):  # 30-day dashboards ending today or in the week before
        ranges.append(DayRange(TODAY - timedelta(days=29 + back), TODAY - timedelta(days=back)))
    ranges.append(DayRange(TODAY - timedelta(days=10), TODAY + timedelta(days=3)))
    async with ctx.sessions() as session:
        account = await account_for_handle(session, tenant.handle)
        for days in ranges:
            funnels = await load_funnels(session, account, tenant.handle, CAMPAIGNS, days, False)
            expected = _expected(clicks, days)
            for cid, funnel in funnels.items():
                inside = [c for c in clicks if c.campaign_id == cid and _within(c, days)]
                assert funnel.clicks == len(inside), (days, cid)
                assert funnel.last_seen_at == max((c.occurred_at for c in inside), default=None)
                for dim in BREAKDOWN_DIMENSIONS:
                    assert funnel.breakdown[dim] == expected.get((cid, dim), {}), (days, cid, dim)
            assert sum(f.qualified_clicks for f in funnels.values()) == sum(
                1
                for c in clicks
                if not c.is_bot and (days is None or days.start <= c.day <= days.end)
            )


async def test_bulk_fill_builds_the_weekly_rows_ingest_keeps(ctx, tenant):
    """db.rollups.writes.weekly_fill (bench.generate's, and migration 0006's formulas) sums the day
    rows into the same block rows as ingest maintains, for each phase."""
    from sqlalchemy import text

    from db.rollups.writes import weekly_fill

    clicks = _clicks(tenant.account_id, tenant.handle, 300)
    await write_clicks(ctx.sessions, clicks)
    tables = ("rollup_campaign_weekly", "rollup_breakdown_weekly")
    account = {"account_id": tenant.account_id}

    async def snapshot() -> dict[str, list]:
        async with ctx.sessions() as session:
            return {
                t: sorted(
                    tuple(str(v) for v in row)
                    for row in await session.execute(
                        text(f"SELECT * FROM {t} WHERE account_id = :account_id"), account
                    )
                )
                for t in tables
            }

    kept = await snapshot()
    assert {row[3] for row in kept["rollup_campaign_weekly"]} == {"0", "3"}  # both phases
    async with ctx.sessions() as session:
        for t in tables:
            await session.execute(text(f"DELETE FROM {t} WHERE account_id = :account_id"), account)
        for sql in weekly_fill(session.bind.dialect.name):
            await session.execute(text(sql), account)
        await session.commit()
    assert await snapshot() == kept
