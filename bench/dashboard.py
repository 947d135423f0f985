"""The 50-campaign dashboard: rollups against raw events, and SQL statements per query.

Over a generated dataset (bench.generate; 1M clicks by default — the target figure is for
10M), measures
  (a) ``resolvers.funnels.handle_analytics`` in process (funnels + breakdowns from rollups),
      p50/p99 over ``--runs`` runs;
  (b) the same figures from the raw clicks/conversions tables with straightforward GROUP BYs,
      a few runs; prints the ratio raw/rollup (target ≥ 50×) and checks both agree;
  (c) SQL statements per dashboard query for 5 and 50 campaigns through GraphQL
      ``POST /graphql`` (and the REST ``/v2/handles/{h}/analytics?funnel=true``), counted
      with a ``before_cursor_execute`` listener on the app's engine.

    python -m bench.dashboard                                   # 1M clicks, fresh database
    python -m bench.dashboard --database-url URL --clicks 10000000   # reuses a kept dataset
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python bench/dashboard.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, select, text  # noqa: E402

from bench._common import (  # noqa: E402
    BENCH_JWT_SECRET,
    add_database_args,
    bench_database,
    emit_json,
    mint_bench_jwt,
    ms,
    percentile,
    progress,
    say,
)
from bench.generate import (  # noqa: E402
    GenerateResult,
    Plan,
    add_plan_args,
    generate,
    make_plan,
    plan_from_args,
)

TARGET_RATIO = 50.0
DIMENSIONS = ("source", "country", "device")
GRAPHQL_QUERY = """
query Dashboard($handle: String!, $first: Int!, $range: String!) {
  campaigns(handle: $handle, first: $first) {
    edges { node { campaignId funnel(dateRange: $range) {
      clicks qualifiedClicks conversions revenue
      stages { name count }
      breakdown(dimension: SOURCE) { value count }
    } } }
  }
}
"""


# --------------------------------------------------------------------------- figures


@dataclass
class Figures:
    """What the dashboard shows for one campaign, in comparable form."""

    clicks: int = 0
    qualified: int = 0
    stages: dict[str, int] = field(default_factory=dict)
    conversions: int = 0
    attributed: int = 0
    revenue_micros: dict[str, int] = field(default_factory=dict)
    breakdown: dict[str, dict[str, int]] = field(default_factory=dict)
    last_seen_at: datetime | None = None

    def key(self) -> tuple[Any, ...]:
        return (
            self.clicks,
            self.qualified,
            sorted((k, v) for k, v in self.stages.items() if v),
            self.conversions,
            self.attributed,
            sorted((k, v) for k, v in self.revenue_micros.items() if v),
            sorted((d, sorted(v.items())) for d, v in self.breakdown.items() if v),
            self.last_seen_at.timestamp() if self.last_seen_at else None,
        )


def figures_of(funnel: Any) -> Figures:
    return Figures(
        funnel.clicks,
        funnel.qualified_clicks,
        dict(funnel.stage_counts),
        funnel.conversions,
        funnel.attributed_conversions,
        dict(funnel.revenue_micros),
        {d: dict(v) for d, v in funnel.breakdown.items()},
        funnel.last_seen_at,
    )


# --------------------------------------------------------------------------- (b) raw SQL

RAW_CLICKS = """
SELECT campaign_id, is_bot, count(*) AS n, max(occurred_at) AS last_seen
FROM clicks
WHERE account_id = :account AND handle = :handle AND day BETWEEN :start AND :end
GROUP BY campaign_id, is_bot
"""
RAW_EVENTS = """
SELECT campaign_id, event_type, currency, count(*) AS n, sum(value_micros) AS value,
       sum(CASE WHEN attributed THEN 1 ELSE 0 END) AS attributed, max(occurred_at) AS last_seen
FROM conversions
WHERE account_id = :account AND handle = :handle AND day BETWEEN :start AND :end
  AND NOT is_test
