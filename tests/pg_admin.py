"""The test PostgreSQL server: its admin DSN, and throwaway databases on it.

``FUNNELGATE_TEST_POSTGRES_DSN`` names the server (default: the local one, trust auth). When
no server answers, tests that need one skip, unless ``FUNNELGATE_REQUIRE_POSTGRES=1`` (CI),
where they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest

PG_ADMIN_DSN = os.environ.get(
    "FUNNELGATE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_PG = os.environ.get("FUNNELGATE_REQUIRE_POSTGRES") == "1"


def sqlalchemy_url(dsn: str, database: str) -> str:
    """The SQLAlchemy (asyncpg) URL of ``database`` on the server of the asyncpg ``dsn``."""
    base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def pg_execute(sql: str, dsn: str = PG_ADMIN_DSN, timeout: float = 5) -> None:
    """Run one statement on its own connection (CREATE/DROP DATABASE need no transaction)."""
    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def pg_fetch(sql: str, *args: Any, dsn: str = PG_ADMIN_DSN, timeout: float = 10) -> list:
    """The rows of one query, on its own connection."""
    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A new, empty database named ``<prefix>_<random>`` on the test server; yields its
    SQLAlchemy URL and drops it afterwards. Skips (or fails, with REQUIRE_PG) when the server
    does not answer."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        asyncio.run(pg_execute(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL is required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    try:
        yield sqlalchemy_url(PG_ADMIN_DSN, name)
    finally:
        asyncio.run(pg_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
