"""Deterministic data generator: one account, N campaigns, their links, M clicks and the
conversions those clicks lead to, with the rollups the gateway would have written at ingest.

Raw rows and rollup rows are written together, one transaction per day: the generator builds
a day of clicks and conversions, computes that day's rollup rows with db.rollups.writes' own
aggregation helpers (``_fact_rows`` / ``_aggregate`` and the key tuples), and writes both.
Every daily rollup key holds the day, so the rollup rows of one day never meet those of
another and can be inserted (PostgreSQL: ``COPY``) instead of upserted; the weekly
rollups are summed from the day rows at the end (``db.rollups.writes.weekly_fill``).

    python -m bench.generate --clicks 1000000            # fresh PostgreSQL database, dropped
    python -m bench.generate --clicks 10000000 --keep    # keep it for the other benchmarks
    python -m bench.generate --database-url sqlite+aiosqlite:///./bench.db --clicks 100000
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import math
import os
import random
import sys
import time
from collections import Counter, namedtuple
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

if __package__ in (None, ""):  # ``python bench/generate.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    add_database_args,
    asyncpg_dsn,
    bench_database,
    emit_json,
    is_postgres,
    progress,
    say,
)
from db.rollups.writes import (  # noqa: E402
    _BREAKDOWN_KEYS,
    _CAMPAIGN_KEYS,
    _CAMPAIGN_MEASURES,
    _CUBE_KEYS,
    _SUM,
    BREAKDOWN_DIMENSIONS,
    _aggregate,
    _fact_rows,
    apply_rollups,
    weekly_fill,
)
from db.tables import (  # noqa: E402
    Click,
    Conversion,
    RollupBreakdownDaily,
    RollupCampaignDaily,
    RollupCubeDaily,
)

CLICK_COLUMNS = tuple(c.name for c in Click.__table__.columns)
CONVERSION_COLUMNS = tuple(c.name for c in Conversion.__table__.columns)
# Rows are namedtuples: attribute access for _fact_rows, plain tuples for COPY.
ClickRow = namedtuple("ClickRow", CLICK_COLUMNS)  # type: ignore[misc]
ConversionRow = namedtuple("ConversionRow", CONVERSION_COLUMNS)  # type: ignore[misc]
ROLLUP_TABLES = {
    t.__tablename__: tuple(c.name for c in t.__table__.columns)
    for t in (RollupCampaignDaily, RollupBreakdownDaily, RollupCubeDaily)
}

GOALS = (  # goalType, conversion event type, conversion rate per qualified click
    ("PRODUCT_SALE", "purchase", 0.018),
    ("LEAD_CAPTURE", "lead", 0.035),
    ("NEWSLETTER", "newsletter_signup", 0.05),
    ("APP_INSTALL", "app_install", 0.022),
    ("AFFILIATE_CLICKOUT", "affiliate_click", 0.08),
)
GOAL_MIX = (0.6, 0.15, 0.1, 0.1, 0.05)
THEMES = (
    "spring-sale",
    "summer-drop",
    "back-to-school",
    "black-friday",
    "holiday-gifts",
    "new-arrivals",
    "clearance",
    "loyalty",
    "brand-launch",
    "influencer",
)
# (utm_source or referrer class, utm_medium, is utm, base weight)
TRAFFIC = (
    ("google", "cpc", True, 16.0),
    ("facebook", "paid_social", True, 10.0),
    ("instagram", "paid_social", True, 9.0),
    ("newsletter", "email", True, 8.0),
    ("tiktok", "paid_social", True, 5.0),
    ("bing", "cpc", True, 2.0),
    ("partner-blog", "affiliate", True, 2.5),
    ("youtube", "video", True, 2.0),
    ("search", "", False, 12.0),
    ("social", "", False, 9.0),
    ("email", "", False, 4.0),
    ("direct", "", False, 14.0),
    ("referral", "", False, 5.5),
)
COUNTRIES = (
    ("US", 34.0),
    ("GB", 9.0),
    ("DE", 8.0),
    ("FR", 6.0),
    ("CA", 5.0),
    ("IN", 5.0),
    ("BR", 4.0),
    ("AU", 3.5),
    ("ES", 3.0),
    ("IT", 3.0),
    ("NL", 2.5),
    ("MX", 2.5),
    ("JP", 2.0),
    ("SE", 1.5),
    ("PL", 1.5),
    ("CH", 1.0),
    ("IE", 1.0),
    ("ZA", 1.0),
    ("SG", 1.0),
    ("unknown", 3.0),
)
DEVICES = (("mobile", 58.0), ("desktop", 36.0), ("tablet", 6.0))
SEGMENTS = (("default", 86.0), ("vip-offer", 9.0), ("mobile-promo", 5.0))  # promo: mobile only
# Share of clicks per hour of day (UTC): a night trough and an evening peak.
DIURNAL = tuple(0.35 + math.sin(math.pi * max(0, h - 5) / 19) ** 2 for h in range(24))
EUR_SHARE = 0.05
UNATTRIBUTED_SHARE = 0.12


def _cum(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class CampaignPlan:
    campaign_id: str
    handle: str
    goal_type: str
    conversion_event_type: str
    conversion_rate: float
    start_day: int  # first day index with traffic
    weight: float
    slugs: tuple[str, ...]
    link_cum: tuple[float, ...]
    traffic_cum: tuple[float, ...]


@dataclass(frozen=True)
class Plan:
    """Everything a day needs, derived from the options alone (so workers can rebuild days)."""

    seed: int
    account_id: str
    handles: tuple[str, ...]
    start: date
    days: int
    clicks_per_day: tuple[int, ...]
    campaigns: tuple[CampaignPlan, ...]
    bot_share: float
    conversions: bool
    visitors: int

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)


def account_id_for(seed: int) -> str:
    return hashlib.sha256(f"funnelgate-bench:{seed}".encode()).hexdigest()[:24]


def make_plan(
    *,
    seed: int = 1,
    campaigns: int = 50,
    links: int = 4,
    clicks: int = 1_000_000,
    days: int = 60,
    end: date | None = None,
    handles: list[str] | None = None,
    account_id: str | None = None,
    bot_share: float = 0.05,
    conversions: bool = True,
) -> Plan:
    if campaigns < 1 or links < 1 or days < 1 or clicks < 0:
        raise ValueError("campaigns, links and days must be ≥ 1, clicks ≥ 0")
    rng = random.Random(seed)
    end = end or (datetime.now(UTC).date() - timedelta(days=1))
    start = end - timedelta(days=days - 1)
    handles = handles or [f"bench-{seed}"]
    # Days: a growth trend, quieter weekends, some day-to-day noise.
    day_w = [
        (1 + 0.6 * d / max(1, days - 1))
        * (0.78 if (start + timedelta(days=d)).weekday() >= 5 else 1.0)
        * rng.uniform(0.85, 1.15)
        for d in range(days)
    ]
    per_day = _apportion(clicks, day_w)
    # Campaigns: Zipf-like sizes in a shuffled order; some start later in the period.
    ranks = list(range(campaigns))
    rng.shuffle(ranks)
    plans = []
    for i in range(campaigns):
        goal, conv_type, rate = rng.choices(GOALS, weights=GOAL_MIX)[0]
        cid = f"{THEMES[i % len(THEMES)]}-{i:03d}"
        n_links = links
        slugs = tuple(f"{cid}-{j}" if j else cid for j in range(n_links))
        link_w = [1.0 / (j + 1) ** 1.3 for j in range(n_links)]
        traffic_w = [w * rng.lognormvariate(0, 0.6) for *_, w in TRAFFIC]
        start_day = 0 if rng.random() < 0.7 else rng.randrange(max(1, int(days * 0.6)))
        plans.append(
            CampaignPlan(
                cid,
                handles[i % len(handles)],
                goal,
                conv_type,
                rate * rng.uniform(0.6, 1.5),
                start_day,
                1.0 / (ranks[i] + 1) ** 0.9,
                slugs,
                tuple(_cum(link_w)),
                tuple(_cum(traffic_w)),
            )
        )
    return Plan(
        seed,
        account_id or account_id_for(seed),
        tuple(handles),
        start,
        days,
        tuple(per_day),
        tuple(plans),
        bot_share,
        conversions,
        max(1000, clicks // 3),
    )


def _apportion(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to ``weights`` that sum to ``total`` (largest remainder)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: out[i] - raw[i])[: total - sum(out)]:
        out[i] += 1
    return out


# --------------------------------------------------------------------------- one day


@dataclass
class DayChunk:
    day: date
    clicks: list[tuple[Any, ...]]
    conversions: list[tuple[Any, ...]]
    rollups: dict[str, list[tuple[Any, ...]]]
    seconds: float = 0.0  # wall time to build the chunk
    cpu_seconds: float = 0.0  # CPU time of the process that built it


_COUNTRY_CUM = _cum(w for _, w in COUNTRIES)
_COUNTRY = [c for c, _ in COUNTRIES]
_DEVICE_CUM = _cum(w for _, w in DEVICES)
_DEVICE = [d for d, _ in DEVICES]
_SEGMENT_CUM = _cum(w for _, w in SEGMENTS)
_SEGMENT = [s for s, _ in SEGMENTS]
_HOUR_CUM = _cum(DIURNAL)
_METADATA_EMPTY = "{}"
_GOLDEN = 0x9E3779B97F4A7C15  # visitor index → a well-spread 128-bit id
_MASK128 = (1 << 128) - 1


def build_day(plan: Plan, day_index: int) -> tuple[list[ClickRow], list[ConversionRow]]:
    """The clicks and conversions of one day, identical for identical (plan, day_index)."""
    rng = random.Random(plan.seed * 1_000_003 + day_index)
    day = plan.start + timedelta(days=day_index)
    day_start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    last_moment = day_start + timedelta(days=1, microseconds=-1)
    live = [c for c in plan.campaigns if c.start_day <= day_index]
    if not live:
        return [], []
    n_day = plan.clicks_per_day[day_index]
    per_campaign = Counter(rng.choices(range(len(live)), weights=[c.weight for c in live], k=n_day))
    account, seed, n_visitors = plan.account_id, plan.seed, plan.visitors
    clicks: list[ClickRow] = []
    convs: list[ConversionRow] = []
    seq = itertools.count(day_index * 10**9)
    conv_seq = itertools.count(day_index * 10**9)
    dest_cache: dict[tuple[str, int], str] = {}
    for ci in sorted(per_campaign):
        camp = live[ci]
        n = per_campaign[ci]
        handle, cid = camp.handle, camp.campaign_id
        slugs = rng.choices(camp.slugs, cum_weights=camp.link_cum, k=n)
        traffic = rng.choices(range(len(TRAFFIC)), cum_weights=camp.traffic_cum, k=n)
        countries = rng.choices(_COUNTRY, cum_weights=_COUNTRY_CUM, k=n)
        devices = rng.choices(_DEVICE, cum_weights=_DEVICE_CUM, k=n)
        segments = rng.choices(_SEGMENT, cum_weights=_SEGMENT_CUM, k=n)
        hours = rng.choices(range(24), cum_weights=_HOUR_CUM, k=n)
        seconds = sorted(h * 3600 + rng.random() * 3600 for h in hours)
        random_ = rng.random
        bits = rng.getrandbits
        for k in range(n):
            slug = slugs[k]
            at = day_start + timedelta(seconds=seconds[k])
            click_id = f"{next(seq):012x}{bits(48):012x}"
            visitor = f"{(int(random_() * n_visitors) * _GOLDEN + seed) & _MASK128:032x}"
            if random_() < plan.bot_share:
                row = ClickRow(
                    account,
                    click_id,
                    handle,
                    slug,
                    cid,
                    at,
                    day,
                    visitor,
                    countries[k] if random_() < 0.6 else "unknown",
                    "desktop",
                    "direct",
                    "",
                    True,
                    "default",
                    _destination(dest_cache, slug, -1),
                )
                clicks.append(row)
                continue
            t = traffic[k]
            source, medium, _, _ = TRAFFIC[t]
            device = devices[k]
            segment = segments[k]
            if segment == "mobile-promo" and device != "mobile":
                segment = "default"
            row = ClickRow(
                account,
                click_id,
                handle,
                slug,
                cid,
                at,
                day,
                visitor,
                countries[k],
                device,
                source,
                medium,
                False,
                segment,
                _destination(dest_cache, slug, t),
            )
            clicks.append(row)
            if plan.conversions:
                _conversions_of(row, camp, random_, bits, conv_seq, last_moment, convs)
    if plan.conversions and day_index == min(c.start_day for c in plan.campaigns):
        convs.extend(_test_conversions(plan, day, day_start))
    return clicks, convs


def _destination(cache: dict[tuple[str, int], str], slug: str, traffic: int) -> str:
    key = (slug, traffic)
    url = cache.get(key)
    if url is None:
        url = f"https://shop.example.com/l/{slug}"
        if traffic >= 0 and TRAFFIC[traffic][2]:
            url += f"?utm_source={TRAFFIC[traffic][0]}&utm_medium={TRAFFIC[traffic][1]}"
        cache[key] = url
    return url


def _conversions_of(
    click: ClickRow,
    camp: CampaignPlan,
    random_: Callable[[], float],
    bits: Callable[[int], int],
    seq: Iterable[int],
    last_moment: datetime,
    out: list[ConversionRow],
) -> None:
    """The events one qualified click leads to: a monotone funnel by one uniform draw."""
    u = random_()
    rate = camp.conversion_rate
    if camp.goal_type == "PRODUCT_SALE":
        if u >= 0.22:
            return
        steps = [("view_item", 40.0)]
        if u < 0.07:
            steps.append(("add_to_cart", 240.0))
        if u < 0.035:
            steps.append(("begin_checkout", 420.0))
        if u < rate:
            steps.append((camp.conversion_event_type, 600.0))
    else:
        if u >= 0.12:
            return
        steps = [("microconversion", 30.0)]
        if u < rate:
            steps.append((camp.conversion_event_type, 300.0))
    attributed = random_() >= UNATTRIBUTED_SHARE
    at = click.occurred_at
    for event_type, mean_delay in steps:
        at = min(at + timedelta(seconds=mean_delay * (0.2 + 1.6 * random_())), last_moment)
        conv_id = f"{next(seq):012x}{bits(80):020x}"  # type: ignore[call-overload]
        value, currency, metadata = None, "USD", _METADATA_EMPTY
        if event_type == "purchase":
            currency = "EUR" if random_() < EUR_SHARE else "USD"
            value = round(math.exp(3.9 + 0.7 * _gauss(random_)) * 100) * 10_000
            metadata = f'{{"orderId": "o-{conv_id[:16]}"}}'
        elif event_type == "affiliate_click":
            value = round((0.4 + 2.0 * random_()) * 100) * 10_000
        if attributed:
            row = ConversionRow(
                click.account_id,
                conv_id,
                click.handle,
                f"evt-{conv_id}",
                event_type,
                click.campaign_id,
                click.id,
                True,
                click.slug,
                click.source,
                click.medium,
                click.country,
                click.device,
                click.segment,
                value,
                currency,
                metadata,
                False,
                at,
                click.day,
                at + timedelta(milliseconds=150),
            )
        else:
            row = ConversionRow(
                click.account_id,
                conv_id,
                click.handle,
                f"evt-{conv_id}",
                event_type,
                click.campaign_id,
                None,
                False,
                None,
                "direct",
                "",
                "unknown",
                "unknown",
                "default",
                value,
                currency,
                metadata,
                False,
                at,
                click.day,
                at + timedelta(milliseconds=150),
            )
        out.append(row)


def _gauss(random_: Callable[[], float]) -> float:
    # Irwin-Hall approximation: cheap, deterministic given the stream.
    return random_() + random_() + random_() + random_() - 2.0


def _test_conversions(plan: Plan, day: date, day_start: datetime) -> list[ConversionRow]:
    """One test conversion per campaign (excluded from funnels unless asked for)."""
    out = []
    for i, c in enumerate(plan.campaigns):
        at = day_start + timedelta(hours=9, minutes=i)
        conv_id = f"test{plan.seed:08x}{i:020x}"
        out.append(
            ConversionRow(
                plan.account_id,
                conv_id,
                c.handle,
                f"test-{conv_id}",
                c.conversion_event_type,
                c.campaign_id,
                None,
                False,
                None,
                "direct",
                "",
                "unknown",
                "unknown",
                "default",
                None,
                "USD",
                '{"test": true}',
                True,
                at,
                day,
                at,
            )
        )
    return out


# --------------------------------------------------------------------------- rollups


def rollup_rows(
    clicks: Iterable[Any], conversions: Iterable[Any]
) -> dict[str, list[dict[str, Any]]]:
    """The rows ``db.rollups.writes.apply_rollups`` would upsert for these events, per table.

    Uses db.rollups.writes' own ``_fact_rows`` and ``_aggregate`` with its key tuples. One shortcut:
    facts are first aggregated at cube grain. The cube keys are every key a fact has, so the
    result is again a list of facts (counts > 1), and the campaign, breakdown and cube sums
    over it are the sums over the raw facts — with a fraction of the work.
    ``verify_rollup_shortcut`` checks this against apply_rollups itself.
    """
    facts = _aggregate(_fact_rows(clicks, conversions), _CUBE_KEYS, _CAMPAIGN_MEASURES)
    exploded = [
        f | {"dimension": dim, "value": f["slug"] if dim == "link" else f[dim]}
        for f in facts
        for dim in BREAKDOWN_DIMENSIONS
    ]
    return {
        RollupCampaignDaily.__tablename__: _aggregate(facts, _CAMPAIGN_KEYS, _CAMPAIGN_MEASURES),
        RollupBreakdownDaily.__tablename__: _aggregate(exploded, _BREAKDOWN_KEYS, _SUM),
        # Already at cube grain: the cube rows are these facts (the writer keeps the cube's
        # columns: its keys and _SUM).
        RollupCubeDaily.__tablename__: facts,
    }


class _CaptureSession:
    """Stands in for an AsyncSession: records what apply_rollups would upsert."""

    def __init__(self) -> None:
        # The SQLite path of apply_rollups passes rows as a list of dicts (PostgreSQL's sends
        # one array per column); both carry the same rows.
        self.bind = SimpleNamespace(dialect=SimpleNamespace(name="sqlite"))
        self.rows: dict[str, list[dict[str, Any]]] = {}

    async def execute(self, statement: Any, params: Any = None) -> None:
        self.rows[statement.table.name] = [dict(r) for r in params]


async def verify_rollup_shortcut(clicks: list[Any], conversions: list[Any]) -> bool:
    """True when ``rollup_rows`` equals what the ingest path (apply_rollups) computes."""
    capture = _CaptureSession()
    await apply_rollups(capture, clicks, conversions)  # type: ignore[arg-type]
    ours = rollup_rows(clicks, conversions)
    for table, columns in ROLLUP_TABLES.items():
        want = sorted(tuple(str(r[c]) for c in columns) for r in capture.rows.get(table, []))
        got = sorted(tuple(str(r[c]) for c in columns) for r in ours[table])
        if want != got:
            return False
    return True


def make_chunk(plan: Plan, day_index: int) -> DayChunk:
    """One day, ready to write: raw rows as tuples plus that day's rollup rows."""
    t0, c0 = time.perf_counter(), time.process_time()
    clicks, convs = build_day(plan, day_index)
    rollups = rollup_rows(clicks, convs)
    chunk = DayChunk(
        plan.start + timedelta(days=day_index),
        [tuple(c) for c in clicks],
        [tuple(c) for c in convs],
        {t: [tuple(r[c] for c in ROLLUP_TABLES[t]) for r in rows] for t, rows in rollups.items()},
    )
    chunk.seconds = time.perf_counter() - t0
    chunk.cpu_seconds = time.process_time() - c0
    return chunk