GROUP BY campaign_id, event_type, currency
"""
RAW_BREAKDOWN = """
SELECT campaign_id, {dim} AS value, count(*) AS n
FROM clicks
WHERE account_id = :account AND handle = :handle AND day BETWEEN :start AND :end
  AND NOT is_bot
GROUP BY campaign_id, {dim}
"""


def _as_dt(value: Any) -> datetime | None:
    from resolvers.domain import as_utc

    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns max() of a timestamp as text
        value = datetime.fromisoformat(value)
    return as_utc(value)


async def raw_dashboard(
    sessions: Any, account: Any, handle: str, start: date, end: date
) -> dict[str | None, Figures]:
    """The dashboard's figures straight from the event tables (6 statements)."""
    from db.tables import Campaign
    from resolvers.funnels import _stage_lookup
    from resolvers.stages import stage_specs

    params = {"account": account.id, "handle": handle, "start": start, "end": end}
    async with sessions() as session:
        campaigns = dict(
            (
                await session.execute(
                    select(Campaign.campaign_id, Campaign.conversion_event_type).where(
                        Campaign.handle == handle
                    )
                )
            ).all()
        )
        clicks = (await session.execute(text(RAW_CLICKS), params)).all()
        events = (await session.execute(text(RAW_EVENTS), params)).all()
        breakdowns = {
            dim: (await session.execute(text(RAW_BREAKDOWN.format(dim=dim)), params)).all()
            for dim in DIMENSIONS
        }
    stages = stage_specs(account.funnel_stages)
    out = {cid: Figures(breakdown={d: {} for d in DIMENSIONS}) for cid in campaigns}

    def seen(f: Figures, value: Any) -> None:
        moment = _as_dt(value)
        if moment is not None and (f.last_seen_at is None or moment > f.last_seen_at):
            f.last_seen_at = moment

    for cid, is_bot, n, last in clicks:
        if cid not in out:
            continue
        f = out[cid]
        f.clicks += n
        if not is_bot:
            f.qualified += n
        seen(f, last)
    for cid, event_type, currency, n, value, attributed, last in events:
        if cid not in out:
            continue
        f = out[cid]
        seen(f, last)
        stage = _stage_lookup(stages, campaigns[cid]).get(event_type)
        if stage is not None:
            f.stages[stage] = f.stages.get(stage, 0) + n
        if event_type == campaigns[cid]:
            f.conversions += n
            f.attributed += int(attributed or 0)
            if value:
                cur = currency or ""
                f.revenue_micros[cur] = f.revenue_micros.get(cur, 0) + int(value)
    for dim, rows in breakdowns.items():
        for cid, value, n in rows:
            if cid in out:
                out[cid].breakdown[dim][value] = n
    total = Figures(breakdown={d: {} for d in DIMENSIONS})
    for f in out.values():
        total.clicks += f.clicks
        total.qualified += f.qualified
        total.conversions += f.conversions
        total.attributed += f.attributed
        for k, v in f.stages.items():
            total.stages[k] = total.stages.get(k, 0) + v
        for k, v in f.revenue_micros.items():
            total.revenue_micros[k] = total.revenue_micros.get(k, 0) + v
        for d, values in f.breakdown.items():
            for k, v in values.items():
                total.breakdown[d][k] = total.breakdown[d].get(k, 0) + v
        if f.last_seen_at and (not total.last_seen_at or f.last_seen_at > total.last_seen_at):
            total.last_seen_at = f.last_seen_at
    out_all: dict[str | None, Figures] = dict(out)
    out_all[None] = total
    return out_all


def rollup_figures(result: Any) -> dict[str | None, Figures]:
    out: dict[str | None, Figures] = {f.campaign_id: figures_of(f) for f in result.funnels}
    out[None] = figures_of(result.aggregate)
    return out


def compare(rollup: dict[str | None, Figures], raw: dict[str | None, Figures]) -> list[str]:
    """Differences, as readable lines (empty: they agree)."""
    problems = []
    for cid, figures in rollup.items():
        other = raw.get(cid)
        if other is None:
            problems.append(f"{cid}: missing from the raw computation")
        elif figures.key() != other.key():
            problems.append(f"{cid or 'aggregate'}: rollup {figures} != raw {other}")
    return problems


