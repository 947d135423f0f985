"""Redirect throughput: the real gateway against a bare Starlette 302, same load, same box.

Starts ``funnelgate serve`` (uvicorn) and ``uvicorn bench.bare_redirect:app`` as
subprocesses on 127.0.0.1, loads each with 32 concurrent connections for ``--seconds``
(``wrk`` when installed, else an asyncio httpx loop), prints requests/s, p50 and p99 for both
and the ratio gateway/bare (targets: ≥ 0.35, gateway p99 ≤ 25 ms). Then checks durability:
every 302 the load generator counted must be a click row in the database.

    python -m bench.redirect_throughput --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python bench/redirect_throughput.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    LOOPBACK,
    RATE_LIMIT_MODES,
    add_database_args,
    bench_database,
    count_clicks,
    emit_json,
    free_port,
    percentile,
    progress,
    running_gateway,
    say,
    setup_link_tenant,
    start_server,
    wait_ingest_settled,
)

USER_AGENT = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
HEADERS = {
    "User-Agent": USER_AGENT,
    "Referer": "https://www.instagram.com/",
    "CF-IPCountry": "DE",
    "Accept": "text/html",
}
QUERY = "utm_source=newsletter&utm_medium=email"
TARGET_RATIO = 0.35
TARGET_P99_MS = 25.0

WRK_SCRIPT = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "FGJSON {\"requests\": %d, \"duration_us\": %d, \"status_errors\": %d, " ..
    "\"connect_errors\": %d, \"read_errors\": %d, \"write_errors\": %d, \"timeouts\": %d, " ..
    "\"p50_us\": %d, \"p90_us\": %d, \"p99_us\": %d, \"max_us\": %d, \"mean_us\": %.1f}\n",
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
"""


@dataclass
class LoadResult:
    tool: str
    seconds: float
    requests: int  # completed responses
    ok: int  # 2xx/3xx responses (only 302 is expected from these routes)
    errors: int  # non-2xx/3xx statuses plus socket errors and timeouts
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    def line(self) -> str:
        return (
            f"{self.rps:>9,.0f} req/s   p50 {self.p50_ms:6.2f} ms   p90 {self.p90_ms:6.2f} ms   "
            f"p99 {self.p99_ms:6.2f} ms   max {self.max_ms:7.2f} ms   "
            f"302s {self.ok:,}   errors {self.errors:,}   ({self.tool}, {self.seconds:.0f} s)"
        )


