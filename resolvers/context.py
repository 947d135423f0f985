"""The per-request context every resolver takes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resolvers.ports import ChangeWaiter, ConversionWriter, ObjectStore
from resolvers.principal import Principal

if TYPE_CHECKING:
    from app.settings import Settings
    from db.replica import ReadRouter

T = TypeVar("T")


@dataclass
class Context:
    """Built once per request (app/runtime/services.py ``Services.context``): the database,
    the caller, settings, the ports of the long-lived services, and request-scoped loaders.

    A port left ``None`` means the service is not running (a CLI command, a unit test): the
    resolver falls back to doing the work itself. ``loaders`` is created per request so
    that no cache crosses requests or tenants.
    """

    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    principal: Principal | None = None
    conversion_writer: ConversionWriter | None = None
    object_store: ObjectStore | None = None
    changes: ChangeWaiter | None = None
    read_router: ReadRouter | None = None
    loaders: dict[str, Any] = field(default_factory=dict)
    # Filled by the websocket protocol from connection_init's payload.
    connection_params: dict[str, Any] | None = None
    # A websocket connection: its principal is re-checked before each operation.
    long_lived: bool = False

    async def run_read(self, read: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run an analytics read on the replica when one is configured and healthy (retried
        on the primary if the replica fails), else on the primary."""
        if self.read_router is not None:
            return await self.read_router.run(read)
        async with self.sessions() as session:
            return await read(session)

    def read_session(self) -> AbstractAsyncContextManager[AsyncSession]:
        """A session on the replica when it is healthy, else on the primary (no retry)."""
        router = self.read_router
        factory = router.replica if router is not None and router.healthy else self.sessions
        return factory()