# --------------------------------------------------------------------------- (c) statements


_COUNTING: ContextVar[list[str] | None] = ContextVar("fg_bench_counting", default=None)


@asynccontextmanager
async def statement_counter(engine: Any):
    """Count the statements this task (and tasks it spawns) executes on ``engine``.

    The app's background workers (outbox, webhook deliveries) share the engine; they were
    started before the context variable was set, so their statements are not counted.
    SQLAlchemy runs the sync event in a greenlet that inherits the caller's context.
    """
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        bucket = _COUNTING.get()
        if bucket is not None:
            bucket.append(" ".join(statement.split())[:120])

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    token = _COUNTING.set(statements)
    try:
        yield statements
    finally:
        _COUNTING.reset(token)
        event.remove(engine.sync_engine, "before_cursor_execute", count)


async def count_statements(
    app: Any, call: Callable[[Any], Awaitable[Any]]
) -> tuple[int, Any, list[str]]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await call(client)  # warm: caches, prepared statements, pool connections
        async with statement_counter(app.state.services.engine) as statements:
            response = await call(client)
    return len(statements), response, statements


async def graphql_statements(app: Any, handle: str, first: int, date_range: str) -> dict:
    """GraphQL variant of (c): campaigns(first: N) { … funnel { … breakdown } }."""
    headers = {"Authorization": f"Bearer {mint_bench_jwt(handle)}"}

    async def call(client: Any) -> Any:
        return await client.post(
            "/graphql",
            json={
                "query": GRAPHQL_QUERY,
                "variables": {"handle": handle, "first": first, "range": date_range},
            },
            headers=headers,
        )

    n, response, sql = await count_statements(app, call)
    try:
        body = response.json()
    except ValueError:
        body = {"errors": [{"message": response.text[:200]}]}
    errors = body.get("errors") if isinstance(body, dict) else None
    edges = ((body.get("data") or {}).get("campaigns") or {}).get("edges") or []
    return {
        "statements": n,
        "status": response.status_code,
        "campaigns": len(edges),
        "errors": [e.get("message") for e in errors] if errors else None,
        "sql": sql,
    }


async def rest_statements(app: Any, handle: str, date_range: str) -> dict:
    """REST variant of (c): GET /v2/handles/{h}/analytics?funnel=true."""
    headers = {"Authorization": f"Bearer {mint_bench_jwt(handle)}"}

    async def call(client: Any) -> Any:
        return await client.get(
            f"/v2/handles/{handle}/analytics",
            params={"funnel": "true", "dateRange": date_range},
            headers=headers,
        )

    n, response, sql = await count_statements(app, call)
    funnels = response.json().get("funnel", []) if response.status_code == 200 else []
    return {
        "statements": n,
        "status": response.status_code,
        "campaigns": len(funnels),
        "sql": sql,
    }


# --------------------------------------------------------------------------- driver


async def ensure_dataset(url: str, plan: Plan, workers: int) -> GenerateResult | None:
    """Generate ``plan`` unless its account is already there (a kept database)."""
    from db.engine import make_engine
    from db.tables import Account

    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            present = (
                await conn.execute(select(Account.id).where(Account.id == plan.account_id))
            ).first()
    finally:
        await engine.dispose()
    if present:
        say(f"dataset: account {plan.account_id} already present, reusing it")
        return None
    result = await generate(url, plan, workers=workers, verify=False)
    say(
        f"dataset: generated {result.clicks:,} clicks + {result.conversions:,} conversions "
        f"in {result.seconds:.1f} s ({result.rows_per_s:,.0f} raw rows/s)"
    )
    return result


