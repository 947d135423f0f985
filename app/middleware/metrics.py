"""Times and counts every HTTP request by method, route template and status."""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.runtime import telemetry

UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The path pattern of the route that served ``scope`` (never the raw path)."""
    route = scope.get("route")
    return getattr(route, "path", None) or UNMATCHED


class MetricsMiddleware:
    """Counts and times HTTP requests by method, route template and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The labelled series, looked up once: prometheus_client's labels() validates and
        # locks on every call, a measurable share of a redirect. Keys are bounded (method,
        # route template, status).
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_template(scope)
            counter = self._counters.get((method, route, status))
            if counter is None:
                counter = telemetry.HTTP_REQUESTS.labels(method, route, str(status))
                self._counters[(method, route, status)] = counter
            timer = self._timers.get((method, route))
            if timer is None:
                timer = self._timers[(method, route)] = telemetry.HTTP_LATENCY.labels(method, route)
            counter.inc()
            timer.observe(time.perf_counter() - started)
