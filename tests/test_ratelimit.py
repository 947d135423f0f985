"""Rate limits: per token and per IP on the API, per IP on redirects; memory and Redis."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from app.settings import Settings
from tests.conftest import Tenant, bearer
from tests.inprocess import app_client, running_app

REDIS_URL = "redis://127.0.0.1:6379/15"
# Limits in tests are per hour: windows align to the clock, and the sliding-window counter
# only approximates counts across a boundary, which a per-minute test could straddle.


@contextlib.asynccontextmanager
async def running(settings: Settings, **overrides: Any) -> AsyncIterator[Any]:
    # Most tests limit the loopback client, which the defaults exempt from per-IP limits.
    overrides = {"rate_limit_exempt_ips": "", **overrides}
    async with running_app(settings, **overrides) as app:
        yield app


def client(app: Any, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    return app_client(app, ip)


@pytest.fixture
async def redis_db(redis_conn: aioredis.Redis) -> AsyncIterator[aioredis.Redis]:
    """Redis db 15, flushed before and after."""
    await redis_conn.flushdb()
    try:
        yield redis_conn
    finally:
        await redis_conn.flushdb()


async def test_token_over_its_limit_gets_429_with_headers_and_v2_error_shape(
    settings: Settings, tenant: Tenant
) -> None:
    async with running(settings, rate_limit_api="3/hour") as app, client(app) as c:
        # One token for every call: a JWT minted per call (new iat) would be a new budget.
        url, auth = f"/v2/handles/{tenant.handle}/campaigns", tenant.auth()
        remaining = []
        for _ in range(3):
            response = await c.get(url, headers=auth)
            assert response.status_code == 200, response.text
            assert response.headers["RateLimit-Limit"] == "3"
            remaining.append(int(response.headers["RateLimit-Remaining"]))
            assert 0 <= int(response.headers["RateLimit-Reset"]) <= 3600
        assert remaining == [2, 1, 0]

        refused = await c.get(url, headers=auth)
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert "3 requests per 3600 s" in refused.json()["message"]
        assert refused.headers["RateLimit-Remaining"] == "0"
        assert 1 <= int(refused.headers["Retry-After"]) <= 3600
        assert refused.headers["RateLimit-Policy"] == "2400;w=60, 3;w=3600"  # api-ip default


async def test_v1_refusal_keeps_the_funnel_report_error_shape(settings: Settings) -> None:
    async with running(settings, rate_limit_api_ip="1/hour") as app, client(app) as c:
        first = await c.get("/v1/funnel")
        assert first.status_code != 429
        refused = await c.get("/v1/funnel")
        assert refused.status_code == 429
        assert refused.json() == {"status": "error", "message": refused.json()["message"]}
        assert "Retry-After" in refused.headers


async def test_graphql_refusal_is_a_graphql_error_with_code(settings: Settings) -> None:
    async with running(settings, rate_limit_api_ip="1/hour") as app, client(app) as c:
        body = {"query": "{ __typename }"}
        assert (await c.post("/graphql", json=body)).status_code == 200
        refused = await c.post("/graphql", json=body)
        assert refused.status_code == 429
        (error,) = refused.json()["errors"]
        assert error["extensions"]["code"] == "rate_limited"


async def test_each_token_has_its_own_budget(settings: Settings, tenant: Tenant) -> None:
    other = tenant.jwt("ADMIN")
    async with running(settings, rate_limit_api="2/hour") as app, client(app) as c:
        url, auth = f"/v2/handles/{tenant.handle}/campaigns", tenant.auth()
        for _ in range(2):
            assert (await c.get(url, headers=auth)).status_code == 200
        assert (await c.get(url, headers=auth)).status_code == 429
        response = await c.get(url, headers=bearer(other))
        assert response.status_code == 200
        assert response.headers["RateLimit-Remaining"] == "1"


async def test_anonymous_api_calls_are_limited_per_ip(settings: Settings) -> None:
    async with running(settings, rate_limit_api_ip="2/hour") as app:
        async with client(app, "10.0.0.1") as first, client(app, "10.0.0.2") as second:
            for _ in range(2):
                assert (await first.get("/v2/handles/acme/campaigns")).status_code == 401
            assert (await first.get("/v2/handles/acme/campaigns")).status_code == 429
            # A fresh token does not buy a way past the per-IP limit.
            response = await first.get("/graphql?query={__typename}", headers=bearer("x"))
            assert response.status_code == 429
            assert (await second.get("/v2/handles/acme/campaigns")).status_code == 401


async def test_redirects_are_limited_per_ip_and_forwarded_for_is_not_trusted(
    settings: Settings,
) -> None:
    async with running(settings, rate_limit_redirect_ip="2/hour") as app:
        async with client(app, "1.2.3.4") as visitor, client(app, "5.6.7.8") as neighbour:
            for _ in range(2):
                response = await visitor.get("/nobody/nothing")
                assert response.status_code == 404
                assert response.headers["RateLimit-Limit"] == "2"
            spoofed = await visitor.get("/nobody/nothing", headers={"X-Forwarded-For": "9.9.9.9"})
            assert spoofed.status_code == 429
            assert spoofed.headers["content-type"].startswith("text/plain")
            assert int(spoofed.headers["Retry-After"]) >= 1
            assert (await neighbour.get("/nobody/nothing")).status_code == 404


async def test_redirects_ignore_the_api_token_limit(settings: Settings) -> None:
    async with running(settings, rate_limit_api="1/hour") as app, client(app) as c:
        for _ in range(3):
            response = await c.get("/nobody/nothing", headers=bearer("tok"))
            assert response.status_code == 404


async def test_probes_are_not_limited(settings: Settings) -> None:
    async with (
        running(settings, rate_limit_api_ip="1/hour", rate_limit_redirect_ip="1/hour") as app,
        client(app) as c,
    ):
        for path in ["/healthz", "/healthz", "/readyz", "/readyz"]:
            response = await c.get(path)
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers


async def test_rate_limits_can_be_turned_off(settings: Settings) -> None:
    async with (
        running(settings, rate_limit_enabled=False, rate_limit_api_ip="1/hour") as app,
        client(app) as c,
    ):
        for _ in range(3):
            response = await c.post("/graphql", json={"query": "{ __typename }"})
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers


async def test_redis_counters_are_shared_between_app_instances(
    settings: Settings, redis_db: aioredis.Redis
) -> None:
    shared = {
        "redis_url": REDIS_URL,
        "redis_key_prefix": f"fgtest-{uuid.uuid4().hex[:8]}",
        "rate_limit_api": "3/hour",
    }
    token = "not-a-real-token-but-counted-all-the-same"
    async with running(settings, **shared) as one, running(settings, **shared) as two:
        async with client(one) as a, client(two) as b:
            url, headers = "/v2/handles/acme/campaigns", bearer(token)
            assert (await a.get(url, headers=headers)).status_code == 401
            assert (await b.get(url, headers=headers)).status_code == 401
            response = await a.get(url, headers=headers)
            assert response.headers["RateLimit-Remaining"] == "0"
            refused = await b.get(url, headers=headers)
            assert refused.status_code == 429
    keys = [key.decode() async for key in redis_db.scan_iter(f"{shared['redis_key_prefix']}:*")]
    assert keys, "the counters live in Redis"
    assert all(token not in key for key in keys), "the raw token never reaches Redis"


async def test_unreachable_redis_fails_open(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        running(settings, redis_url="redis://127.0.0.1:1/0", rate_limit_api_ip="1/hour") as app,
        client(app) as c,
    ):
        for _ in range(3):
            response = await c.post("/graphql", json={"query": "{ __typename }"})
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers
    warnings = [r for r in caplog.records if "rate limit storage unavailable" in r.getMessage()]
    assert len(warnings) == 1


async def test_loopback_skips_per_ip_limits_by_default_but_not_its_token_limit(settings, tenant):
    async with running(
        settings,
        rate_limit_exempt_ips="127.0.0.1,::1",
        rate_limit_api_ip="1/hour",
        rate_limit_redirect_ip="1/hour",
        rate_limit_api="3/hour",
    ) as app:
        async with client(app) as local:
            for _ in range(3):
                r = await local.get("/healthz-not-a-route/x")  # a redirect path: 404, unlimited
                assert r.status_code == 404
            statuses = [
                (
                    await local.get(f"/v2/handles/{tenant.handle}/campaigns", headers=tenant.auth())
                ).status_code
                for _ in range(4)
            ]
            assert statuses == [200, 200, 200, 429]
        async with client(app, ip="203.0.113.9") as remote:
            assert (await remote.get("/healthz-not-a-route/x")).status_code == 404
            assert (await remote.get("/healthz-not-a-route/x")).status_code == 429