# --------------------------------------------------------------------------- writers


class PostgresWriter:
    """asyncpg COPY; one transaction per day (raw rows and rollups commit together)."""

    def __init__(self, database_url: str) -> None:
        self.dsn = asyncpg_dsn(database_url)
        self.conn: Any = None

    async def open(self) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(self.dsn)
        # A bulk loader: the WAL flush per day-transaction is not needed for a benchmark set.
        await self.conn.execute("SET synchronous_commit TO off")

    async def write(self, chunk: DayChunk) -> None:
        async with self.conn.transaction():
            if chunk.clicks:
                await self.conn.copy_records_to_table(
                    "clicks", records=chunk.clicks, columns=CLICK_COLUMNS
                )
            if chunk.conversions:
                await self.conn.copy_records_to_table(
                    "conversions", records=chunk.conversions, columns=CONVERSION_COLUMNS
                )
            for table, rows in chunk.rollups.items():
                if rows:
                    await self.conn.copy_records_to_table(
                        table, records=rows, columns=ROLLUP_TABLES[table]
                    )

    async def finish(self, account_id: str) -> None:
        for sql in weekly_fill("postgresql"):
            await self.conn.execute(sql.replace(":account_id", "$1"), account_id)
        # VACUUM as autovacuum would on a live database: the visibility map lets the
        # dashboards' index-only scans skip the heap.
        weekly = ("rollup_campaign_weekly", "rollup_breakdown_weekly")
        for table in ("clicks", "conversions", *ROLLUP_TABLES, *weekly):
            await self.conn.execute(f"VACUUM (ANALYZE) {table}")

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()


