"""Analytics reads go to a real streaming replica, and fall back to the primary when the
replica lags or is down."""

import asyncio

import asyncpg
import pytest
from sqlalchemy import event

from tests.factories import post_campaign_with_link
from tests.inprocess import app_client, running_app
from tests.pg_admin import PG_ADMIN_DSN
from tests.pg_replica import allow_replication, streaming_replica

UA = {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"}


@pytest.fixture
def replica_settings(settings, backend):
    if backend != "postgresql":
        pytest.skip("read replicas are a PostgreSQL feature")
    return settings


async def _wait_for(predicate, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def test_analytics_reads_use_the_replica_and_survive_its_lag_and_loss(
    replica_settings, tenant, client
):
    await allow_replication(PG_ADMIN_DSN)

    h = tenant.auth("ADMIN")
    await post_campaign_with_link(client, tenant.handle, h, "rep", status="ACTIVE")

    with streaming_replica() as (port, stop_replica):
        database = replica_settings.database_url.rsplit("/", 1)[1]
        replica_url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/{database}"
        # A generous lag bound: the machine running the tests may be busy, and this test is
        # about routing, not about how fast replay is.
        settings = replica_settings.model_copy(
            update={"read_database_url": replica_url, "replica_max_lag_s": 3.0}
        )
        async with running_app(settings) as app:
            router = app.state.services.read_router
            replica_statements: list[str] = []
            event.listen(
                router._replica_engine.sync_engine,
                "before_cursor_execute",
                lambda *a: replica_statements.append(a[2]),
            )
            async with app_client(app, base_url="http://t") as http:
                url = f"/v2/handles/{tenant.handle}/analytics?funnel=true&campaignId=rep"

                async def clicks() -> int:
                    r = await http.get(url, headers=h)
                    assert r.status_code == 200, r.text
                    return r.json()["funnel"][0]["clicks"]

                for _ in range(3):
                    assert (await http.get(f"/{tenant.handle}/rep", headers=UA)).status_code == 302
                await _wait_for(router.check)
                replica_statements.clear()
                await _wait_for(lambda: _eq(clicks(), 3))
                assert any("rollup_campaign_" in s for s in replica_statements)

                # A paused replay is lag: reads move to the primary and stay fresh.
                conn = await asyncpg.connect(
                    host="127.0.0.1", port=port, user="postgres", database=database
                )
                await conn.execute("SELECT pg_wal_replay_pause()")
                await asyncio.sleep(settings.replica_max_lag_s + 0.5)
                assert (await http.get(f"/{tenant.handle}/rep", headers=UA)).status_code == 302
                await _wait_for(lambda: _not(router.check()))
                assert await clicks() == 4
                await conn.execute("SELECT pg_wal_replay_resume()")
                await conn.close()
                await _wait_for(router.check)

                # The replica goes away: reads fall back to the primary.
                stop_replica()
                assert (await http.get(f"/{tenant.handle}/rep", headers=UA)).status_code == 302
                assert await clicks() == 5
                assert router.healthy is False


async def _eq(awaitable, expected) -> bool:
    return await awaitable == expected


async def _not(awaitable) -> bool:
    return not await awaitable
