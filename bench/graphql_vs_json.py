"""GraphQL against hand-written JSON: the 50-campaign dashboard served both ways.

The same resolvers and data answer (1) ``POST /graphql`` with the dashboard query and
(2) ``GET /bench/graphql-vs-json/dashboard``, a hand-written Starlette endpoint mounted on
the same app that builds the identical ``data`` from the same resolver results and encodes
it with orjson.
Prints, in one run,
  in-process  time per request: ``schema.execute`` (+ encoding) against the hand-written
              function (+ encoding), and the resolver loads alone (the SQL share);
  end-to-end  requests/s, p50 and p99 of both against one uvicorn subprocess on 127.0.0.1
              (``wrk``, else an httpx loop), and the ratio GraphQL/hand-written
              (target: GraphQL within 1.5x).
Each GraphQL variant the settings offer (stock; compiled execution; compiled + response
cache) gets its own server, measured next to its own hand-written endpoint.

    python -m bench.graphql_vs_json                            # fresh PostgreSQL, 20k clicks
    python -m bench.graphql_vs_json --database-url URL --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python bench/graphql_vs_json.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402

from bench._common import (  # noqa: E402
    BENCH_JWT_SECRET,
    LOOPBACK,
    add_database_args,
    bench_database,
    emit_json,
    free_port,
    gateway_env,
    mint_bench_jwt,
    ms,
    percentile,
    say,
    start_server,
)

TARGET_RATIO = 1.5
# Three segments: a two-segment GET is a short link, answered before the routes.
BENCH_PATH = "/bench/graphql-vs-json"
DATE_RANGE = "last_30_days"
QUERY = """query Dashboard($handle: String!) {
  campaigns(handle: $handle, first: 50) { edges { node { campaignId
    funnel(dateRange: "last_30_days") {
      clicks qualifiedClicks conversions revenue confidence
      stages { name count rate dropOff }
      breakdown(dimension: SOURCE) { value count }
      b2: breakdown(dimension: COUNTRY) { value count }
      b3: breakdown(dimension: DEVICE) { value count }
    } } } }
}"""
# name → settings of a GraphQL variant; a variant whose settings do not exist is skipped.
VARIANTS = {
    "stock": {"graphql_compiled": False, "graphql_response_cache": False},
    "compiled": {"graphql_compiled": True, "graphql_response_cache": False},
    "cached": {"graphql_compiled": True, "graphql_response_cache": True},
}


# --------------------------------------------------------------------------- hand-written


def _rows(items: list[tuple[str, int]]) -> list[dict[str, Any]]:
    return [{"value": value, "count": count} for value, count in items]


def funnel_fields(f: Any) -> dict[str, Any]:
    """The dashboard's funnel selection, as GraphQL names and shapes it."""
    return {
        "clicks": f.clicks,
        "qualifiedClicks": f.qualified_clicks,
        "conversions": f.conversions,
        "revenue": round(f.revenue, 6),
        "confidence": f.confidence,
        "stages": [
            {"name": s.name, "count": s.count, "rate": s.rate, "dropOff": s.drop_off}
            for s in f.stages
        ],
        "breakdown": _rows(f.breakdown_items("source")),
        "b2": _rows(f.breakdown_items("country")),
        "b3": _rows(f.breakdown_items("device")),
    }


async def load_dashboard(ctx: Any, handle: str) -> tuple[list[Any], list[Any]]:
    """The resolver calls behind the GraphQL query: the campaign page, then its funnels."""
    from resolvers.campaigns import list_campaigns
    from resolvers.funnels import funnel_loader

    page = await list_campaigns(ctx, handle, None, 50, None)
    loader = funnel_loader(ctx)
    funnels = await asyncio.gather(
        *(
            loader.load(r.handle, r.campaign_id, r.conversion_event_type, DATE_RANGE, False)
            for r in page.items
        )
    )
    return page.items, list(funnels)