class SqlAlchemyWriter:
    """Any SQLAlchemy database (SQLite): executemany inserts, one transaction per day."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.engine: Any = None

    async def open(self) -> None:
        from db.engine import make_engine

        self.engine = make_engine(self.database_url)

    async def write(self, chunk: DayChunk) -> None:
        from sqlalchemy import insert

        tables = {
            "clicks": (Click.__table__, CLICK_COLUMNS, chunk.clicks),
            "conversions": (Conversion.__table__, CONVERSION_COLUMNS, chunk.conversions),
        }
        for model in (RollupCampaignDaily, RollupBreakdownDaily, RollupCubeDaily):
            name = model.__tablename__
            tables[name] = (model.__table__, ROLLUP_TABLES[name], chunk.rollups[name])
        async with self.engine.begin() as conn:
            for name, (table, columns, rows) in tables.items():
                if not rows:
                    continue
                dicts = [dict(zip(columns, r, strict=True)) for r in rows]
                if name == "conversions":  # the JSON column takes objects, not text
                    for d in dicts:
                        d["metadata"] = json.loads(d["metadata"])
                for i in range(0, len(dicts), 20_000):
                    await conn.execute(insert(table), dicts[i : i + 20_000])

    async def finish(self, account_id: str) -> None:
        from sqlalchemy import text

        async with self.engine.begin() as conn:
            for sql in weekly_fill("sqlite"):
                await conn.execute(text(sql), {"account_id": account_id})
            await conn.execute(text("ANALYZE"))

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()


# --------------------------------------------------------------------------- tenant rows


async def create_tenant(database_url: str, plan: Plan) -> None:
    """Account and handles (resolver), campaigns (ACTIVE) and links through the resolvers."""
    from sqlalchemy import update

    from app.runtime.services import offline_context
    from app.settings import Settings
    from bench._common import BENCH_JWT_SECRET
    from db.engine import make_engine, make_session_factory
    from db.tables import Campaign, Link
    from resolvers.accounts import create_account
    from resolvers.campaigns import create_campaign
    from resolvers.domain import Role
    from resolvers.inputs import CampaignCreate, LinkUpsert
    from resolvers.links import upsert_link
    from resolvers.principal import Principal

    engine = make_engine(database_url)
    try:
        ctx = offline_context(
            Settings(database_url=database_url, jwt_secret=BENCH_JWT_SECRET),
            make_session_factory(engine),
        )
        ctx.principal = Principal("bench", "jwt", {h: Role.ADMIN for h in plan.handles})
        await create_account(ctx, plan.account_id, f"Bench shop {plan.seed}", list(plan.handles))
        for c in plan.campaigns:
            await create_campaign(
                ctx,
                c.handle,
                CampaignCreate(
                    campaignId=c.campaign_id,
                    name=c.campaign_id.replace("-", " ").title(),
                    goalType=c.goal_type,
                    status="ACTIVE",
                    primarySlug=c.slugs[0],
                ),
            )
            for slug in c.slugs:
                await upsert_link(
                    ctx,
                    c.handle,
                    slug,
                    LinkUpsert(
                        destinationUrl=f"https://shop.example.com/l/{slug}",
                        campaignId=c.campaign_id,
                    ),
                )
        # Campaigns and links existed before their first click.
        created = datetime.combine(plan.start, datetime.min.time(), UTC) - timedelta(days=3)
        async with ctx.sessions() as session:
            for model in (Campaign, Link):
                await session.execute(
                    update(model)
                    .where(model.account_id == plan.account_id)
                    .values(created_at=created, updated_at=created)
                )
            await session.commit()
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------- driver


@dataclass
class GenerateResult:
    account_id: str
    handles: list[str]
    campaigns: int
    links: int
    start: date
    end: date
    clicks: int = 0
    conversions: int = 0
    rollup_rows: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    build_seconds: float = 0.0  # building rows and rollups (summed over workers)
    build_cpu_seconds: float = 0.0  # the CPU time of that (less sensitive to a busy box)
    write_seconds: float = 0.0  # the main process writing them
    verified: bool | None = None

    @property
    def raw_rows(self) -> int:
        return self.clicks + self.conversions

    @property
    def rows_per_s(self) -> float:
        return self.raw_rows / self.seconds if self.seconds else 0.0

    @property
    def clicks_per_s(self) -> float:
        return self.clicks / self.seconds if self.seconds else 0.0

    def figures(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "handles": self.handles,
            "campaigns": self.campaigns,
            "links": self.links,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "clicks": self.clicks,
            "conversions": self.conversions,
            "rollup_rows": self.rollup_rows,
            "seconds": round(self.seconds, 2),
            "raw_rows_per_s": round(self.rows_per_s),
            "clicks_per_s": round(self.clicks_per_s),
            "build_seconds": round(self.build_seconds, 2),
            "build_cpu_seconds": round(self.build_cpu_seconds, 2),
            "write_seconds": round(self.write_seconds, 2),
            "rollups_verified": self.verified,
        }


async def generate(
    database_url: str, plan: Plan, *, workers: int = 1, verify: bool = True, show_progress=True
) -> GenerateResult:
    """Write ``plan``'s tenant, raw events and rollups into ``database_url``."""
    t0 = time.perf_counter()
    await create_tenant(database_url, plan)
    result = GenerateResult(
        plan.account_id,
        list(plan.handles),
        len(plan.campaigns),
        sum(len(c.slugs) for c in plan.campaigns),
        plan.start,
        plan.end,
    )
    if verify:
        clicks, convs = build_day(plan, min(c.start_day for c in plan.campaigns))
        # A sample of the first day, with its test conversions (at the end of the list).
        sample = convs[:5_000] + convs[max(5_000, len(convs) - len(plan.campaigns)) :]
        result.verified = await verify_rollup_shortcut(clicks[:20_000], sample)
        if not result.verified:
            raise RuntimeError("rollup_rows disagrees with db.rollups.writes.apply_rollups")
    writer: Any = (
        PostgresWriter(database_url)
        if is_postgres(database_url)
        else SqlAlchemyWriter(database_url)
    )
    await writer.open()
    executor: Executor | None = ProcessPoolExecutor(workers) if workers > 0 else None
    loop = asyncio.get_running_loop()
    total = sum(plan.clicks_per_day)
    rollup_counts: Counter[str] = Counter()
    try:
        with progress(transient=not show_progress) as bar:
            task = bar.add_task("clicks", total=total, rate="")
            started = time.perf_counter()

            def submit(d: int) -> Any:
                if executor is None:
                    return None
                return loop.run_in_executor(executor, make_chunk, plan, d)

            window = max(2, workers + 1)
            pending = {d: submit(d) for d in range(min(window, plan.days))}
            for d in range(plan.days):
                fut = pending.pop(d)
                chunk = await fut if fut is not None else make_chunk(plan, d)
                if d + window < plan.days:
                    pending[d + window] = submit(d + window)
                result.build_seconds += chunk.seconds
                result.build_cpu_seconds += chunk.cpu_seconds
                w0 = time.perf_counter()
                await writer.write(chunk)
                result.write_seconds += time.perf_counter() - w0
                result.clicks += len(chunk.clicks)
                result.conversions += len(chunk.conversions)
                for table, rows in chunk.rollups.items():
                    rollup_counts[table] += len(rows)
                elapsed = time.perf_counter() - started
                rate = result.raw_rows / elapsed if elapsed else 0
                bar.update(task, completed=result.clicks, rate=f"{rate:,.0f} rows/s")
        await writer.finish(plan.account_id)
    finally:
        if executor is not None:
            executor.shutdown(cancel_futures=True)
        await writer.close()
    result.rollup_rows = dict(rollup_counts)
    result.seconds = time.perf_counter() - t0
    return result


