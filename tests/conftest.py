"""Test fixtures: every app-level test runs on SQLite and on PostgreSQL.

Each test session creates its own databases (a temp SQLite file, a fresh PostgreSQL
database) and drops them at the end. PostgreSQL tests skip when no server answers, unless
``FUNNELGATE_REQUIRE_POSTGRES=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from db.migrate import upgrade
from resolvers.accounts import create_account
from resolvers.auth import mint_jwt
from resolvers.context import Context
from resolvers.tokens import issue_pat
from tests.inprocess import app_client, running_app
from tests.pg_admin import scratch_database
from tests.webhook_receiver import Receiver

JWT_SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"
ACCOUNT_ID = "000000000000000000001234"
OTHER_ACCOUNT_ID = "00000000000000000000abcd"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """A migrated, empty database for the whole test session, per backend."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "funnelgate.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade(url)
        yield url
        return
    with scratch_database("fg_test") as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        jwt_secret=JWT_SECRET,
        storage_url=str(tmp_path / "objects"),
        journal_dir=str(tmp_path / "journal"),
        webhook_allow_private=True,
        # Tests drive webhook delivery with app.runtime.webhook_worker.run_once, so that no
        # background pass races a test's look at the outbox or posts to a fuzzed URL.
        webhook_worker_enabled=False,
        # A click batch slower than the budget is journaled and counted only after a replay,
        # so on a loaded machine a test could read before its click is counted. Tests of the
        # budget itself (test_faults.py, test_fault_units.py) set their own.
        ingest_commit_budget_s=60.0,
    )


@dataclass
class Tenant:
    """A fresh account with handles, unique per test so tests never see each other's data."""

    account_id: str
    handle: str
    other_handle: str  # a second account's handle

    def jwt(self, role: str = "CREATOR", handle: str | None = None, ttl: int = 3600) -> str:
        return mint_jwt(JWT_SECRET, "tester", {handle or self.handle: role}, ttl)

    def auth(self, role: str = "CREATOR", handle: str | None = None) -> dict[str, str]:
        return bearer(self.jwt(role, handle))


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of a bearer token (a JWT or a PAT)."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as c:
        yield c


@pytest.fixture
def ctx(app: Any) -> Context:
    services = app.state.services
    return services.context()


@pytest.fixture
async def tenant(ctx: Context) -> Tenant:
    suffix = uuid.uuid4().hex[:8]
    account_id = uuid.uuid4().hex[:24]
    other_id = uuid.uuid4().hex[:24]
    await create_account(ctx, account_id, "Acme", [f"acme-{suffix}"])
    await create_account(ctx, other_id, "Globex", [f"globex-{suffix}"])
    return Tenant(account_id, f"acme-{suffix}", f"globex-{suffix}")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A webhook receiver listening on 127.0.0.1 for the test (tests/webhook_receiver.py)."""
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
async def redis_conn() -> AsyncIterator[Any]:
    """A client of the local Redis (database 15); the test is skipped when none answers."""
    import redis.asyncio as aioredis

    conn = aioredis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
    try:
        await conn.ping()
    except (OSError, aioredis.RedisError) as exc:
        await conn.aclose()
        pytest.skip(f"Redis unreachable on 127.0.0.1:6379: {exc}")
    try:
        yield conn
    finally:
        await conn.aclose()


@pytest.fixture
def make_pat(ctx: Context) -> Callable[..., Any]:
    async def _make(handle: str, *scopes: str, expires_in: int | None = None) -> str:
        issued = await issue_pat(
            ctx, handle, list(scopes), expires_in=expires_in, check_access=False
        )
        return issued.token

    return _make


async def gql(
    client: httpx.AsyncClient, query: str, headers: dict[str, str] | None = None, **variables: Any
) -> dict[str, Any]:
    """POST a GraphQL operation and return the decoded body."""
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers or {}
    )
    assert response.status_code == 200, response.text
    return response.json()
