"""Process-wide collaborators, built in the lifespan and shared by every request."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.settings import Settings
from db.engine import make_engine, make_session_factory


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    link_cache: Any = None
    ingest: Any = None
    change_hub: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        engine = make_engine(settings.database_url)
        return cls(settings=settings, engine=engine, sessions=make_session_factory(engine))

    async def start(self) -> None:
        for part in (self.ingest,):
            if part is not None and hasattr(part, "start"):
                await part.start()

    async def close(self) -> None:
        for part in (self.ingest,):
            if part is not None and hasattr(part, "stop"):
                await part.stop()
        await self.engine.dispose()