def plan_from_args(args: argparse.Namespace) -> Plan:
    return make_plan(
        seed=args.seed,
        campaigns=args.campaigns,
        links=args.links,
        clicks=args.clicks,
        days=args.days,
        end=date.fromisoformat(args.end_date) if args.end_date else None,
        handles=args.handle or None,
        account_id=args.account_id,
        bot_share=args.bot_share,
        conversions=not args.no_conversions,
    )


def add_plan_args(parser: argparse.ArgumentParser, clicks_default: int = 1_000_000) -> None:
    parser.add_argument("--seed", type=int, default=1, help="Random seed (default 1).")
    parser.add_argument("--campaigns", type=int, default=50, help="Campaigns (default 50).")
    parser.add_argument("--links", type=int, default=4, help="Links per campaign (default 4).")
    parser.add_argument(
        "--clicks", type=int, default=clicks_default, help=f"Clicks (default {clicks_default:,})."
    )
    parser.add_argument("--days", type=int, default=60, help="Days of traffic (default 60).")
    parser.add_argument(
        "--end-date", default=None, help="Last day of traffic, YYYY-MM-DD (default yesterday, UTC)."
    )
    parser.add_argument(
        "--handle", action="append", help="Handle (repeatable; default bench-<seed>)."
    )
    parser.add_argument("--account-id", default=None, help="24 hex (default: from the seed).")
    parser.add_argument("--bot-share", type=float, default=0.05, help="Bot clicks (default 5%%).")
    parser.add_argument("--no-conversions", action="store_true", help="Clicks only.")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="Processes building day chunks while the main process writes (0: inline).",
    )


