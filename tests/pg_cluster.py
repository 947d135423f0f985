"""A dedicated, throwaway PostgreSQL cluster for fault tests.

Fault tests stop, kill and restart the database under the gateway. They must never touch the
shared server on 127.0.0.1:5432 (other test runs use it), so each gets its own cluster:
``initdb`` into a temporary directory as the ``postgres`` user, its own port and socket
directory, trust authentication, and ``pg_ctl`` to start, stop and kill it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.live_server import free_port
from tests.pg_admin import pg_execute, sqlalchemy_url
from tests.pg_replica import _as_postgres, _bin

SHARED_PORT = 5432


class PgCluster:
    """One PostgreSQL cluster in a temporary directory, listening on 127.0.0.1:``port``."""

    def __init__(self, base: str, port: int) -> None:
        if port == SHARED_PORT:
            raise ValueError("the dedicated cluster must not use the shared server's port")
        self.base = base
        self.data = os.path.join(base, "data")
        self.log = os.path.join(base, "postgres.log")
        self.port = port

    # -- addresses ---------------------------------------------------------------------

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """SQLAlchemy URL of ``database`` on this cluster."""
        return sqlalchemy_url(self.dsn(), database)

    # -- lifecycle ---------------------------------------------------------------------

    def _ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            _as_postgres(_bin("pg_ctl"), "-D", self.data, *args),
            capture_output=True,
            timeout=timeout,
        )

    def init(self) -> None:
        done = subprocess.run(
            _as_postgres(
                _bin("initdb"),
                "-D",
                self.data,
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ),
            capture_output=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.decode(errors='replace')}")
        # Only this cluster's own port and socket directory; small and quick, for tests.
        # fsync off: a crash here is a process crash, and the kernel keeps what was written.
        # synchronous_commit stays on: a commit must be in the WAL before it is answered, or
        # a killed postmaster loses commits the gateway was told about.
        conf = (
            f"listen_addresses = '127.0.0.1'\nport = {self.port}\n"
            f"unix_socket_directories = '{self.base}'\n"
            "max_connections = 200\nshared_buffers = 32MB\n"
            "fsync = off\nfull_page_writes = off\n"
            "logging_collector = off\n"
        )
        subprocess.run(
            _as_postgres(
                "sh", "-c", f"printf '%s' \"$0\" >> {self.data}/postgresql.auto.conf", conf
            ),
            check=True,
        )

    def start(self, timeout: float = 60) -> None:
        started = self._ctl(
            "-l", self.log, "-w", "-t", str(int(timeout)), "start", timeout=timeout + 10
        )
        if started.returncode != 0:
            raise RuntimeError(f"cluster did not start: {started.stderr!r} {self.log_tail()}")
        self.wait_ready(timeout)

    def stop(self, mode: str = "fast", timeout: float = 60) -> None:
        """``pg_ctl stop -m mode``; returns once the server is down."""
        self._ctl("-m", mode, "-w", "-t", str(int(timeout)), "stop", timeout=timeout + 10)

    def kill(self) -> None:
        """SIGKILL the postmaster (a crash); its backends die with it."""
        pid = self.postmaster_pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        # Orphaned backends notice the postmaster is gone and exit on their own; pg_ctl
        # start recovers the cluster from its WAL.

    def postmaster_pid(self) -> int | None:
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (FileNotFoundError, ValueError):
            return None

    def is_running(self) -> bool:
        return self._ctl("status", timeout=30).returncode == 0

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (
            subprocess.run(
                [_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            ).returncode
            != 0
        ):
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ready: {self.log_tail()}")
            time.sleep(0.1)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            with open(self.log, errors="replace") as f:
                return f.read()[-chars:]
        except FileNotFoundError:
            return ""

    # -- databases ---------------------------------------------------------------------

    async def create_database(self, name: str) -> str:
        await pg_execute(f'CREATE DATABASE "{name}"', dsn=self.dsn(), timeout=10)
        return self.url(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def dedicated_cluster() -> Iterator[PgCluster]:
    """A running throwaway cluster; stopped (immediately) and deleted afterwards."""
    base = tempfile.mkdtemp(prefix="fg-pgfault-")
    os.chmod(base, 0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    cluster = PgCluster(base, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        if cluster.postmaster_pid() is not None:
            cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
