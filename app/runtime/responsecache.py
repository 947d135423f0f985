"""Response cache for GraphQL queries: per caller scope, at most ``ttl`` (≤ 1 s) old.

Keyed by the query text's hash, the operation name, the variables and the caller's scope
(principal kind, subject, role per handle, PAT scopes): never shared across tenants or
roles. Only error-free results of queries are stored. Every handle has a generation, bumped
whenever the ChangeHub reports a committed write of the handle (whatever door it came
through: REST, GraphQL, MCP, ingest); an entry remembers the generations of its scope's
handles (and of ``ANY_HANDLE``) and is dropped when one moved. In memory (bounded LRU), or
in Redis when ``FUNNELGATE_REDIS_URL`` is set, where the bump is shared by every process
before the write returns. The TTL bounds what writes the hub never hears of (another
program's) can leave behind. GET requests with a persisted-query hash also get ``ETag``
and ``Cache-Control``.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import orjson
from graphql import OperationDefinitionNode, OperationType, parse
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import ExecutionResult

from db.changes import ANY_HANDLE

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from strawberry.asgi import GraphQL

    from app.settings import Settings
    from resolvers.context import Context
    from resolvers.principal import Principal

    # What CachedResponses is mixed into, so that its super() calls are checked.
    _View = GraphQL[Context, None]
else:
    _View = object

log = logging.getLogger("funnelgate.responsecache")

_PENDING = "funnelgate.response_cache"  # request state: what to store after encoding
_MAX_BYTES = 64 * 1024 * 1024  # memory store: total size of the bodies it keeps


@dataclass(frozen=True)
class CallerScope:
    key: str
    handles: tuple[str, ...]  # whose generations an entry of this scope depends on


def caller_scope(principal: Principal | None) -> CallerScope:
    if principal is None:
        return CallerScope("anonymous", (ANY_HANDLE,))
    roles = ",".join(f"{h}={r.value}" for h, r in sorted(principal.roles.items()))
    scopes = ",".join(sorted(principal.scopes))
    return CallerScope(
        f"{principal.kind}|{principal.subject}|{roles}|{scopes}",
        (*sorted(principal.roles), ANY_HANDLE),
    )


@lru_cache(maxsize=512)
def operation_type(query: str, operation_name: str | None) -> OperationType | None:
    try:
        document = parse(query)
    except Exception:  # noqa: BLE001 - not a document: nothing to cache or invalidate
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name is None or (operation.name and operation.name.value == operation_name):
            return operation.operation if operation_name or len(operations) == 1 else None
    return None


# --------------------------------------------------------------------------- stores


class MemoryStore:
    """Entries and handle generations in this process; least recently used dropped first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.generations: dict[str, int] = {}
        self._entries: OrderedDict[str, tuple[float, tuple[int, ...], bytes]] = OrderedDict()
        self._bytes = 0

    def current(self, handles: tuple[str, ...]) -> tuple[int, ...]:
        return tuple(self.generations.get(h, 0) for h in handles)

    async def lookup(self, key: str, handles: tuple[str, ...]) -> tuple[bytes | None, Any]:
        """(body or None, the token to store a fresh body under)."""
        now = self.current(handles)
        entry = self._entries.get(key)
        if entry is None:
            return None, now
        expires, generations, body = entry
        if generations != now or time.monotonic() >= expires:
            self._drop(key)
            return None, now
        self._entries.move_to_end(key)
        return body, now

    async def store(self, key: str, token: Any, body: bytes, ttl: float) -> None:
        if len(body) > _MAX_BYTES // 16:
            return
        self._drop(key)
        self._entries[key] = (time.monotonic() + ttl, token, body)
        self._bytes += len(body)
        while len(self._entries) > self.max_entries or self._bytes > _MAX_BYTES:
            self._drop(next(iter(self._entries)))

    def changed(self, handle: str) -> None:
        self.generations[handle] = self.generations.get(handle, 0) + 1

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry[2])


