"""Automatic persisted queries over HTTP (Apollo's protocol) and hash lookups in allow-list mode.

A request carries ``extensions.persistedQuery = {"version": 1, "sha256Hash": h}``:
- without ``query``: run the query stored under ``h``, or answer ``PersistedQueryNotFound``
  (HTTP 200) so that the client sends it again with the query;
- with ``query``: check that ``h`` is its sha256 (else HTTP 400), store it, run it.
In allow-list mode the registry is the only store and nothing is added to it; the schema's
``OperationAllowList`` refuses unregistered text on every transport.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from graphql import GraphQLError
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from schema.engine.allowlist import NOT_ALLOWED, NOT_ALLOWED_MESSAGE, load_allowlist, query_hash

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from app.settings import Settings

log = logging.getLogger("funnelgate.persisted")

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
INVALID = "PERSISTED_QUERY_INVALID"
_SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
_REDIS_TTL_S = 7 * 24 * 3600


class RequestError(Exception):
    """A request-level failure: answered as ``{"errors": [...]}`` without running anything."""

    def __init__(self, message: str, code: str, status: int = 200) -> None:
        super().__init__(message)
        self.status = status
        self.error = GraphQLError(message, extensions={"code": code})

    def result(self) -> RequestErrorResult:
        return RequestErrorResult(data=None, errors=[self.error])


class PersistedQueryError(RequestError):
    """A persisted-query hash that cannot be turned into a query."""


class RequestErrorResult(ExecutionResult):
    """Marks a result that never reached execution, so the response carries no ``data``."""


class QueryStore(Protocol):
    async def get(self, digest: str) -> str | None: ...

    async def put(self, digest: str, query: str) -> None: ...


class MemoryQueryStore:
    """A bounded LRU of query texts by hash, local to the process."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._queries: OrderedDict[str, str] = OrderedDict()

    async def get(self, digest: str) -> str | None:
        query = self._queries.get(digest)
        if query is not None:
            self._queries.move_to_end(digest)
        return query

    async def put(self, digest: str, query: str) -> None:
        self._queries[digest] = query
        self._queries.move_to_end(digest)
        while len(self._queries) > self.max_entries:
            self._queries.popitem(last=False)


class RedisQueryStore:
    """Redis shared by every worker, behind a local LRU; a Redis outage leaves the LRU."""

    def __init__(self, redis: Redis, prefix: str, local: MemoryQueryStore) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:apq:"
        self.local = local
        self._failing = False

    async def get(self, digest: str) -> str | None:
        query = await self.local.get(digest)
        if query is not None:
            return query
        try:
            raw = await self.redis.get(self.prefix + digest)
        except Exception as exc:  # noqa: BLE001 - Redis is an optimisation here
            self._failed(exc)
            return None
        self._recovered()
        if raw is None:
            return None
        query = raw.decode() if isinstance(raw, bytes) else str(raw)
        await self.local.put(digest, query)
        return query

    async def put(self, digest: str, query: str) -> None:
        await self.local.put(digest, query)
        try:
            await self.redis.set(self.prefix + digest, query, ex=_REDIS_TTL_S)
        except Exception as exc:  # noqa: BLE001 - Redis is an optimisation here
            self._failed(exc)
            return
        self._recovered()

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            log.warning("persisted query store: Redis unavailable, using the local cache: %s", exc)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.warning("persisted query store: Redis available again")
        self._failing = False


class PersistedQueries:
    """Turns a request's persisted-query hash into its query text, or refuses it."""

    def __init__(self, store: QueryStore | None, registry: dict[str, str] | None = None) -> None:
        self.store = store
        self.registry = registry

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None = None) -> PersistedQueries:
        if settings.graphql_allowlist:
            if not settings.graphql_allowlist_file:
                raise ValueError(
                    "FUNNELGATE_GRAPHQL_ALLOWLIST needs FUNNELGATE_GRAPHQL_ALLOWLIST_FILE"
                )
            return cls(None, load_allowlist(settings.graphql_allowlist_file))
        if not settings.graphql_apq:
            return cls(None)
        local = MemoryQueryStore(settings.graphql_apq_cache_size)
        if redis is None:
            return cls(local)
        return cls(RedisQueryStore(redis, settings.redis_key_prefix, local))

    async def resolve(self, data: GraphQLRequestData) -> GraphQLRequestData:
        """``data`` with its query filled in from the hash; PersistedQueryError otherwise."""
        extension = (data.extensions or {}).get("persistedQuery")
        if extension is None:
            return data
        digest = _digest(extension)
        if data.query is not None and query_hash(data.query) != digest:
            raise PersistedQueryError("provided sha does not match query", HASH_MISMATCH, 400)
        if self.registry is not None:
            registered = self.registry.get(digest)
            if registered is None:
                raise PersistedQueryError(NOT_ALLOWED_MESSAGE, NOT_ALLOWED)
            return replace(data, query=registered)
        if self.store is None:
            raise PersistedQueryError("PersistedQueryNotSupported", NOT_SUPPORTED)
        if data.query is None:
            query = await self.store.get(digest)
            if query is None:
                raise PersistedQueryError("PersistedQueryNotFound", NOT_FOUND)
            return replace(data, query=query)
        await self.store.put(digest, data.query)
        return data


def _digest(extension: object) -> str:
    if not isinstance(extension, dict) or extension.get("version") != 1:
        raise PersistedQueryError("Unsupported persisted query version", INVALID, 400)
    digest = extension.get("sha256Hash")
    if not isinstance(digest, str) or not _SHA256_HEX.match(digest):
        raise PersistedQueryError("sha256Hash must be 64 hex characters", INVALID, 400)
    return digest.lower()