def run_wrk(url: str, seconds: float, connections: int, threads: int) -> LoadResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT)
        script = f.name
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        script,
    ]
    for name, value in HEADERS.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    out = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, check=True
    ).stdout
    Path(script).unlink(missing_ok=True)
    match = re.search(r"^FGJSON (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    d = json.loads(match.group(1))
    duration = d["duration_us"] / 1e6
    socket_errors = d["connect_errors"] + d["read_errors"] + d["write_errors"] + d["timeouts"]
    ok = d["requests"] - d["status_errors"]
    return LoadResult(
        "wrk",
        duration,
        d["requests"],
        ok,
        d["status_errors"] + socket_errors,
        d["requests"] / duration,
        d["p50_us"] / 1000,
        d["p90_us"] / 1000,
        d["p99_us"] / 1000,
        d["max_us"] / 1000,
    )


async def run_httpx(
    url: str, seconds: float, connections: int, max_requests: int, label: str
) -> LoadResult:
    """Fallback load loop: each of ``connections`` workers sends one request at a time and
    finishes its request in flight at the deadline (so every answer is counted)."""
    import httpx

    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, headers=HEADERS, timeout=5.0) as client:
        start = time.perf_counter()
        deadline = start + seconds
        with progress(transient=True) as bar:
            task = bar.add_task(label, total=round(seconds), rate="")

            async def worker() -> None:
                nonlocal errors
                while time.perf_counter() < deadline and len(latencies) + errors < max_requests:
                    t0 = time.perf_counter()
                    try:
                        r = await client.get(url)
                    except httpx.HTTPError:
                        errors += 1
                        continue
                    latencies.append(time.perf_counter() - t0)
                    statuses[r.status_code] += 1

            async def ticker() -> None:
                while time.perf_counter() < deadline:
                    await asyncio.sleep(0.5)
                    done = time.perf_counter() - start
                    bar.update(
                        task,
                        completed=min(done, seconds),
                        rate=f"{len(latencies) / done:,.0f} req/s",
                    )

            await asyncio.gather(ticker(), *(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    ok = sum(n for s, n in statuses.items() if 200 <= s < 400)
    return LoadResult(
        "httpx",
        elapsed,
        len(latencies),
        ok,
        errors + len(latencies) - ok,
        len(latencies) / elapsed,
        percentile(latencies, 50) * 1000,
        percentile(latencies, 90) * 1000,
        percentile(latencies, 99) * 1000,
        max(latencies, default=0) * 1000,
    )


async def load(url: str, args: argparse.Namespace, label: str, seconds: float) -> LoadResult:
    if args.loader == "wrk":
        with progress(transient=True) as bar:
            bar.add_task(f"{label} (wrk)", total=None, rate="")
            return await asyncio.to_thread(run_wrk, url, seconds, args.connections, args.threads)
    return await run_httpx(url, seconds, args.connections, args.max_requests, label)


async def bench_bare(args: argparse.Namespace) -> LoadResult:
    port = free_port()
    server = start_server(
        "bare",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.bare_redirect:app",
            "--host",
            LOOPBACK,
            "--port",
            str(port),
        ],
        port=port,
        ready_path="/bench/go",
    )
    try:
        url = f"{server.base_url}/bench/go?{QUERY}"
        await load(url, args, "bare warm-up", args.warmup)
        return await load(url, args, "bare starlette", args.seconds)
    finally:
        server.stop()


@dataclass
class Durability:
    counted_302: int
    recorded: int

    @property
    def verdict(self) -> str:
        if self.recorded < self.counted_302:
            return "LOST CLICKS"
        return "OK"


async def bench_gateway(
    args: argparse.Namespace, database_url: str
) -> tuple[LoadResult, Durability, dict[str, Any]]:
    with running_gateway(database_url, rate_limits=args.rate_limits) as server:
        tenant = await setup_link_tenant(database_url, server.base_url, "rt")
        url = f"{server.base_url}/{tenant.handle}/{tenant.slug}?{QUERY}"
        warm = await load(url, args, "gateway warm-up", args.warmup)
        # Requests in flight at the cut-off finish; journaled clicks (if a batch missed its
        # commit budget) are replayed before anything is counted.
        await asyncio.sleep(0.5)
        await wait_ingest_settled(server.base_url)
        before = await count_clicks(database_url, tenant.account_id, tenant.handle)
        result = await load(url, args, "gateway", args.seconds)
        await asyncio.sleep(0.5)
        ready = await wait_ingest_settled(server.base_url)
        after = await count_clicks(database_url, tenant.account_id, tenant.handle)
        paused = None
        if args.also_paused:
            paused = await paused_run(args, server.base_url, tenant, url)
    durability = Durability(result.ok, after - before)
    extra = {
        "warmup_302": warm.ok,
        "clicks_before": before,
        "clicks_after": after,
        "handle": tenant.handle,
        "readyz_after": ready,
        "paused": asdict(paused) if paused else None,
    }
    return result, durability, extra


async def paused_run(args: argparse.Namespace, base_url: str, tenant: Any, url: str) -> LoadResult:
    """The same link with its campaign PAUSED: the full redirect path minus the click write."""
    import httpx

    async with httpx.AsyncClient(base_url=base_url, headers=tenant.auth, timeout=10) as client:
        r = await client.patch(
            f"/v2/handles/{tenant.handle}/campaigns/{tenant.campaign_id}",
            json={"status": "PAUSED"},
        )
        r.raise_for_status()
    await asyncio.sleep(1.0)  # past the link cache TTL
    await load(url, args, "gateway (paused) warm-up", args.warmup)
    return await load(url, args, "gateway, campaign PAUSED", args.seconds)


async def main_async(args: argparse.Namespace) -> None:
    if args.loader == "auto":
        args.loader = "wrk" if shutil.which("wrk") else "httpx"
    say(
        f"load: {args.loader}, {args.connections} connections, {args.seconds:.0f} s each "
        f"(+{args.warmup:.0f} s warm-up), 127.0.0.1 only; gateway rate limits: {args.rate_limits}"
    )
    bare = await bench_bare(args)
    say(f"bare starlette  {bare.line()}")
    async with bench_database(args.database_url, args.keep) as database_url:
        gateway, durability, extra = await bench_gateway(args, database_url)
    say(f"gateway         {gateway.line()}")
    if extra.get("paused"):
        p = LoadResult(**extra["paused"])
        say(f"gateway, campaign PAUSED (redirect without a click write)  {p.line()}")
    ratio = gateway.rps / bare.rps if bare.rps else 0.0
    ratio_ok = ratio >= TARGET_RATIO
    p99_ok = gateway.p99_ms <= TARGET_P99_MS
    say(
        f"ratio gateway/bare {ratio:.3f}  (target ≥ {TARGET_RATIO}: "
        f"{'met' if ratio_ok else 'NOT met'})   gateway p99 {gateway.p99_ms:.2f} ms "
        f"(target ≤ {TARGET_P99_MS:.0f} ms: {'met' if p99_ok else 'NOT met'})"
    )
    in_flight = durability.recorded - durability.counted_302
    note = (
        f" ({in_flight} more clicks than counted answers: requests in flight when the load "
        f"generator stopped, at most {args.connections})"
        if in_flight > 0
        else ""
    )
    say(
        f"durability: 302 responses counted {durability.counted_302:,}, clicks recorded "
        f"{durability.recorded:,} → {durability.verdict}{note}"
    )
    if args.loader == "wrk" and in_flight > args.connections:
        say("durability: more clicks than answers + connections: unexpected, check the loader")
    emit_json(
        "redirect_throughput",
        {
            "loader": args.loader,
            "connections": args.connections,
            "seconds": args.seconds,
            "bare": asdict(bare),
            "gateway": asdict(gateway),
            "ratio": round(ratio, 4),
            "target_ratio": TARGET_RATIO,
            "ratio_met": ratio_ok,
            "target_p99_ms": TARGET_P99_MS,
            "p99_met": p99_ok,
            "durability": {
                "counted_302": durability.counted_302,
                "recorded": durability.recorded,
                "in_flight_at_stop": in_flight,
                "verdict": durability.verdict,
            },
            "rate_limits": args.rate_limits,
            **extra,
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_args(parser)
    parser.add_argument("--seconds", type=float, default=15.0, help="Load per server (15).")
    parser.add_argument("--warmup", type=float, default=2.0, help="Warm-up per server (2).")
    parser.add_argument("--connections", type=int, default=32, help="Concurrency (32).")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2).")
    parser.add_argument(
        "--loader", choices=("auto", "wrk", "httpx"), default="auto", help="Load generator."
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=2_000_000,
        help="Request cap per run for the httpx loader (wrk is bounded by --seconds).",
    )
    parser.add_argument(
        "--rate-limits",
        choices=RATE_LIMIT_MODES,
        default="raised",
        help="Gateway rate limiter: raised (on, limits out of reach of one client IP; "
        "default), off, or default (shipped limits: expect 429s).",
    )
    parser.add_argument(
        "--also-paused",
        action="store_true",
        help="Then load the gateway once more with the campaign PAUSED (no click written): "
        "separates the HTTP path from the ingest path.",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 600 or not 1 <= args.connections <= 1024:
        parser.error("--seconds must be 1..600 and --connections 1..1024")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