async def dataset_size(sessions: Any, account_id: str, handle: str) -> dict[str, int]:
    from sqlalchemy import func

    from db.tables import Click, Conversion, RollupBreakdownDaily, RollupCampaignDaily

    out = {}
    async with sessions() as session:
        for name, model in (
            ("clicks", Click),
            ("conversions", Conversion),
            ("rollup_campaign_daily", RollupCampaignDaily),
            ("rollup_breakdown_daily", RollupBreakdownDaily),
        ):
            out[name] = int(
                (
                    await session.execute(
                        select(func.count())
                        .select_from(model)
                        .where(model.account_id == account_id, model.handle == handle)
                    )
                ).scalar_one()
            )
    return out


async def main_async(args: argparse.Namespace) -> None:
    from app.main import create_app
    from app.settings import Settings
    from resolvers.accounts import account_for_handle
    from resolvers.domain import Role
    from resolvers.funnels import handle_analytics, resolve_days
    from resolvers.principal import Principal

    plan = plan_from_args(args)
    small = make_plan(
        seed=args.seed + 100_000,
        campaigns=5,
        links=2,
        clicks=args.small_clicks,
        days=args.days,
        end=plan.end,
    )
    handle = plan.handles[0]
    async with bench_database(args.database_url, args.keep) as url:
        await ensure_dataset(url, plan, args.workers)
        await ensure_dataset(url, small, args.workers)
        # No response cache: (c) counts the statements of the resolvers, which a cached repeat
        # of the same query would not run at all.
        settings = Settings(
            database_url=url,
            jwt_secret=BENCH_JWT_SECRET,
            rate_limit_enabled=False,
            graphql_response_cache=False,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            services = app.state.services
            sessions = services.sessions
            ctx = services.context(Principal("bench", "jwt", {handle: Role.ADMIN}))
            sizes = await dataset_size(sessions, plan.account_id, handle)
            say(
                f"dataset: handle {handle}: {sizes['clicks']:,} clicks, "
                f"{sizes['conversions']:,} conversions, "
                f"{sizes['rollup_campaign_daily']:,} + {sizes['rollup_breakdown_daily']:,} "
                "campaign + breakdown rollup rows"
            )
            async with sessions() as session:
                account = await account_for_handle(session, handle)
            days = resolve_days(account, args.date_range)
            say(f"date range {args.date_range}: {days.start} … {days.end}")

            # (a) rollups, in process
            for _ in range(3):
                result = await handle_analytics(ctx, handle, date_range=args.date_range)
            rollup_times: list[float] = []
            async with statement_counter(services.engine) as statements:
                with progress(transient=True) as bar:
                    task = bar.add_task("rollup dashboard", total=args.runs, rate="")
                    for _ in range(args.runs):
                        t0 = time.perf_counter()
                        result = await handle_analytics(ctx, handle, date_range=args.date_range)
                        rollup_times.append(time.perf_counter() - t0)
                        bar.advance(task)
            rollup_statements = len(statements) / args.runs
            rollup_p50, rollup_p99 = percentile(rollup_times, 50), percentile(rollup_times, 99)
            say(
                f"(a) rollups   handle_analytics, {len(result.funnels)} campaign funnels + "
                f"aggregate: p50 {ms(rollup_p50):.2f} ms  p99 {ms(rollup_p99):.2f} ms  "
                f"({args.runs} runs, {rollup_statements:.0f} statements each)"
            )

            # (b) raw events
            raw_times: list[float] = []
            with progress(transient=True) as bar:
                task = bar.add_task("raw dashboard", total=args.raw_runs, rate="")
                for _ in range(args.raw_runs):
                    t0 = time.perf_counter()
                    raw = await raw_dashboard(sessions, account, handle, days.start, days.end)
                    raw_times.append(time.perf_counter() - t0)
                    bar.advance(task)
            raw_median = statistics.median(raw_times)
            ratio = raw_median / rollup_p50 if rollup_p50 else 0.0
            problems = compare(rollup_figures(result), raw)
            say(
                f"(b) raw SQL   clicks/conversions GROUP BYs (6 statements): median "
                f"{ms(raw_median):.1f} ms, min {ms(min(raw_times)):.1f} ms, "
                f"max {ms(max(raw_times)):.1f} ms ({args.raw_runs} runs)"
            )
            say(
                f"    ratio raw/rollup (median / p50) {ratio:.1f}x  (target ≥ {TARGET_RATIO:.0f}x: "
                f"{'met' if ratio >= TARGET_RATIO else 'NOT met'})"
            )
            say(
                f"    rollup vs raw figures ({len(result.funnels)} campaigns + aggregate): "
                + ("OK" if not problems else f"MISMATCH ({len(problems)})")
            )
            for line in problems[:5]:
                say(f"      {line}")

            # (c) statements per dashboard query
            gql: dict[int, dict[str, Any]] = {}
            gql_error = None
            try:
                for first in (5, 50):
                    gql[first] = await graphql_statements(app, handle, first, args.date_range)
                    g = gql[first]
                    if g["status"] != 200 or g["errors"]:
                        raise RuntimeError(f"HTTP {g['status']}: {g['errors']}")
                    say(
                        f"(c) GraphQL   campaigns(first: {first}) with funnel + breakdown: "
                        f"{g['statements']} SQL statements ({g['campaigns']} campaigns)"
                    )
            except Exception as exc:  # noqa: BLE001 - report and go on with REST
                gql_error = str(exc)[:300]
                say(f"(c) GraphQL   variant FAILED: {gql_error}")
            rest = {
                5: await rest_statements(app, small.handles[0], args.date_range),
                50: await rest_statements(app, handle, args.date_range),
            }
            for n, r in rest.items():
                say(
                    f"(c) REST      /v2/handles/{{h}}/analytics?funnel=true, {n} campaigns: "
                    f"{r['statements']} SQL statements (HTTP {r['status']}, "
                    f"{r['campaigns']} funnels)"
                )
            constant = all(
                len({v["statements"] for v in d.values()}) == 1 for d in (gql, rest) if d
            )
            say(f"    statements constant from 5 to 50 campaigns: {'yes' if constant else 'NO'}")
            if args.show_sql:
                for label, d in (("graphql", gql), ("rest", rest)):
                    for n, v in d.items():
                        say(f"    {label} {n}:")
                        for line in v["sql"]:
                            say(f"      {line}")

    emit_json(
        "dashboard",
        {
            "database": url.split("://")[0],
            "clicks": sizes["clicks"],
            "conversions": sizes["conversions"],
            "campaigns": len(result.funnels),
            "date_range": args.date_range,
            "rollup_runs": args.runs,
            "rollup_p50_ms": ms(rollup_p50),
            "rollup_p99_ms": ms(rollup_p99),
            "rollup_statements": rollup_statements,
            "raw_runs": args.raw_runs,
            "raw_median_ms": ms(raw_median),
            "ratio_raw_over_rollup": round(ratio, 1),
            "target_ratio": TARGET_RATIO,
            "ratio_met": ratio >= TARGET_RATIO,
            "figures_agree": not problems,
            "graphql_statements": {n: v["statements"] for n, v in gql.items()},
            "graphql_error": gql_error,
            "rest_statements": {n: v["statements"] for n, v in rest.items()},
            "statements_constant": constant,
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_args(parser)
    add_plan_args(parser)
    parser.add_argument("--runs", type=int, default=50, help="Rollup runs (50).")
    parser.add_argument("--raw-runs", type=int, default=3, help="Raw SQL runs (3).")
    parser.add_argument("--date-range", default="last_30_days", help="Dashboard date range.")
    parser.add_argument(
        "--small-clicks", type=int, default=20_000, help="Clicks of the 5-campaign handle."
    )
    parser.add_argument("--show-sql", action="store_true", help="Print the counted statements.")
    args = parser.parse_args(argv)
    if not 1 <= args.runs <= 10_000 or not 1 <= args.raw_runs <= 100:
        parser.error("--runs must be 1..10000 and --raw-runs 1..100")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
