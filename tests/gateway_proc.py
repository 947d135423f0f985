"""Run ``funnelgate serve`` as a real subprocess (for fault and scale-out tests)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx

from tests.live_server import free_port


def funnelgate_command() -> list[str]:
    """The installed ``funnelgate`` script next to this interpreter, else the module."""
    script = Path(sys.executable).parent / "funnelgate"
    if script.exists():
        return [str(script)]
    found = shutil.which("funnelgate")
    if found:
        return [found]
    return [sys.executable, "-c", "from app.cli import main; main()"]


def gateway_env(**settings: str) -> dict[str, str]:
    """The parent environment without FUNNELGATE_* (tests set their own), plus ``settings``
    given as FUNNELGATE_<NAME>=value."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELGATE_")}
    env.update({f"FUNNELGATE_{k.upper()}": str(v) for k, v in settings.items()})
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 120) -> str:
    """Run a ``funnelgate`` command to completion and return its stdout."""
    done = subprocess.run(
        [*funnelgate_command(), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"funnelgate {' '.join(args)} failed: {done.stderr[-3000:]}")
    return done.stdout


def create_account(env: Mapping[str, str], handle: str, name: str) -> str:
    """``funnelgate account create`` of a new account (a random id) owning ``handle``."""
    return run_cli(
        env, "account", "create", "--id", uuid.uuid4().hex[:24], "--name", name, "--handle", handle
    )


class Gateway:
    """One ``funnelgate serve`` process on its own port."""

    def __init__(
        self,
        env: Mapping[str, str],
        log_path: str | Path,
        *,
        port: int | None = None,
        workers: int = 1,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.env = dict(env)
        self.port = port or free_port()
        self.workers = workers
        self.extra_args = extra_args
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> Gateway:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        try:
            self.proc = subprocess.Popen(
                [
                    *funnelgate_command(),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    str(self.workers),
                    "--log-level",
                    "WARNING",
                    *self.extra_args,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # signals from the test reach only this process
            )
        finally:
            log.close()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not become healthy: {self.log_tail()}")
            time.sleep(0.1)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.signal(signal.SIGKILL)
        self.wait(30)

    def stop(self, timeout: float = 60) -> int | None:
        """SIGTERM and wait; SIGKILL the process group if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)
            raise

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""