def report(result: GenerateResult, database_url: str) -> None:
    say(f"account   {result.account_id}  handles {', '.join(result.handles)}")
    say(f"campaigns {result.campaigns}  links {result.links}  days {result.start} … {result.end}")
    say(f"clicks      {result.clicks:>12,}")
    say(f"conversions {result.conversions:>12,}")
    for table, n in result.rollup_rows.items():
        say(f"{table:<24} {n:>10,} rows")
    say(f"rollups checked against apply_rollups: {'OK' if result.verified else 'skipped'}")
    say(
        f"elapsed {result.seconds:.1f} s   raw rows {result.rows_per_s:,.0f}/s   "
        f"clicks {result.clicks_per_s:,.0f}/s   ({database_url.split('://')[0]})"
    )
    say(
        f"building rows+rollups {result.build_seconds:.1f} s wall, "
        f"{result.build_cpu_seconds:.1f} s CPU (all workers); "
        f"writing (COPY on PostgreSQL) {result.write_seconds:.1f} s"
    )


async def main_async(args: argparse.Namespace) -> None:
    plan = plan_from_args(args)
    async with bench_database(args.database_url, args.keep) as url:
        result = await generate(url, plan, workers=args.workers, verify=not args.no_verify)
        report(result, url)
        emit_json("generate", {"database": url.split("://")[0], **result.figures()})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_args(parser)
    add_plan_args(parser)
    parser.add_argument(
        "--no-verify", action="store_true", help="Skip the check against apply_rollups."
    )
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
