"""Soak: mixed traffic against a real gateway for a long while; does its memory stay flat?

Starts ``funnelgate serve`` as a subprocess (PostgreSQL by default, a fresh database) and
drives it with ``--concurrency`` clients for ``--seconds`` (default ten minutes): short-link
redirects, conversion posts (each with a new event id) and dashboard GraphQL queries, in
``--mix`` proportions. Every ``--interval`` seconds it prints the throughput of the last
interval, the errors so far, the server's RSS (from /proc/<pid>/status) and the ingest
queue and journal depths from /readyz. At the end: totals, RSS at the end of the warm-up,
at the end and its peak, the RSS slope over the run after warm-up (MB per minute, least
squares) and a verdict: flat when the RSS grew less than ``--flat-mb`` after warm-up.
Every click the gateway acknowledged is then checked against the database.

    python -m bench.soak                   # ten minutes
    python -m bench.soak --seconds 120     # two
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # ``python bench/soak.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    RATE_LIMIT_MODES,
    add_database_args,
    bench_database,
    count_clicks,
    emit_json,
    running_gateway,
    say,
    setup_link_tenant,
    wait_ingest_settled,
)

BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari"
DASHBOARD = """
query Dashboard($handle: String!, $campaignId: String!) {
  campaign(handle: $handle, campaignId: $campaignId) {
    campaignId status
    funnel(dateRange: "last_7_days") {
      clicks qualifiedClicks conversions revenue
      stages { name count }
      breakdown(dimension: SOURCE) { value count }
    }
  }
  campaigns(handle: $handle, first: 10) { edges { node { campaignId } } }
}
"""
SOURCES = ("google", "newsletter", "facebook", "partner", "")


def rss_mb(pid: int) -> float:
    """Resident set size of ``pid`` in MiB (VmRSS; includes shared pages it touched)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return 60 * sum((t - mx) * (v - my) for t, v in points) / var


@dataclass
class Tally:
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    acked_clicks: int = 0

    def total(self) -> int:
        return sum(self.requests.values())


async def client_loop(
    http: Any, tenant: Any, mix: dict[str, float], tally: Tally, stop: asyncio.Event, seed: int
) -> None:
    rng = random.Random(seed)
    kinds, weights = zip(*mix.items(), strict=True)
    n = 0
    while not stop.is_set():
        kind = rng.choices(kinds, weights)[0]
        n += 1
        try:
            if kind == "redirect":
                source = rng.choice(SOURCES)
                params = {"utm_source": source} if source else {}
                r = await http.get(
                    f"/{tenant.handle}/{tenant.slug}",
                    params=params,
                    headers={"user-agent": BROWSER_UA},
                )
                ok = r.status_code == 302
                if ok:
                    tally.acked_clicks += 1
            elif kind == "conversion":
                r = await http.post(
                    f"/v2/handles/{tenant.handle}/conversions",
                    json={
                        "eventType": "purchase",
                        "campaignId": tenant.campaign_id,
                        "value": rng.randint(1, 200),
                        "currency": "USD",
                        "eventId": f"soak-{seed}-{n}",
                    },
                    headers=tenant.auth,
                )
                ok = r.status_code in (200, 201)
            else:
                r = await http.post(
                    "/graphql",
                    json={
                        "query": DASHBOARD,
                        "variables": {"handle": tenant.handle, "campaignId": tenant.campaign_id},
                    },
                    headers=tenant.auth,
                )
                ok = r.status_code == 200 and not r.json().get("errors")
            tally.requests[kind] += 1
            if not ok:
                tally.errors[f"{kind} {r.status_code}"] += 1
        except Exception as exc:  # noqa: BLE001 - counted, the soak goes on
            tally.requests[kind] += 1
            tally.errors[f"{kind} {type(exc).__name__}"] += 1
            await asyncio.sleep(0.05)


