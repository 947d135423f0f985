"""Process-wide collaborators, built in the lifespan and shared by every request.

``Services`` is the composition root: it builds each long-lived service once, wires them to
the change hub, and is the one place a resolver ``Context`` is made (``context()``).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.middleware.ratelimit import RateLimiter
from app.runtime.changes import ChangeHub, Listener
from app.runtime.ingest import IngestWriter
from app.runtime.journal import ClickJournal
from app.runtime.objectstore import make_object_store
from app.runtime.stalecache import StaleOnErrorLoader
from app.runtime.ttlcache import TTLCache
from app.runtime.webhook_worker import WebhookWorker
from app.settings import Settings
from db.changes import ANY_HANDLE
from db.engine import make_engine, make_session_factory
from db.replica import ReadRouter
from resolvers.context import Context
from resolvers.personalization import RuleSpec, load_rule_specs
from resolvers.ports import ObjectStore
from resolvers.principal import Principal
from resolvers.redirects import LinkTarget, RedirectPorts, link_loader

if TYPE_CHECKING:
    import redis.asyncio


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    change_hub: ChangeHub
    ingest: IngestWriter
    link_cache: TTLCache[tuple[str, str], LinkTarget | None]
    rules_cache: TTLCache[str, list[RuleSpec]]
    object_store: ObjectStore
    redirects: RedirectPorts
    redis: redis.asyncio.Redis | None = None
    rate_limiter: RateLimiter | None = None
    webhook_worker: WebhookWorker | None = None
    read_router: ReadRouter | None = None

    @classmethod
    def build(cls, settings: Settings) -> Services:
        engine = make_engine(settings.database_url)
        # The one change signal: every session commit reports the handles it wrote.
        change_hub = ChangeHub()
        sessions = make_session_factory(engine, on_change=change_hub.touch)
        # While the database fails or hangs, redirects use the last link and rules loaded.
        timeout_s, max_stale_s = settings.link_load_timeout_s, settings.link_stale_s
        link_cache: TTLCache[tuple[str, str], LinkTarget | None] = TTLCache(
            StaleOnErrorLoader(
                link_loader(sessions),
                timeout_s=timeout_s,
                max_stale_s=max_stale_s,
                name="link cache",
            ),
            ttl=settings.link_cache_ttl_s,
        )
        rules_cache: TTLCache[str, list[RuleSpec]] = TTLCache(
            StaleOnErrorLoader(
                _rules_loader(sessions),
                timeout_s=timeout_s,
                max_stale_s=max_stale_s,
                name="rules cache",
            ),
            ttl=settings.link_cache_ttl_s,
        )
        # A write to a handle's links, campaigns (links snapshot their status) or rules drops
        # what the redirect cached of that handle; recorded clicks and conversions do not.
        change_hub.listen(_forget_handle(link_cache, rules_cache), recorded_events=False)
        ingest = IngestWriter(
            # Its batches report to the hub themselves, with their campaigns: its sessions
            # need not (and the hot path spends nothing on) tracking statements.
            make_session_factory(engine),
            batch_max=settings.ingest_batch_max,
            linger_ms=settings.ingest_batch_wait_ms,
            queue_max=settings.ingest_queue_max,
            journal=ClickJournal(settings.journal_dir) if settings.journal_enabled else None,
            commit_budget_s=settings.ingest_commit_budget_s,
            writers=1 if settings.is_sqlite else settings.ingest_writers,
            on_commit=change_hub.events_recorded,
        )
        redis = _redis_client(settings)
        read_router = None
        if settings.read_database_url:
            replica = make_engine(settings.read_database_url)
            read_router = ReadRouter(
                engine,
                sessions,
                replica,
                make_session_factory(replica),
                max_lag_s=settings.replica_max_lag_s,
            )
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            change_hub=change_hub,
            ingest=ingest,
            link_cache=link_cache,
            rules_cache=rules_cache,
            object_store=make_object_store(settings),
            redirects=RedirectPorts(
                links=link_cache,
                rules=rules_cache,
                clicks=ingest,
                visitor_salt=settings.visitor_salt,
            ),
            redis=redis,
            rate_limiter=RateLimiter.from_settings(settings, redis),
            webhook_worker=(
                WebhookWorker(sessions, settings) if settings.webhook_worker_enabled else None
            ),
            read_router=read_router,
        )

    def context(self, principal: Principal | None = None, *, long_lived: bool = False) -> Context:
        """The resolver context of one request (REST, GraphQL, MCP) or CLI command."""
        return Context(
            sessions=self.sessions,
            settings=self.settings,
            principal=principal,
            conversion_writer=self.ingest,
            object_store=self.object_store,
            changes=self.change_hub,
            read_router=self.read_router,
            long_lived=long_lived,
        )

    async def start(self) -> None:
        from resolvers.auth import verification_key

        verification_key(self.settings)  # no usable JWT secret: refuse to start
        if self.read_router is not None:
            await self.read_router.start()
        await self.ingest.start()
        if self.webhook_worker is not None:
            await self.webhook_worker.start()

    async def close(self) -> None:
        if self.webhook_worker is not None:
            await self.webhook_worker.stop()
        await self.ingest.stop()
        if self.read_router is not None:
            await self.read_router.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.engine.dispose()


def offline_context(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Context:
    """The context of a CLI command: no served request, so no running service behind it
    (conversions commit in their own transaction, reads go to the primary)."""
    return Context(sessions=sessions, settings=settings)


def _redis_client(settings: Settings) -> redis.asyncio.Redis | None:
    """One client (and connection pool) shared by rate limits and persisted queries."""
    if not settings.redis_url:
        return None
    import redis.asyncio

    # Short timeouts: Redis is an optimisation here, and its users fail open.
    return redis.asyncio.Redis.from_url(
        settings.redis_url, socket_connect_timeout=0.5, socket_timeout=0.5
    )


def _forget_handle(
    link_cache: TTLCache[tuple[str, str], Any], rules_cache: TTLCache[str, Any]
) -> Listener:
    def forget(handle: str, _campaign_ids: Collection[str] | None) -> None:
        if handle == ANY_HANDLE:
            link_cache.clear()
            rules_cache.clear()
        else:
            link_cache.invalidate_where(lambda key: key[0] == handle)
            rules_cache.invalidate(handle)

    return forget


def _rules_loader(
    sessions: async_sessionmaker[AsyncSession],
) -> Any:
    async def load(handle: str) -> list[RuleSpec]:
        async with sessions() as session:
            return await load_rule_specs(session, handle)

    return load
