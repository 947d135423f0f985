"""Helpers shared by the benchmarks: throw-away databases, the gateway subprocess, output.

Every benchmark prints readable lines on stdout and, last, one JSON line with its figures.
Progress bars go to stderr so that stdout stays machine-readable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_DSN = os.environ.get(
    "FUNNELGATE_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_JWT_SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789abcdef"
LOOPBACK = "127.0.0.1"

stderr = Console(stderr=True)


# --------------------------------------------------------------------------- output


def say(line: str = "") -> None:
    """One readable result line on stdout."""
    print(line, flush=True)


def emit_json(bench: str, figures: dict[str, Any]) -> None:
    """The final machine-readable line."""
    print(json.dumps({"bench": bench, **figures}, default=str, sort_keys=False), flush=True)


def progress(*, transient: bool = False) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=transient,
    )


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of an unsorted sequence."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


# --------------------------------------------------------------------------- databases


def add_database_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=None,
        help="SQLAlchemy URL of the database to use (postgresql+asyncpg://… or "
        "sqlite+aiosqlite:///…). Default: a fresh PostgreSQL database fg_bench_<hex> "
        f"created on {PG_ADMIN_DSN} and dropped at the end.",
    )
    parser.add_argument(
        "--keep", action="store_true", help="Keep the database this run created (print its URL)."
    )


def asyncpg_dsn(database_url: str) -> str:
    """postgresql+asyncpg://… → postgresql://… for asyncpg.connect."""
    for prefix in ("postgresql+asyncpg://", "postgres+asyncpg://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return database_url


def is_postgres(database_url: str) -> bool:
    return database_url.startswith(("postgresql", "postgres"))


def _url_for(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def migrate(database_url: str) -> None:
    from db.migrate import upgrade

    # Alembic's env runs its own event loop: keep it off ours.
    await asyncio.to_thread(upgrade, database_url)


@contextlib.asynccontextmanager
async def bench_database(database_url: str | None, keep: bool) -> AsyncIterator[str]:
    """Yield a migrated database URL: the given one, or a fresh PostgreSQL database."""
    if database_url:
        await migrate(database_url)
        yield database_url
        return
    name = f"fg_bench_{secrets.token_hex(5)}"
    await _admin(f'CREATE DATABASE "{name}"')
    url = _url_for(name)
    say(f"database: created {name}" + (" (kept: --keep)" if keep else " (dropped at exit)"))
    try:
        await migrate(url)
        yield url
    finally:
        if keep:
            say(f"database kept: {url}")
        else:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A server subprocess bound to 127.0.0.1, stopped by its own pid."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # uvicorn: graceful shutdown, lifespan exit
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_server(
    name: str,
    argv: list[str],
    *,
    port: int,
    env: dict[str, str] | None = None,
    ready_path: str = "/healthz",
    timeout: float = 60.0,
    log_dir: Path | None = None,
) -> Server:
    """Start ``argv`` (it must listen on ``port``) and wait until ``ready_path`` answers."""
    import httpx

    log_dir = log_dir or Path(os.environ.get("TMPDIR", "/tmp"))
    log_path = log_dir / f"fg-bench-{name}-{port}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    server = Server(name, process, port, log_path)
    deadline = time.monotonic() + timeout
    url = f"{server.base_url}{ready_path}"
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{server.log_tail()}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} did not answer {url} in {timeout}s:\n{server.log_tail()}")
        time.sleep(0.1)


RATE_LIMIT_MODES = ("raised", "off", "default")


def gateway_env(database_url: str, workdir: Path, rate_limits: str = "raised") -> dict[str, str]:
    """Settings for a benchmark gateway. Rate limits: ``raised`` keeps the limiter on the
    request path with limits the single-IP load generator cannot reach; ``off`` disables
    it; ``default`` keeps the shipped limits (the load generator then sees 429s)."""
    env = {
        "FUNNELGATE_DATABASE_URL": database_url,
        "FUNNELGATE_JWT_SECRET": BENCH_JWT_SECRET,
        "FUNNELGATE_STORAGE_URL": str(workdir / "objects"),
        "FUNNELGATE_JOURNAL_DIR": str(workdir / "journal"),
    }
    if rate_limits == "raised":
        env |= {
            "FUNNELGATE_RATE_LIMIT_REDIRECT_IP": "100000000/minute",
            "FUNNELGATE_RATE_LIMIT_API": "100000000/minute",
            "FUNNELGATE_RATE_LIMIT_API_IP": "100000000/minute",
        }
    elif rate_limits == "off":
        env["FUNNELGATE_RATE_LIMIT_ENABLED"] = "false"
    return env


def funnelgate_argv() -> list[str]:
    """``funnelgate`` from this interpreter's environment (falls back to python -c)."""
    exe = Path(sys.executable).with_name("funnelgate")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from app.cli import main; main()"]


@contextlib.contextmanager
def running_gateway(
    database_url: str, port: int | None = None, rate_limits: str = "raised"
) -> Iterator[Server]:
    """``funnelgate serve --port P`` in a subprocess (migrations applied at start), with its
    journal and object store in a temporary directory removed afterwards."""
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="fg-bench-gateway-"))
    try:
        server = start_server(
            "gateway",
            [*funnelgate_argv(), "serve", "--host", LOOPBACK, "--port", str(port)],
            port=port,
            env=gateway_env(database_url, workdir, rate_limits),
            ready_path="/readyz",
        )
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def wait_ingest_settled(base_url: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll /readyz until the ingest queue and the click journal are empty."""
    import httpx

    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            try:
                body = (await client.get("/readyz")).json()
            except (httpx.HTTPError, ValueError):
                body = {}
            ingest = body.get("ingest", {})
            if (
                body.get("status") == "ok"
                and not ingest.get("queueDepth")
                and not ingest.get("journalDepth")
            ):
                return body
            await asyncio.sleep(0.2)
    raise RuntimeError(f"ingest did not settle in {timeout}s: {body}")


# --------------------------------------------------------------------------- tenants


def mint_bench_jwt(handle: str, role: str = "ADMIN", ttl: int = 3600) -> str:
    from resolvers.auth import mint_jwt

    return mint_jwt(BENCH_JWT_SECRET, "bench", {handle: role}, ttl)


async def create_bench_account(
    database_url: str, account_id: str, handles: list[str], name: str = "Bench"
) -> None:
    """Accounts have no REST route (the CLI creates them): call the resolver directly."""
    from app.runtime.services import offline_context
    from app.settings import Settings
    from db.engine import make_engine, make_session_factory
    from resolvers.accounts import create_account

    engine = make_engine(database_url)
    try:
        ctx = offline_context(
            Settings(database_url=database_url, jwt_secret=BENCH_JWT_SECRET),
            make_session_factory(engine),
        )
        await create_account(ctx, account_id, name, handles)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class LinkTenant:
    account_id: str
    handle: str
    campaign_id: str
    slug: str
    jwt: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}


async def setup_link_tenant(database_url: str, base_url: str, prefix: str) -> LinkTenant:
    """Account (resolver) + ACTIVE campaign + link (REST, with a minted JWT)."""
    import httpx

    suffix = secrets.token_hex(4)
    account_id = secrets.token_hex(12)
    handle = f"{prefix}-{suffix}"
    await create_bench_account(database_url, account_id, [handle], name=f"Bench {prefix}")
    jwt = mint_bench_jwt(handle)
    headers = {"Authorization": f"Bearer {jwt}"}
    campaign_id, slug = f"{prefix}-campaign", "go"
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=10) as client:
        r = await client.post(
            f"/v2/handles/{handle}/campaigns",
            json={
                "campaignId": campaign_id,
                "name": "Bench campaign",
                "goalType": "PRODUCT_SALE",
                "status": "ACTIVE",
                "primarySlug": slug,
            },
        )
        if r.status_code != 201:
            raise RuntimeError(f"create campaign: {r.status_code} {r.text}")
        r = await client.put(
            f"/v2/handles/{handle}/links/{slug}",
            json={"destinationUrl": "https://shop.example.com/landing", "campaignId": campaign_id},
        )
        if r.status_code not in (200, 201):
            raise RuntimeError(f"put link: {r.status_code} {r.text}")
    return LinkTenant(account_id, handle, campaign_id, slug, jwt)


async def count_clicks(database_url: str, account_id: str, handle: str) -> int:
    from sqlalchemy import func, select

    from db.engine import make_engine
    from db.tables import Click

    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            return int(
                (
                    await conn.execute(
                        select(func.count())
                        .select_from(Click)
                        .where(Click.account_id == account_id, Click.handle == handle)
                    )
                ).scalar_one()
            )
    finally:
        await engine.dispose()
