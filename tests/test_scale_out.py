"""Scale-out with real processes: two ``funnelgate serve`` processes on separate ports and
one PostgreSQL database give the same answers as one, deliver each webhook event once and
share rate limits through Redis; ``--workers 2`` serves too."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from resolvers.auth import mint_jwt
from tests.factories import post_campaign_with_link
from tests.gateway_proc import Gateway, create_account, gateway_env
from tests.pg_admin import scratch_database
from tests.redirect_load import BROWSER_UA

pytestmark = pytest.mark.postgres

JWT_SECRET = "scale-out-secret-that-is-long-enough-for-hs256-0123456789"
REDIS_URL = "redis://127.0.0.1:6379/14"
CAMPAIGN = "scale"


def token(handle: str, subject: str = "scale-test") -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_jwt(JWT_SECRET, subject, {handle: 'ADMIN'}, 3600)}"}


@dataclass
class Cluster:
    """Gateway processes sharing one database (and Redis, when configured)."""

    handle: str
    gateways: list[Gateway]
    database_url: str

    @property
    def a(self) -> Gateway:
        return self.gateways[0]

    @property
    def b(self) -> Gateway:
        return self.gateways[1]


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with scratch_database("fg_scale") as url:
        yield url


def _start_pair(
    database_url: str, tmp: Path, handle: str, **settings: str
) -> tuple[dict[str, str], list[Gateway]]:
    env = gateway_env(
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        storage_url=str(tmp / "objects"),
        webhook_allow_private="true",
        **settings,
    )
    create_account(env, handle, "Scale")
    gateways = []
    try:
        for name in ("a", "b"):
            # One journal directory per process, as on separate hosts.
            own = env | {"FUNNELGATE_JOURNAL_DIR": str(tmp / f"journal-{name}")}
            gateways.append(Gateway(own, tmp / f"gateway-{name}.log").start())
    except BaseException:
        for g in gateways:
            g.stop()
        raise
    return env, gateways


@pytest.fixture(scope="module")
def pair(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two processes with their webhook workers running and rate limits off."""
    tmp = tmp_path_factory.mktemp("scale")
    handle = f"scale-{uuid.uuid4().hex[:8]}"
    _, gateways = _start_pair(
        database_url,
        tmp,
        handle,
        rate_limit_enabled="false",
        webhook_worker_enabled="true",
        webhook_poll_interval_s="0.1",
        webhook_backoff_base_s="0.1",
    )
    try:
        yield Cluster(handle, gateways, database_url)
    finally:
        for g in gateways:
            g.stop()


async def _setup_link(gateway: Gateway, handle: str, destination: str) -> None:
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as http:
        await post_campaign_with_link(
            http,
            handle,
            token(handle),
            CAMPAIGN,
            "go",
            destination=destination,
            status="ACTIVE",
            expect=(201, 409),
            link_expect=(200, 201),
        )


async def _location(http: httpx.AsyncClient, gateway: Gateway, path: str) -> str:
    r = await http.get(f"{gateway.base_url}{path}", headers={"user-agent": BROWSER_UA})
    assert r.status_code == 302, r.text
    return r.headers["location"]


async def test_a_link_changed_through_one_process_redirects_so_on_the_other_within_a_second(
    pair,
):
    path = f"/{pair.handle}/go"
    async with httpx.AsyncClient(timeout=30) as http:
        await _setup_link(pair.a, pair.handle, "https://shop.example.com/v0")
        # Wait until B serves it, so that B holds the link in its cache.
        deadline = time.monotonic() + 10
        while (await _location(http, pair.b, path)) != "https://shop.example.com/v0":
            assert time.monotonic() < deadline
        for version in range(1, 4):
            destination = f"https://shop.example.com/v{version}"
            for _ in range(5):  # B's cache has the old destination
                assert await _location(http, pair.b, path) != destination
            r = await http.put(
                f"{pair.a.base_url}/v2/handles/{pair.handle}/links/go",
                json={"destinationUrl": destination, "campaignId": CAMPAIGN},
                headers=token(pair.handle),
            )
            assert r.status_code == 200, r.text
            changed = time.monotonic()
            while True:
                sent = time.monotonic()
                if await _location(http, pair.b, path) == destination:
                    break
                assert sent - changed < 5, "process B never saw the change"
                await asyncio.sleep(0.02)
            assert sent - changed < 1.0, (
                f"B redirected to the old destination for {sent - changed}s"
            )


async def _funnel(http: httpx.AsyncClient, gateway: Gateway, handle: str) -> dict:
    r = await http.get(
        f"{gateway.base_url}/v2/handles/{handle}/analytics",
        params={"funnel": "true", "campaignId": CAMPAIGN},
        headers=token(handle),
    )
    assert r.status_code == 200, r.text
    return r.json()["funnel"][0]


async def _dashboard(http: httpx.AsyncClient, gateway: Gateway, handle: str) -> dict:
    r = await http.post(
        f"{gateway.base_url}/graphql",
        json={
            "query": "query($h: String!) "
            "{ campaigns(handle: $h) { edges { node { campaignId status } } } }",
            "variables": {"h": handle},
        },
        headers=token(handle),
    )
    assert r.status_code == 200, r.text
    return r.json()