async def dashboard_json(ctx: Any, handle: str) -> bytes:
    rows, funnels = await load_dashboard(ctx, handle)
    edges = [
        {"node": {"campaignId": r.campaign_id, "funnel": funnel_fields(f)}}
        for r, f in zip(rows, funnels, strict=True)
    ]
    return orjson.dumps({"data": {"campaigns": {"edges": edges}}})


async def handwritten(request: Any) -> Any:
    from starlette.responses import Response

    from resolvers.auth import authenticate

    services = request.app.state.services
    ctx = services.context()
    ctx.principal = await authenticate(ctx, request.headers.get("authorization"))
    body = await dashboard_json(ctx, request.query_params["handle"])
    return Response(body, media_type="application/json")


def graphql_view(app: Any) -> Any:
    return next(r.app for r in app.routes if getattr(r, "path", "") == "/graphql")


async def cache_stats(request: Any) -> Any:
    from starlette.responses import JSONResponse

    cache = getattr(graphql_view(request.app), "response_cache", None)
    return JSONResponse({} if cache is None else {"hits": cache.hits, "misses": cache.misses})


def mount(app: Any) -> Any:
    from starlette.routing import Route

    # First, so that the short-link catch-all cannot shadow them.
    app.router.routes[:0] = [
        Route(f"{BENCH_PATH}/dashboard", handwritten, methods=["GET"]),
        Route(f"{BENCH_PATH}/cache", cache_stats, methods=["GET"]),
    ]
    return app


def bench_app() -> Any:
    """``uvicorn --factory bench.graphql_vs_json:bench_app`` (settings from the environment)."""
    from app.main import create_app

    return mount(create_app())


# --------------------------------------------------------------------------- in process


def variant_settings(url: str, name: str) -> Any:
    from app.settings import Settings

    return Settings(
        database_url=url,
        jwt_secret=BENCH_JWT_SECRET,
        rate_limit_enabled=False,
        webhook_worker_enabled=False,
        journal_enabled=False,
        storage_url=tempfile.gettempdir() + "/fg-bench-objects",
        **VARIANTS[name],
    )


def available_variants() -> list[str]:
    from app.settings import Settings

    fields = Settings.model_fields
    return [n for n, flags in VARIANTS.items() if n == "stock" or all(f in fields for f in flags)]


@contextlib.contextmanager
def memoised_resolver_results(page: Any) -> Iterator[None]:
    """Serve the campaign page and the funnel batches from memory (filled on first use):
    what is left of a request is the GraphQL layer, or the hand-written code."""
    import resolvers.campaigns
    import resolvers.funnels

    loader_batch = resolvers.funnels.FunnelLoader._batch
    list_campaigns = resolvers.campaigns.list_campaigns
    memo: dict[Any, Any] = {}

    async def batch(self: Any, keys: list[Any]) -> list[Any]:
        missing = [k for k in keys if k not in memo]
        if missing:
            memo.update(zip(missing, await loader_batch(self, missing), strict=True))
        return [memo[k] for k in keys]

    async def campaigns_page(*args: Any, **kwargs: Any) -> Any:
        return page

    resolvers.funnels.FunnelLoader._batch = batch  # type: ignore[method-assign]
    resolvers.campaigns.list_campaigns = campaigns_page  # type: ignore[assignment]
    try:
        yield
    finally:
        resolvers.funnels.FunnelLoader._batch = loader_batch  # type: ignore[method-assign]
        resolvers.campaigns.list_campaigns = list_campaigns


async def timed(calls: dict[str, Any], runs: int, warmup: int = 3) -> dict[str, float]:
    """p50/p99 of each call, the calls interleaved run by run so that they share the noise."""
    times: dict[str, list[float]] = {label: [] for label in calls}
    for i in range(runs + warmup):
        for label, call in calls.items():
            t0 = time.perf_counter()
            await call()
            if i >= warmup:  # caches, prepared statements, compiled plans
                times[label].append(time.perf_counter() - t0)
    out = {}
    for label, values in times.items():
        out[f"{label}_p50_ms"] = ms(percentile(values, 50))
        out[f"{label}_p99_ms"] = ms(percentile(values, 99))
    return out


