"""Freshness: how long after a redirect is answered does its click show in the funnel?

Starts ``funnelgate serve`` on 127.0.0.1, creates an ACTIVE campaign with one link, then
``--iterations`` times: follows the link (302), and polls
``GET /v2/handles/{h}/analytics?funnel=true&campaignId=…`` until the campaign's click count
goes up. Prints p50/p99 of the time from the redirect's answer to visibility
(target p99 ≤ 1 s).

    python -m bench.freshness --iterations 200
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # ``python bench/freshness.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    RATE_LIMIT_MODES,
    add_database_args,
    bench_database,
    emit_json,
    ms,
    percentile,
    progress,
    running_gateway,
    say,
    setup_link_tenant,
)

TARGET_P99_S = 1.0
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


async def measure(args: argparse.Namespace, database_url: str) -> dict:
    import httpx

    with running_gateway(database_url, rate_limits=args.rate_limits) as server:
        tenant = await setup_link_tenant(database_url, server.base_url, "fresh")
        analytics = f"/v2/handles/{tenant.handle}/analytics"
        params = {"funnel": "true", "campaignId": tenant.campaign_id}
        link = f"/{tenant.handle}/{tenant.slug}"
        headers = {"User-Agent": USER_AGENT, "Referer": "https://www.google.com/"}
        latencies: list[float] = []
        polls: list[int] = []
        poll_times: list[float] = []
        timeouts = 0
        bad_redirects = 0
        async with httpx.AsyncClient(base_url=server.base_url, timeout=10) as client:

            async def clicks() -> int:
                t0 = time.perf_counter()
                r = await client.get(analytics, params=params, headers=tenant.auth)
                poll_times.append(time.perf_counter() - t0)
                r.raise_for_status()
                return int(r.json()["funnel"][0]["clicks"])

            seen = await clicks()
            deadline = time.monotonic() + args.max_seconds
            with progress(transient=True) as bar:
                task = bar.add_task("redirect → funnel", total=args.iterations, rate="")
                for _ in range(args.iterations):
                    if time.monotonic() > deadline:
                        break
                    r = await client.get(link, headers=headers)
                    answered = time.perf_counter()
                    if r.status_code != 302:
                        bad_redirects += 1
                        continue
                    n = 0
                    while True:
                        n += 1
                        now_clicks = await clicks()
                        waited = time.perf_counter() - answered
                        if now_clicks > seen:
                            seen = now_clicks
                            latencies.append(waited)
                            polls.append(n)
                            break
                        if waited > args.timeout:
                            timeouts += 1
                            latencies.append(waited)
                            break
                        if args.poll_interval_ms:
                            await asyncio.sleep(args.poll_interval_ms / 1000)
                    bar.update(
                        task,
                        advance=1,
                        rate=f"p50 {ms(percentile(latencies, 50)):.1f} ms",
                    )
    return {
        "iterations": len(latencies),
        "p50_ms": ms(percentile(latencies, 50)),
        "p90_ms": ms(percentile(latencies, 90)),
        "p99_ms": ms(percentile(latencies, 99)),
        "max_ms": ms(max(latencies, default=0.0)),
        "timeouts": timeouts,
        "bad_redirects": bad_redirects,
        "visible_on_first_poll": sum(1 for p in polls if p == 1),
        "max_polls": max(polls, default=0),
        "poll_p50_ms": ms(percentile(poll_times, 50)),
        "poll_p99_ms": ms(percentile(poll_times, 99)),
    }


async def main_async(args: argparse.Namespace) -> None:
    say(
        f"freshness: {args.iterations} redirects, poll every {args.poll_interval_ms} ms "
        f"(timeout {args.timeout} s each), gateway rate limits: {args.rate_limits}"
    )
    async with bench_database(args.database_url, args.keep) as url:
        r = await measure(args, url)
    ok = r["p99_ms"] <= TARGET_P99_S * 1000 and not r["timeouts"]
    say(
        f"redirect answered → click visible in the funnel: p50 {r['p50_ms']:.1f} ms  "
        f"p90 {r['p90_ms']:.1f} ms  p99 {r['p99_ms']:.1f} ms  max {r['max_ms']:.1f} ms  "
        f"({r['iterations']} redirects, {r['timeouts']} timeouts)"
    )
    say(
        f"visible on the first poll: {r['visible_on_first_poll']}/{r['iterations']}; "
        f"most polls needed {r['max_polls']}; one analytics poll p50 {r['poll_p50_ms']:.1f} ms "
        f"p99 {r['poll_p99_ms']:.1f} ms"
    )
    say(f"target p99 ≤ {TARGET_P99_S * 1000:.0f} ms: {'met' if ok else 'NOT met'}")
    emit_json(
        "freshness",
        {
            "database": url.split("://")[0],
            **r,
            "target_p99_ms": TARGET_P99_S * 1000,
            "target_met": ok,
            "rate_limits": args.rate_limits,
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_args(parser)
    parser.add_argument("--iterations", type=int, default=200, help="Redirects (200).")
    parser.add_argument(
        "--poll-interval-ms", type=float, default=5.0, help="Pause between polls (5 ms)."
    )
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="Give up on one click after (5 s)."
    )
    parser.add_argument(
        "--max-seconds", type=float, default=300.0, help="Stop after this long overall (300)."
    )
    parser.add_argument(
        "--rate-limits",
        choices=RATE_LIMIT_MODES,
        default="raised",
        help="Gateway rate limiter: raised (default), off, or default (shipped limits: the "
        "polling then hits the per-token API limit).",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.iterations <= 10_000:
        parser.error("--iterations must be 1..10000")
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
