"""A bounded redirect load for process tests: N concurrent clients, each outcome recorded.

Every request records when its headers were written to the socket (from httpcore's trace
hook, not when the coroutine started), so a test can tell requests sent before a signal from
those sent after it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

BROWSER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari"


@dataclass
class Outcome:
    started: float
    sent: float | None  # request headers fully written; None if never sent
    finished: float
    status: int | None = None
    location: str | None = None
    error: str | None = None

    @property
    def click_id(self) -> str | None:
        if self.status != 302 or not self.location:
            return None
        return httpx.URL(self.location).params.get("fg_click")


@dataclass
class RedirectLoad:
    """Redirect requests from ``concurrency`` clients until ``stop()`` (or ``max_requests``)."""

    base_url: str
    path: str
    concurrency: int = 20
    max_requests: int = 100_000
    timeout_s: float = 30.0
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _client: httpx.AsyncClient | None = None

    def start(self) -> RedirectLoad:
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"user-agent": BROWSER_UA},
            timeout=self.timeout_s,
            limits=httpx.Limits(max_connections=self.concurrency),
        )
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        return self

    async def _worker(self) -> None:
        assert self._client is not None
        while not self._stop.is_set() and len(self.outcomes) < self.max_requests:
            await self._one(self._client)
            await asyncio.sleep(0)  # let other clients and the test's own steps run

    async def _one(self, client: httpx.AsyncClient) -> None:
        sent: list[float] = []

        async def trace(name: str, info: dict[str, Any]) -> None:
            if name.endswith("send_request_headers.complete"):
                sent.append(time.monotonic())

        started = time.monotonic()
        try:
            r = await client.get(self.path, extensions={"trace": trace})
        except httpx.HTTPError as exc:
            self.outcomes.append(
                Outcome(
                    started,
                    sent[0] if sent else None,
                    time.monotonic(),
                    error=f"{type(exc).__name__}: {exc}",
                )
            )
            return
        self.outcomes.append(
            Outcome(
                started,
                sent[0] if sent else None,
                time.monotonic(),
                status=r.status_code,
                location=r.headers.get("location"),
            )
        )

    async def run_for(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def stop(self) -> list[Outcome]:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
        return self.outcomes

    # -- summaries -----------------------------------------------------------------------

    def acknowledged(self) -> list[str]:
        """Click ids of the redirects answered with a 302."""
        return [o.click_id for o in self.outcomes if o.click_id]

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for o in self.outcomes:
            key = str(o.status) if o.status is not None else (o.error or "?").split(":")[0]
            counts[key] = counts.get(key, 0) + 1
        return counts

    def count_since(self, t: float) -> int:
        return sum(1 for o in self.outcomes if o.finished >= t)