async def in_process(url: str, name: str, handle: str, runs: int) -> dict[str, Any]:
    """schema.execute + encoding vs the hand-written function + encoding: with the SQL,
    then with the resolver results memoised (the layers alone)."""
    from strawberry.http import process_result

    from app.runtime.services import Services
    from resolvers.campaigns import list_campaigns
    from resolvers.context import Context
    from resolvers.domain import Role
    from resolvers.principal import Principal
    from schema import build_schema

    settings = variant_settings(url, name)
    services = Services.build(settings)
    schema = build_schema(settings)
    principal = Principal("bench", "jwt", {handle: Role.ADMIN})

    def ctx() -> Any:
        return Context(services.sessions, settings, principal, services)

    async def graphql() -> bytes:
        result = await schema.execute(QUERY, {"handle": handle}, context_value=ctx())
        if result.errors:
            raise RuntimeError(f"GraphQL errors: {result.errors}")
        return orjson.dumps(process_result(result))

    calls = {
        "graphql": graphql,
        "handwritten": lambda: dashboard_json(ctx(), handle),
        "loads": lambda: load_dashboard(ctx(), handle),
    }
    try:
        same = (
            orjson.loads(await graphql())["data"]
            == orjson.loads(await calls["handwritten"]())["data"]
        )
        out: dict[str, Any] = {"same_data": same, "runs": runs, **await timed(calls, runs)}
        with memoised_resolver_results(await list_campaigns(ctx(), handle, None, 50, None)):
            del calls["loads"]
            layer = await timed(calls, runs * 5)
        out |= {f"layer_{k}": v for k, v in layer.items()}
    finally:
        await services.engine.dispose()
    return out


# --------------------------------------------------------------------------- end to end

WRK_SCRIPT = r"""
wrk.method = "{method}"
wrk.body = [==[{body}]==]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "{authorization}"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "FGJSON {{\"requests\": %d, \"duration_us\": %d, \"status_errors\": %d, " ..
    "\"socket_errors\": %d, \"p50_us\": %d, \"p99_us\": %d}}\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Load:
    tool: str
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p99_ms: float

    def line(self) -> str:
        return (
            f"{self.rps:>8,.1f} req/s   p50 {self.p50_ms:8.2f} ms   p99 {self.p99_ms:8.2f} ms   "
            f"({self.requests:,} requests, {self.errors} errors, {self.tool})"
        )


def run_wrk(url: str, method: str, body: str, jwt: str, seconds: float, conns: int) -> Load:
    script = WRK_SCRIPT.format(method=method, body=body, authorization=f"Bearer {jwt}")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
    try:
        out = subprocess.run(
            [*argv, "-s", f.name, url],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            check=True,
        ).stdout
    finally:
        Path(f.name).unlink(missing_ok=True)
    match = re.search(r"^FGJSON (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    d = json.loads(match.group(1))
    duration = d["duration_us"] / 1e6
    return Load(
        "wrk",
        d["requests"],
        d["status_errors"] + d["socket_errors"],
        d["requests"] / duration,
        d["p50_us"] / 1000,
        d["p99_us"] / 1000,
    )


async def run_httpx(url: str, method: str, body: str, jwt: str, seconds: float, conns: int) -> Load:
    import httpx

    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {jwt}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(headers=headers, timeout=10.0) as client:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                r = await client.request(method, url, content=body or None)
                latencies.append(time.perf_counter() - t0)
                errors += r.status_code != 200

        await asyncio.gather(*(worker() for _ in range(conns)))
        elapsed = time.perf_counter() - start
    return Load(
        "httpx",
        len(latencies),
        errors,
        len(latencies) / elapsed,
        ms(percentile(latencies, 50)),
        ms(percentile(latencies, 99)),
    )


async def end_to_end(
    url: str, name: str, handle: str, args: argparse.Namespace
) -> tuple[dict[str, Load], dict[str, int]]:
    """One uvicorn process for this variant: hand-written and GraphQL, alternately."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="fg-bench-gqljson-"))
    env = gateway_env(url, workdir, "off") | {
        f"FUNNELGATE_{k.upper()}": str(v).lower() for k, v in VARIANTS[name].items()
    }
    env["FUNNELGATE_WEBHOOK_WORKER_ENABLED"] = "false"
    argv = [sys.executable, "-m", "uvicorn", "--factory", "bench.graphql_vs_json:bench_app"]
    argv += ["--host", LOOPBACK, "--port", str(port), "--log-level", "warning"]
    server = start_server(f"gqljson-{name}", argv, port=port, env=env, ready_path="/healthz")
    jwt = mint_bench_jwt(handle)
    targets = {
        "handwritten": (f"{server.base_url}{BENCH_PATH}/dashboard?handle={handle}", "GET", ""),
        "graphql": (
            f"{server.base_url}/graphql",
            "POST",
            json.dumps({"query": QUERY, "variables": {"handle": handle}}),
        ),
    }
    best: dict[str, Load] = {}
    try:
        for target, method, body in targets.values():  # warm-up
            await asyncio.to_thread(run_load, args, target, method, body, jwt, args.warmup)
        for _ in range(args.rounds):
            for label, (target, method, body) in targets.items():
                load = await asyncio.to_thread(
                    run_load, args, target, method, body, jwt, args.seconds
                )
                if label not in best or load.rps > best[label].rps:
                    best[label] = load
        import httpx

        stats = httpx.get(f"{server.base_url}{BENCH_PATH}/cache", timeout=10).json()
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    return best, stats


