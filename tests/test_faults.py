"""Faults with real processes: PostgreSQL stopped under load, the gateway SIGKILLed and
SIGTERMed under load. Every acknowledged click (a 302 carrying its click id) must be counted
exactly once afterwards.

The database is a dedicated throwaway cluster (tests/pg_cluster.py): these tests stop and
kill it, which must never happen to the shared server other test runs use.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from resolvers.auth import mint_jwt
from tests.factories import post_campaign_with_link
from tests.gateway_proc import Gateway, create_account, gateway_env
from tests.pg_admin import pg_fetch
from tests.pg_cluster import PgCluster, dedicated_cluster
from tests.redirect_load import RedirectLoad

pytestmark = pytest.mark.postgres

JWT_SECRET = "fault-test-secret-that-is-long-enough-for-hs256-0123456789"
CAMPAIGN = "faults"
SLUG = "go"


def _have_postgres_binaries() -> bool:
    import glob

    return bool(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[PgCluster]:
    if not _have_postgres_binaries():
        if os.environ.get("FUNNELGATE_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL server binaries are required for the fault tests")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not installed")
    with dedicated_cluster() as c:
        yield c


@dataclass
class Deployment:
    """One database on the dedicated cluster, an account with a tracked link, and the env
    to run gateways against it."""

    cluster: PgCluster
    database: str
    env: dict[str, str]
    handle: str
    tmp: Path

    @property
    def auth(self) -> dict[str, str]:
        token = mint_jwt(JWT_SECRET, "fault-test", {self.handle: "ADMIN"}, 3600)
        return {"Authorization": f"Bearer {token}"}

    def gateway(self, name: str = "gw") -> Gateway:
        return Gateway(self.env, self.tmp / f"{name}.log")

    async def setup_link(self, gateway: Gateway) -> None:
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as http:
            await post_campaign_with_link(
                http,
                self.handle,
                self.auth,
                CAMPAIGN,
                SLUG,
                destination="https://shop.example.com/landing",
                append=True,
                status="ACTIVE",
            )

    async def funnel_clicks(self, gateway: Gateway) -> int:
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=30) as http:
            r = await http.get(
                f"/v2/handles/{self.handle}/analytics?funnel=true&campaignId={CAMPAIGN}",
                headers=self.auth,
            )
        assert r.status_code == 200, r.text
        return r.json()["funnel"][0]["clicks"]

    async def stored_click_ids(self) -> list[str]:
        rows = await pg_fetch(
            "SELECT id FROM clicks WHERE handle = $1",
            self.handle,
            dsn=self.cluster.dsn(self.database),
        )
        return [r["id"] for r in rows]


@pytest.fixture
def deployment(cluster: PgCluster, tmp_path: Path) -> Iterator[Deployment]:
    if not cluster.is_running():
        cluster.start()  # a failed earlier test may have left it stopped
    name = f"fg_fault_{uuid.uuid4().hex[:10]}"
    url = asyncio.run(cluster.create_database(name))
    handle = f"fault-{uuid.uuid4().hex[:8]}"
    env = gateway_env(
        database_url=url,
        jwt_secret=JWT_SECRET,
        journal_dir=str(tmp_path / "journal"),
        storage_url=str(tmp_path / "objects"),
        ingest_commit_budget_s="0.5",
        # These tests hammer one link from one IP: per-IP limits are not under test.
        rate_limit_enabled="false",
        webhook_worker_enabled="false",
    )
    create_account(env, handle, "Faults")
    yield Deployment(cluster, name, env, handle, tmp_path)


async def wait_caught_up(gateway: Gateway, timeout: float = 45) -> dict:
    """Poll /readyz until the database answers, ingest is not degraded and the journal is
    drained."""
    deadline = time.monotonic() + timeout
    last: dict | str = ""
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=10) as http:
        while time.monotonic() < deadline:
            try:
                r = await http.get("/readyz")
                last = r.json()
                if (
                    r.status_code == 200
                    and last["status"] == "ok"
                    and last["ingest"]["journalDepth"] == 0
                    and last["ingest"]["queueDepth"] == 0
                ):
                    return last
            except httpx.HTTPError as exc:
                last = repr(exc)
            await asyncio.sleep(0.2)
    raise AssertionError(f"gateway did not catch up: {last}")


async def poll_readiness(gateway: Gateway, seconds: float) -> list[dict]:
    """What /readyz said, every 0.2 s for ``seconds``."""
    seen: list[dict] = []
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=gateway.base_url, timeout=5) as http:
        while time.monotonic() < deadline:
            try:
                body = (await http.get("/readyz")).json()
                seen.append(
                    {
                        "status": body["status"],
                        "degraded": body["ingest"]["degraded"],
                        "journaled": body["ingest"]["journalDepth"] > 0,
                    }
                )
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    return seen


async def wait_until(predicate, timeout: float = 30, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


def assert_counted_once(acked: list[str], stored: list[str], funnel: int, *, exact: bool):
    """Every acknowledged click is stored once and the funnel counts what is stored.

    ``exact``: no click was in flight when something died, so nothing beyond the
    acknowledged clicks may be stored either.
    """
    assert len(set(acked)) == len(acked), "a click id was acknowledged twice"
    assert len(set(stored)) == len(stored), "a click was stored twice"
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged clicks lost, e.g. {sorted(missing)[:3]}"
    assert funnel == len(stored), f"funnel counts {funnel} clicks, {len(stored)} stored"
    if exact:
        assert set(stored) == set(acked), f"{len(set(stored) - set(acked))} unacknowledged"


@pytest.mark.parametrize("outage", ["stop", "crash"])
async def test_redirects_survive_a_postgres_outage_and_count_every_click_once(deployment, outage):
    """``stop``: pg_ctl stop -m fast (connections told to go); ``crash``: the postmaster is
    SIGKILLed (connections just drop) and recovers from its WAL at the next start."""
    gw = deployment.gateway().start()
    try:
        await deployment.setup_link(gw)
        load = RedirectLoad(gw.base_url, f"/{deployment.handle}/{SLUG}").start()
        await wait_until(lambda: len(load.outcomes) >= 50)
        if outage == "stop":
            await asyncio.to_thread(deployment.cluster.stop, "fast")
        else:
            await asyncio.to_thread(deployment.cluster.kill)
        stopped_at = time.monotonic()
        readiness = await poll_readiness(gw, seconds=3)  # the outage lasts this long
        served_while_down = load.count_since(stopped_at)
        await asyncio.to_thread(deployment.cluster.start)
        restarted_at = time.monotonic()
        await wait_until(lambda: load.count_since(restarted_at) >= 50)
        await load.stop()
        statuses = load.statuses()
        assert statuses == {"302": len(load.outcomes)}, statuses
        assert served_while_down > 0, "no redirect was answered while the database was down"
        assert {"status": "unavailable", "degraded": True, "journaled": True} in readiness, (
            "/readyz never reported the outage with clicks in the journal"
        )

        ready = await wait_caught_up(gw)
        assert ready["ingest"]["degraded"] is False
        acked = load.acknowledged()
        assert len(acked) == len(load.outcomes)
        stored = await deployment.stored_click_ids()
        funnel = await deployment.funnel_clicks(gw)
        assert_counted_once(acked, stored, funnel, exact=True)
    finally:
        gw.stop()


def journal_lines(directory: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in directory.glob("clicks-*.jsonl"))


@pytest.mark.parametrize("database", ["up", "down"])
async def test_sigkill_under_load_loses_no_acknowledged_click(deployment, database):
    """SIGKILL while clicks commit (database up) or while they go to the journal (database
    down): after a restart every acknowledged click is counted once."""
    journal_dir = Path(deployment.env["FUNNELGATE_JOURNAL_DIR"])
    gw = deployment.gateway("gw1").start()
    try:
        await deployment.setup_link(gw)
        load = RedirectLoad(gw.base_url, f"/{deployment.handle}/{SLUG}").start()
        await wait_until(lambda: len(load.outcomes) >= 50)
        if database == "down":
            await asyncio.to_thread(deployment.cluster.stop, "fast")
            stopped_at = time.monotonic()
            await wait_until(lambda: load.count_since(stopped_at) >= 50)
        else:
            mark = time.monotonic()
            await wait_until(lambda: load.count_since(mark) >= 50)
        gw.kill()
        await load.stop()
    finally:
        gw.stop()
    answered = [o for o in load.outcomes if o.status is not None]
    assert {o.status for o in answered} == {302}, load.statuses()
    in_flight = len(load.outcomes) - len(answered)  # cut off by the kill
    if database == "down":
        assert journal_lines(journal_dir) > 0, "nothing was journaled while the database was down"
        await asyncio.to_thread(deployment.cluster.start)

    gw2 = deployment.gateway("gw2").start()  # replays the dead process's journal at start
    try:
        await wait_caught_up(gw2)
        assert journal_lines(journal_dir) == 0
        acked = load.acknowledged()
        stored = await deployment.stored_click_ids()
        funnel = await deployment.funnel_clicks(gw2)
        assert_counted_once(acked, stored, funnel, exact=False)
        # Beyond the acknowledged clicks, at most those cut off in flight were stored.
        assert len(stored) - len(acked) <= in_flight
    finally:
        gw2.stop()


async def test_sigterm_under_load_finishes_every_request_and_counts_its_clicks(deployment):
    gw = deployment.gateway().start()
    try:
        await deployment.setup_link(gw)
        load = RedirectLoad(gw.base_url, f"/{deployment.handle}/{SLUG}").start()
        await wait_until(lambda: len(load.outcomes) >= 100)
        signalled_at = time.monotonic()
        gw.signal(signal.SIGTERM)
        # The load goes on until the process has exited: requests sent before the signal
        # must all be answered; later ones may be refused, but never cut off mid-response.
        await wait_until(lambda: gw.proc.poll() is not None, timeout=45, interval=0.02)
        await load.stop()
    finally:
        code = gw.stop()
    assert code in (0, -signal.SIGTERM), gw.log_tail()
    before = [o for o in load.outcomes if o.sent is not None and o.sent < signalled_at]
    assert len(before) >= 100
    failed_before = [o for o in before if o.status != 302]
    assert not failed_before, f"{len(failed_before)} requests sent before SIGTERM failed: " + str(
        [o.error or o.status for o in failed_before[:5]]
    )
    answered = [o for o in load.outcomes if o.status is not None]
    assert {o.status for o in answered} == {302}, load.statuses()
    assert all(o.click_id for o in answered), "a 302 without its click id"

    gw2 = deployment.gateway("gw2").start()
    try:
        await wait_caught_up(gw2)
        acked = load.acknowledged()
        stored = await deployment.stored_click_ids()
        funnel = await deployment.funnel_clicks(gw2)
        # A graceful stop answers every request it read: nothing stored unacknowledged.
        assert_counted_once(acked, stored, funnel, exact=True)
    finally:
        gw2.stop()
