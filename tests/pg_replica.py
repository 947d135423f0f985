"""A real PostgreSQL streaming replica of the test server, made with pg_basebackup."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from tests.live_server import free_port


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"{name} not found (is PostgreSQL installed?)")
    return found[-1]


def _as_postgres(*args: str) -> list[str]:
    """Server binaries refuse to run as root."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


async def allow_replication(admin_dsn: str) -> None:
    """Trust replication connections from 127.0.0.1 (test servers only)."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        hba_file = await conn.fetchval("SHOW hba_file")
        with open(hba_file) as f:
            lines = f.read().splitlines()
        if not any(
            line.split()[:2] == ["host", "replication"]
            for line in lines
            if line.strip() and not line.startswith("#")
        ):
            with open(hba_file, "a") as f:
                f.write("\nhost replication all 127.0.0.1/32 trust\n")
            await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


@contextmanager
def streaming_replica() -> Iterator[tuple[int, callable]]:
    """Yield (port, stop) of a hot-standby replica of 127.0.0.1:5432."""
    base = tempfile.mkdtemp(prefix="fg-replica-")
    data = os.path.join(base, "data")
    os.chmod(base, 0o777)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        _as_postgres(
            _bin("pg_basebackup"),
            "-h",
            "127.0.0.1",
            "-p",
            "5432",
            "-U",
            "postgres",
            "-D",
            data,
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )
    # Debian keeps configuration outside the data directory: give the copy its own.
    for name, text in (
        (
            "postgresql.conf",
            f"listen_addresses = '127.0.0.1'\nport = {port}\n"
            f"unix_socket_directories = '{base}'\nhot_standby = on\n",
        ),
        ("pg_hba.conf", "local all all trust\nhost all all 127.0.0.1/32 trust\n"),
    ):
        path = os.path.join(data, name)
        if not os.path.exists(path):
            subprocess.run(
                _as_postgres("sh", "-c", f"printf '%s' \"$0\" > {path}", text), check=True
            )
    log = os.path.join(base, "replica.log")
    ctl = _bin("pg_ctl")
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            subprocess.run(
                _as_postgres(ctl, "-D", data, "-m", "immediate", "-w", "stop"),
                capture_output=True,
                timeout=60,
            )
            stopped = True

    try:
        started = subprocess.run(
            _as_postgres(ctl, "-D", data, "-l", log, "-w", "start"), capture_output=True, timeout=60
        )
        if started.returncode != 0:
            raise RuntimeError(
                f"replica did not start: {started.stderr!r} "
                f"{open(log).read()[-2000:] if os.path.exists(log) else ''}"
            )
        deadline = time.monotonic() + 30
        while (
            subprocess.run(
                [_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            ).returncode
            != 0
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(open(log).read()[-2000:])
            time.sleep(0.2)
        yield port, stop
    finally:
        stop()
        shutil.rmtree(base, ignore_errors=True)