async def readiness(http: Any) -> str:
    try:
        body = (await http.get("/readyz")).json()
        ingest = body.get("ingest", {})
        return (
            f"{body.get('status')}, queue {ingest.get('queueDepth')}, "
            f"journal {ingest.get('journalDepth')}"
        )
    except Exception as exc:  # noqa: BLE001
        return f"readyz failed: {type(exc).__name__}"


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    mix = parse_mix(args.mix)
    async with bench_database(args.database_url, args.keep) as database_url:
        with running_gateway(database_url, rate_limits=args.rate_limits) as server:
            pid = server.process.pid
            tenant = await setup_link_tenant(database_url, server.base_url, "soak")
            say(
                f"soak: {args.seconds:.0f} s, {args.concurrency} clients, mix {args.mix}, "
                f"gateway pid {pid} on {server.base_url}"
            )
            say(
                f"{'t (s)':>6} {'req/s':>8} {'requests':>9} {'errors':>7} {'RSS MB':>8}  "
                f"{'redirect/conv/dash':>20}  readyz"
            )
            tally = Tally()
            stop = asyncio.Event()
            limits = httpx.Limits(max_connections=args.concurrency)
            samples: list[tuple[float, float]] = [(0.0, rss_mb(pid))]
            async with (
                httpx.AsyncClient(base_url=server.base_url, timeout=30, limits=limits) as http,
                httpx.AsyncClient(base_url=server.base_url, timeout=10) as probe,
            ):
                tasks = [
                    asyncio.create_task(client_loop(http, tenant, mix, tally, stop, seed))
                    for seed in range(args.concurrency)
                ]
                started = time.monotonic()
                last_total, last_t = 0, started
                try:
                    while (now := time.monotonic()) - started < args.seconds:
                        await asyncio.sleep(min(args.interval, args.seconds - (now - started)))
                        now = time.monotonic()
                        total = tally.total()
                        rss = rss_mb(pid)
                        samples.append((now - started, rss))
                        rate = (total - last_total) / max(now - last_t, 1e-9)
                        kinds = "/".join(
                            str(tally.requests[k]) for k in ("redirect", "conversion", "dashboard")
                        )
                        say(
                            f"{now - started:6.0f} {rate:8.1f} {total:9d} "
                            f"{sum(tally.errors.values()):7d} {rss:8.1f}  {kinds:>20}  "
                            f"{await readiness(probe)}"
                        )
                        last_total, last_t = total, now
                finally:
                    stop.set()
                    await asyncio.gather(*tasks, return_exceptions=True)
                elapsed = time.monotonic() - started
            settled = await wait_ingest_settled(server.base_url)
            stored = await count_clicks(database_url, tenant.account_id, tenant.handle)
            final_rss = rss_mb(pid)

    warm = [(t, v) for t, v in samples if t >= args.warmup]
    baseline = warm[0][1] if warm else samples[-1][1]
    growth = samples[-1][1] - baseline
    slope = slope_per_minute(warm)
    figures = {
        "seconds": round(elapsed, 1),
        "concurrency": args.concurrency,
        "mix": mix,
        "requests": dict(tally.requests),
        "throughput_rps": round(tally.total() / elapsed, 1),
        "errors": dict(tally.errors),
        "rss_mb": {
            "start": round(samples[0][1], 1),
            "after_warmup": round(baseline, 1),
            "end": round(samples[-1][1], 1),
            "peak": round(max(v for _, v in samples), 1),
            "after_settle": round(final_rss, 1),
        },
        "rss_growth_after_warmup_mb": round(growth, 1),
        "rss_slope_mb_per_min": round(slope, 2),
        "rss_flat": growth < args.flat_mb,
        "acked_clicks": tally.acked_clicks,
        "stored_clicks": stored,
        "durable": stored >= tally.acked_clicks,
        "readyz_after": settled.get("status"),
    }
    say()
    say(
        f"total {tally.total()} requests in {elapsed:.0f} s = {figures['throughput_rps']} req/s; "
        f"errors {sum(tally.errors.values())} {dict(tally.errors) or ''}"
    )
    say(
        f"RSS MB: start {figures['rss_mb']['start']}, after {args.warmup:.0f} s warm-up "
        f"{baseline:.1f}, end {samples[-1][1]:.1f}, peak {figures['rss_mb']['peak']}; growth "
        f"after warm-up {growth:+.1f} MB, slope {slope:+.2f} MB/min -> "
        f"{'flat' if figures['rss_flat'] else 'NOT flat'} (threshold {args.flat_mb} MB)"
    )
    say(
        f"clicks: {tally.acked_clicks} acknowledged, {stored} stored -> "
        f"{'OK' if figures['durable'] else 'LOST CLICKS'}"
    )
    return figures


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in ("redirect", "conversion", "dashboard"):
            raise SystemExit(f"--mix: unknown kind {name!r}")
        mix[name] = float(weight)
    return mix


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="Duration (600).")
    parser.add_argument("--interval", type=float, default=10.0, help="Report every (10 s).")
    parser.add_argument("--concurrency", type=int, default=16, help="Concurrent clients (16).")
    parser.add_argument(
        "--mix",
        default="redirect=0.7,conversion=0.15,dashboard=0.15",
        help="Traffic proportions (redirect=0.7,conversion=0.15,dashboard=0.15).",
    )
    parser.add_argument(
        "--warmup", type=float, default=60.0, help="Seconds before RSS is judged (60)."
    )
    parser.add_argument(
        "--flat-mb", type=float, default=20.0, help="Max RSS growth after warm-up (20 MB)."
    )
    parser.add_argument("--rate-limits", choices=RATE_LIMIT_MODES, default="raised")
    add_database_args(parser)
    args = parser.parse_args(argv)
    args.warmup = min(args.warmup, args.seconds / 2)
    emit_json("soak", asyncio.run(soak(args)))


if __name__ == "__main__":
    main()
