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
    rules_cache: Any = None
    object_store: Any = None
    redis: Any = None
    rate_limiter: Any = None
    webhook_worker: Any = None
    read_router: Any = None
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> Services:
        from app.ratelimit import RateLimiter
        from resolvers.ingest import IngestWriter
        from resolvers.journal import ClickJournal
        from resolvers.live import ChangeHub
        from resolvers.objectstore import make_object_store
        from resolvers.redirects import link_loader
        from resolvers.stalecache import StaleOnErrorLoader
        from resolvers.ttlcache import TTLCache
        from resolvers.webhook_worker import WebhookWorker

        engine = make_engine(settings.database_url)
        # The one change signal: every session commit reports the handles it wrote.
        change_hub = ChangeHub()
        sessions = make_session_factory(engine, on_change=change_hub.touch)
        services = cls(settings=settings, engine=engine, sessions=sessions)
        services.change_hub = change_hub
        services.object_store = make_object_store(settings)
        # While the database fails or hangs, redirects use the last link and rules loaded.
        stale = {"timeout_s": settings.link_load_timeout_s, "max_stale_s": settings.link_stale_s}
        services.link_cache = _KeyedInvalidation(
            TTLCache(
                StaleOnErrorLoader(link_loader(sessions), name="link cache", **stale),
                ttl=settings.link_cache_ttl_s,
            )
        )
        services.rules_cache = TTLCache(
            StaleOnErrorLoader(_rules_loader(sessions), name="rules cache", **stale),
            ttl=settings.link_cache_ttl_s,
        )
        services.ingest = IngestWriter(
            # Its batches report to the hub through on_commit, with their campaigns: its
            # sessions need not (and the hot path spends nothing on) tracking statements.
            make_session_factory(engine),
            batch_max=settings.ingest_batch_max,
            linger_ms=settings.ingest_batch_wait_ms,
            queue_max=settings.ingest_queue_max,
            journal=ClickJournal(settings.journal_dir) if settings.journal_enabled else None,
            commit_budget_s=settings.ingest_commit_budget_s,
            writers=1 if settings.is_sqlite else settings.ingest_writers,
        )
        services.ingest.on_commit.append(change_hub.touch)
        services.redis = _redis_client(settings)
        services.rate_limiter = RateLimiter.from_settings(settings, services.redis)
        if settings.read_database_url:
            from resolvers.readreplica import ReadRouter

            replica = make_engine(settings.read_database_url)
            services.read_router = ReadRouter(
                engine,
                sessions,
                replica,
                make_session_factory(replica),
                max_lag_s=settings.replica_max_lag_s,
            )
        if settings.webhook_worker_enabled:
            services.webhook_worker = WebhookWorker(sessions, settings)
        return services

    async def start(self) -> None:
        from resolvers.auth import verification_key

        verification_key(self.settings)  # no usable JWT secret: refuse to start
        for part in (self.read_router, self.ingest, self.webhook_worker):
            if part is not None and hasattr(part, "start"):
                await part.start()

    async def close(self) -> None:
        for part in (self.webhook_worker, self.ingest, self.read_router):
            if part is not None and hasattr(part, "stop"):
                await part.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def _redis_client(settings: Settings) -> Any:
    """One client (and connection pool) shared by rate limits and persisted queries."""
    if not settings.redis_url:
        return None
    import redis.asyncio

    # Short timeouts: Redis is an optimisation here, and its users fail open.
    return redis.asyncio.Redis.from_url(
        settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
    )


class _KeyedInvalidation:
    """Adapts TTLCache to the ``invalidate(handle, slug)`` call resolvers make."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    async def get(self, key: tuple[str, str]) -> Any:
        return await self._cache.get(key)

    def invalidate(self, handle: str, slug: str) -> None:
        self._cache.invalidate((handle, slug))

    def clear(self) -> None:
        self._cache.clear()


def _rules_loader(sessions: async_sessionmaker[AsyncSession]) -> Any:
    async def load(handle: str) -> list[Any]:
        try:
            from resolvers.personalization import load_rule_specs
        except ImportError:  # personalization not installed in this build
            return []
        async with sessions() as session:
            return await load_rule_specs(session, handle)

    return load