async def test_the_funnel_read_through_either_process_is_the_same_after_clicks_on_both(pair):
    path = f"/{pair.handle}/go"
    async with httpx.AsyncClient(timeout=30) as http:
        await _setup_link(pair.a, pair.handle, "https://shop.example.com/funnel")
        before = (await _funnel(http, pair.a, pair.handle))["clicks"]
        await asyncio.gather(
            *(_location(http, g, path) for g in (pair.a, pair.b) for _ in range(15))
        )
        through_a = await _funnel(http, pair.a, pair.handle)
        through_b = await _funnel(http, pair.b, pair.handle)
        assert through_a == through_b
        assert through_a["clicks"] == before + 30
        assert await _dashboard(http, pair.a, pair.handle) == await _dashboard(
            http, pair.b, pair.handle
        )


async def test_each_webhook_event_is_delivered_once_with_two_processes_delivering(pair, receiver):
    async with httpx.AsyncClient(timeout=30) as http:
        await _setup_link(pair.a, pair.handle, "https://shop.example.com/hooks")
        r = await http.post(
            f"{pair.a.base_url}/v2/handles/{pair.handle}/webhooks",
            json={"url": receiver.url, "events": ["conversion.tested"]},
            headers=token(pair.handle),
        )
        assert r.status_code == 201, r.text

        async def emit(gateway: Gateway) -> str:
            r = await http.post(
                f"{gateway.base_url}/v2/handles/{pair.handle}/campaigns/{CAMPAIGN}/test-conversion",
                json={"value": 10, "currency": "USD"},
                headers=token(pair.handle),
            )
            assert r.status_code == 201, r.text
            return r.json()["webhookEvent"]["id"]

        emitted = await asyncio.gather(*(emit(g) for g in (pair.a, pair.b) for _ in range(15)))
        deadline = time.monotonic() + 45
        while not set(emitted) <= set(receiver.delivered_ids):
            assert time.monotonic() < deadline, (
                f"{len(set(emitted) - set(receiver.delivered_ids))} events never delivered"
            )
            await asyncio.sleep(0.1)
        # Both workers keep polling: a duplicate would arrive within a few passes.
        await asyncio.sleep(1.5)
    counts = Counter(receiver.delivered_ids)
    assert sorted(counts) == sorted(emitted)
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v > 1}


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unreachable: {exc}")
    prefix = f"fgtest-{uuid.uuid4().hex[:10]}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


async def test_rate_limits_are_shared_through_redis(database_url, redis_prefix, tmp_path):
    handle = f"limits-{uuid.uuid4().hex[:8]}"
    _, gateways = await asyncio.to_thread(
        _start_pair,
        database_url,
        tmp_path,
        handle,
        redis_url=REDIS_URL,
        redis_key_prefix=redis_prefix,
        webhook_worker_enabled="false",
        # Hour-long windows: the test never straddles a window boundary.
        rate_limit_api="6/hour",
        rate_limit_redirect_ip="8/hour",
        rate_limit_exempt_ips="",  # the test client is on loopback
    )
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            await _setup_link(gateways[0], handle, "https://shop.example.com/limited")
            limited = token(handle, subject=f"limited-{uuid.uuid4().hex[:6]}")
            statuses = []
            for i in range(12):  # alternating between the processes
                r = await http.get(
                    f"{gateways[i % 2].base_url}/v2/handles/{handle}/campaigns",
                    headers=limited,
                )
                statuses.append(r.status_code)
            assert statuses == [200] * 6 + [429] * 6, statuses
            redirects = []
            for i in range(12):
                r = await http.get(
                    f"{gateways[i % 2].base_url}/{handle}/go", headers={"user-agent": BROWSER_UA}
                )
                redirects.append(r.status_code)
            assert redirects == [302] * 8 + [429] * 4, redirects
    finally:
        for g in gateways:
            g.stop()


async def test_serve_with_two_workers_starts_serves_and_stops(database_url, tmp_path):
    handle = f"workers-{uuid.uuid4().hex[:8]}"
    env = gateway_env(
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        journal_dir=str(tmp_path / "journal"),
        storage_url=str(tmp_path / "objects"),
        webhook_worker_enabled="false",
        rate_limit_enabled="false",
    )
    await asyncio.to_thread(create_account, env, handle, "W")
    gateway = Gateway(env, tmp_path / "workers.log", workers=2)
    await asyncio.to_thread(gateway.start, 90)
    try:
        await _setup_link(gateway, handle, "https://shop.example.com/workers")
        async with httpx.AsyncClient(timeout=30) as http:
            locations = await asyncio.gather(
                *(_location(http, gateway, f"/{handle}/go") for _ in range(40))
            )
            assert set(locations) == {"https://shop.example.com/workers"}
            funnel = await _funnel(http, gateway, handle)
            assert funnel["clicks"] == 40
            ready = await http.get(f"{gateway.base_url}/readyz")
            assert ready.status_code == 200 and ready.json()["status"] == "ok"
    finally:
        code = await asyncio.to_thread(gateway.stop, 60)
    assert code in (0, -15), gateway.log_tail()