async def repeated_loads(url: str, name: str, handle: str, loads: int = 20) -> dict[str, int]:
    """A dashboard refreshing every 100 ms through the app (in process, httpx ASGI)."""
    import httpx

    from app.main import create_app

    app = mount(create_app(variant_settings(url, name)))
    body = {"query": QUERY, "variables": {"handle": handle}}
    headers = {"Authorization": f"Bearer {mint_bench_jwt(handle)}"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(loads):
                r = await client.post("/graphql", json=body, headers=headers)
                assert r.status_code == 200 and "errors" not in r.json(), r.text
                await asyncio.sleep(0.1)
        cache = graphql_view(app).response_cache
        return {"loads": loads, "hits": cache.hits, "misses": cache.misses}


def run_load(args: argparse.Namespace, *rest: Any) -> Load:
    url, method, body, jwt, seconds = rest
    if args.loader == "wrk":
        return run_wrk(url, method, body, jwt, seconds, args.connections)
    return asyncio.run(run_httpx(url, method, body, jwt, seconds, args.connections))


# --------------------------------------------------------------------------- driver


async def main_async(args: argparse.Namespace) -> None:
    from bench.dashboard import ensure_dataset
    from bench.generate import plan_from_args

    if args.loader == "auto":
        args.loader = "wrk" if shutil.which("wrk") else "httpx"
    plan = plan_from_args(args)
    handle = plan.handles[0]
    variants = [v for v in available_variants() if v in args.variants]
    say(
        f"variants: {', '.join(variants)}; end-to-end: uvicorn subprocess on 127.0.0.1, "
        f"{args.loader}, {args.connections} connections, {args.seconds:.0f} s per run, "
        f"best of {args.rounds} round(s)"
    )
    figures: dict[str, Any] = {}
    async with bench_database(args.database_url, args.keep) as url:
        await ensure_dataset(url, plan, args.workers)
        for name in variants:
            proc = await in_process(url, name, handle, args.runs)
            say(
                f"[{name}] in-process with SQL ({args.runs} runs, p50/p99): GraphQL execute+encode "
                f"{proc['graphql_p50_ms']:.2f}/{proc['graphql_p99_ms']:.2f} ms   hand-written "
                f"{proc['handwritten_p50_ms']:.2f}/{proc['handwritten_p99_ms']:.2f} ms   "
                f"resolver loads alone {proc['loads_p50_ms']:.2f}/{proc['loads_p99_ms']:.2f} ms   "
                f"ratio {proc['graphql_p50_ms'] / proc['handwritten_p50_ms']:.2f}x   "
                f"same data: {'yes' if proc['same_data'] else 'NO'}"
            )
            say(
                f"[{name}] in-process, resolver results memoised ({args.runs * 5} runs, p50/p99): "
                f"GraphQL {proc['layer_graphql_p50_ms']:.2f}/{proc['layer_graphql_p99_ms']:.2f} ms"
                f"   hand-written {proc['layer_handwritten_p50_ms']:.2f}/"
                f"{proc['layer_handwritten_p99_ms']:.2f} ms   ratio "
                f"{proc['layer_graphql_p50_ms'] / proc['layer_handwritten_p50_ms']:.2f}x"
            )
            if name == "cached":
                rep = await repeated_loads(url, name, handle)
                say(
                    f"[{name}] repeated dashboard load in process ({rep['loads']} loads, one "
                    f"every 100 ms): hit ratio {rep['hits'] / rep['loads']:.0%} "
                    f"({rep['hits']} hits, {rep['misses']} misses)"
                )
                proc["repeated_loads"] = rep
            best, stats = await end_to_end(url, name, handle, args)
            ratio = best["handwritten"].rps / best["graphql"].rps if best["graphql"].rps else 0
            say(f"[{name}] end-to-end hand-written  {best['handwritten'].line()}")
            say(f"[{name}] end-to-end GraphQL       {best['graphql'].line()}")
            if stats:
                total = stats["hits"] + stats["misses"]
                say(
                    f"[{name}] response cache under load: {stats['hits']:,} hits / {total:,} "
                    f"GraphQL requests ({stats['hits'] / total:.1%}, TTL 1 s)"
                )
            say(
                f"[{name}] ratio hand-written/GraphQL req/s {ratio:.2f}x  (target ≤ "
                f"{TARGET_RATIO}x: {'met' if ratio <= TARGET_RATIO else 'NOT met'})"
            )
            figures[name] = {
                "in_process": proc,
                "end_to_end": {k: asdict(v) for k, v in best.items()},
                "ratio": round(ratio, 3),
                "cache": stats or None,
            }
    emit_json(
        "graphql_vs_json",
        {
            "loader": args.loader,
            "connections": args.connections,
            "seconds": args.seconds,
            "clicks": args.clicks,
            "variants": figures,
        },
    )


def main(argv: list[str] | None = None) -> None:
    from bench.generate import add_plan_args

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_args(parser)
    add_plan_args(parser, clicks_default=20_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="Load per run (10).")
    parser.add_argument("--warmup", type=float, default=2.0, help="Warm-up per endpoint (2).")
    parser.add_argument("--rounds", type=int, default=2, help="Runs per endpoint, best kept (2).")
    parser.add_argument("--connections", type=int, default=4, help="Concurrency (4).")
    parser.add_argument("--runs", type=int, default=30, help="In-process runs (30).")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help=f"Comma-separated GraphQL variants among {', '.join(VARIANTS)} (all available).",
    )
    parser.add_argument(
        "--loader", choices=("auto", "wrk", "httpx"), default="auto", help="Load generator."
    )
    args = parser.parse_args(argv)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if not 1 <= args.seconds <= 600 or not 1 <= args.connections <= 256:
        parser.error("--seconds must be 1..600 and --connections 1..256")
    if not 1 <= args.runs <= 10_000 or not 1 <= args.rounds <= 20:
        parser.error("--runs must be 1..10000 and --rounds 1..20")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