class RedisStore:
    """Entries and generations in Redis, shared by every gateway process. The generations
    of this store's process are checked too on its own entries, so that a write counts here
    before its INCR lands. A Redis failure is a miss (logged once); the TTL still bounds
    staleness."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = f"{prefix}:rc:"
        self.local = MemoryStore(1)
        self._instance = uuid.uuid4().hex[:16]  # tells this store's own entries apart
        self._failing = False

    async def lookup(self, key: str, handles: tuple[str, ...]) -> tuple[bytes | None, Any]:
        try:
            raw, *shared = await self.redis.mget(
                [self.prefix + key, *(f"{self.prefix}gen:{h}" for h in handles)]
            )
        except Exception as exc:  # noqa: BLE001 - Redis is an optimisation here
            self._failed(exc)
            return None, None
        self._recovered()
        token = (b",".join(_bytes(g or b"0") for g in shared), self.local.current(handles))
        if raw is None:
            return None, token
        header, _, body = _bytes(raw).partition(b"\n")
        shared_gens, owner, local_gens = header.split(b"|")
        if shared_gens != token[0] or (
            owner.decode() == self._instance and local_gens != _ints(token[1])
        ):
            return None, token
        return body, token

    async def store(self, key: str, token: Any, body: bytes, ttl: float) -> None:
        header = b"|".join([token[0], self._instance.encode(), _ints(token[1])])
        try:
            await self.redis.set(self.prefix + key, header + b"\n" + body, px=int(ttl * 1000))
        except Exception as exc:  # noqa: BLE001 - Redis is an optimisation here
            self._failed(exc)

    def changed(self, handle: str) -> Any:
        """This process misses at once; the others once the returned coroutine is done."""
        self.local.changed(handle)
        return self._incr(handle)

    async def _incr(self, handle: str) -> None:
        key = f"{self.prefix}gen:{handle}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                # Far longer than any entry lives: an expired counter reads 0, a miss.
                pipe.expire(key, 86_400)
                await pipe.execute()
        except Exception as exc:  # noqa: BLE001 - entries still expire within the TTL
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            log.warning("response cache: Redis unavailable, serving uncached: %s", exc)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.warning("response cache: Redis available again")
        self._failing = False


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _ints(values: tuple[int, ...]) -> bytes:
    return ",".join(map(str, values)).encode()


# --------------------------------------------------------------------------- the cache


class ResponseCache:
    def __init__(self, store: MemoryStore | RedisStore, ttl: float = 1.0) -> None:
        self.store = store
        self.ttl = ttl
        self.hits = self.misses = self.stored = 0

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None = None) -> ResponseCache | None:
        if not settings.graphql_response_cache:
            return None
        store: MemoryStore | RedisStore = (
            MemoryStore(settings.graphql_response_cache_size)
            if redis is None
            else RedisStore(redis, settings.redis_key_prefix)
        )
        return cls(store, settings.graphql_response_cache_ttl_s)

    @property
    def hit_ratio(self) -> float:
        return self.hits / (self.hits + self.misses) if self.hits + self.misses else 0.0

    def key(self, query: str, name: str | None, variables: Any, scope: CallerScope) -> str:
        digest = hashlib.sha256(query.encode()).hexdigest()
        parts = (digest, name or "", _canonical(variables), scope.key)
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    async def lookup(self, key: str, scope: CallerScope) -> tuple[bytes | None, Any]:
        body, token = await self.store.lookup(key, scope.handles)
        if body is None:
            self.misses += 1
        else:
            self.hits += 1
        return body, token

    async def remember(self, key: str, token: Any, body: bytes) -> None:
        await self.store.store(key, token, body, self.ttl)
        self.stored += 1

    def changed(self, handle: str, campaign_ids: Collection[str] | None = None) -> Any:
        """ChangeHub listener: drop the entries of every scope holding ``handle`` (all of
        them for ANY_HANDLE); returns what other processes wait on, if anything."""
        return self.store.changed(handle)


def _canonical(variables: Any) -> str:
    return orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS).decode()


# --------------------------------------------------------------------------- HTTP


class CachedResult(ExecutionResult):
    """A stored response body standing in for an execution."""

    def __init__(self, body: bytes, etag: bool) -> None:
        super().__init__(data=None, errors=None)
        self.body = body
        self.etag = etag


class EncodedResponse(dict[str, Any]):
    """An already encoded response body; the view's ``encode_json`` passes it through."""

    def __init__(self, body: bytes, etag: bool, request: Request) -> None:
        super().__init__()
        self.body = body
        self.etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"' if etag else None
        self.not_modified = self.etag is not None and self.etag in _etags(
            request.headers.get("if-none-match", "")
        )


def _etags(header: str) -> set[str]:
    return {tag.strip() for tag in header.split(",") if tag.strip()}


class CachedResponses(_View):
    """Mixin for the Strawberry view: answers repeated queries from a ResponseCache."""

    response_cache: ResponseCache | None

    async def execute_operation(
        self,
        request: Request,
        request_adapter: Any,
        request_data: Any,
        context: Context,
        root_value: Any,
        sub_response: Any,
    ) -> Any:
        execute = super().execute_operation
        args = (request, request_adapter, request_data, context, root_value, sub_response)
        cache = self.response_cache
        if (
            cache is None
            or isinstance(request_data, list)
            or request_data.protocol != "http"
            or not request_data.query
        ):
            return await execute(*args)
        query, name = request_data.query, request_data.operation_name
        scope = caller_scope(context.principal)
        try:
            key = cache.key(query, name, request_data.variables, scope)
        except TypeError:  # variables orjson cannot encode: not cached
            return await execute(*args)
        persisted = "persistedQuery" in (request_data.extensions or {})
        body, token = await cache.lookup(key, scope)
        if body is not None:
            return CachedResult(body, etag=persisted and request.method == "GET")
        result = await execute(*args)
        kind = operation_type(query, name)
        cacheable = isinstance(result, ExecutionResult) and not result.errors  # not a stream
        if kind is OperationType.QUERY and token is not None and cacheable:
            state = request.scope.setdefault("state", {})
            state[_PENDING] = (key, token, persisted and request.method == "GET")
        return result

    async def process_result(self, request: Request, result: Any) -> Any:
        if isinstance(result, CachedResult):
            return EncodedResponse(result.body, result.etag, request)
        data = await super().process_result(request, result)
        pending = request.scope.get("state", {}).pop(_PENDING, None)
        if pending is None or self.response_cache is None:
            return data
        key, token, etag = pending
        try:
            body = orjson.dumps(data)
        except TypeError:  # beyond orjson (integers over 64 bits): not cached
            return data
        await self.response_cache.remember(key, token, body)
        return EncodedResponse(body, etag, request)

    def create_response(self, response_data: Any, sub_response: Any) -> Response:
        if isinstance(response_data, EncodedResponse) and response_data.not_modified:
            response = Response(status_code=304)
            response.headers.raw.extend(sub_response.headers.raw)
        else:
            response = super().create_response(response_data, sub_response)
        if isinstance(response_data, EncodedResponse) and response_data.etag:
            response.headers["ETag"] = response_data.etag
            response.headers["Cache-Control"] = "private, max-age=1"
        return response
