"""The per-request context every resolver takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from resolvers.principal import Principal

if TYPE_CHECKING:
    from app.settings import Settings


@dataclass
class Context:
    """Built once per request: the database, the caller, settings and request-scoped loaders.

    ``services`` holds process-wide collaborators (ingest pipeline, link cache, object store);
    ``loaders`` is created per request so that no cache crosses requests or tenants.
    """

    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    principal: Principal | None = None
    services: Any = None
    loaders: dict[str, Any] = field(default_factory=dict)
    # Filled by the websocket protocol from connection_init's payload.
    connection_params: dict[str, Any] | None = None
    # A websocket connection: its principal is re-checked before each operation.
    long_lived: bool = False
