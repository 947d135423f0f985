"""The gateway in this process: an app with its lifespan running, and HTTP clients of it.

For tests that need settings other than the conftest ``app`` fixture's, or a client that
comes from a given address.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from app.main import create_app
from app.settings import Settings


@contextlib.asynccontextmanager
async def running_app(settings: Settings, **overrides: Any) -> AsyncIterator[Any]:
    """The app of ``settings`` (updated with ``overrides``), inside its lifespan."""
    app = create_app(settings.model_copy(update=overrides) if overrides else settings)
    async with app.router.lifespan_context(app):
        yield app


def app_client(
    app: Any, ip: str | None = None, *, base_url: str = "http://testserver", **transport: Any
) -> httpx.AsyncClient:
    """An httpx client of ``app``; with ``ip``, its requests come from that address."""
    if ip is not None:
        transport["client"] = (ip, 40000)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, **transport), base_url=base_url)


@contextlib.asynccontextmanager
async def serving(settings: Settings, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a running app of ``settings`` updated with ``overrides``."""
    async with running_app(settings, **overrides) as app, app_client(app) as client:
        yield client
