"""Rate limits: per token and per client IP on the API, per client IP on redirects.

Counters live in process memory, or in Redis when ``FUNNELGATE_REDIS_URL`` is set so that
every worker shares them. A Redis outage fails open: requests pass unlimited (logged once)
until Redis answers again. The client IP is the ASGI client address, which the gateway's
ProxyHeadersMiddleware takes from X-Forwarded-For only for ``FUNNELGATE_TRUSTED_PROXIES``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from limits import RateLimitItem, parse
from limits.aio import strategies
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import STRATEGIES
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import render_error, route_family
from resolvers.auth import PAT_PREFIX, canonical_jwt

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from app.settings import Settings

# limits leaves STRATEGIES to inference, whose join of the classes is the abstract base.
_STRATEGIES: Mapping[str, Callable[[Storage], strategies.RateLimiter]] = STRATEGIES

log = logging.getLogger("funnelgate.ratelimit")

# After a storage failure, skip the storage this long rather than wait on it per request.
_STORAGE_RETRY_S = 5.0


@dataclass(frozen=True)
class Quota:
    """The state of one limit after a request took (or was refused) its share."""

    limit: int
    window_s: int
    remaining: int
    reset_s: int
    allowed: bool


@dataclass(frozen=True)
class Decision:
    quotas: tuple[Quota, ...]

    @property
    def allowed(self) -> bool:
        return all(q.allowed for q in self.quotas)

    @property
    def binding(self) -> Quota:
        """The quota to report: a refused one, else the one closest to running out."""
        refused = [q for q in self.quotas if not q.allowed]
        if refused:
            return max(refused, key=lambda q: q.reset_s)
        return min(self.quotas, key=lambda q: (q.remaining / q.limit, -q.reset_s))

    def headers(self) -> dict[str, str]:
        quota = self.binding
        headers = {
            "RateLimit-Limit": str(quota.limit),
            "RateLimit-Remaining": str(quota.remaining),
            "RateLimit-Reset": str(quota.reset_s),
            "RateLimit-Policy": ", ".join(f"{q.limit};w={q.window_s}" for q in self.quotas),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, quota.reset_s))
        return headers


class RateLimiter:
    """Takes one unit of each limit that applies to a request, through ``limits``."""

    def __init__(
        self,
        storage: Storage,
        *,
        api_token: str,
        api_ip: str,
        redirect_ip: str,
        strategy: str = "sliding-window-counter",
        exempt_ips: frozenset[str] = frozenset(),
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown rate limit strategy {strategy!r}: use {sorted(STRATEGIES)}")
        self.storage = storage
        self._strategy = _STRATEGIES[strategy](storage)
        self._api_token = _parse_limit(api_token, "rate_limit_api")
        self._api_ip = _parse_limit(api_ip, "rate_limit_api_ip")
        self._redirect_ip = _parse_limit(redirect_ip, "rate_limit_redirect_ip")
        self._skip_until = 0.0
        self._exempt_ips = exempt_ips

    @classmethod
    def from_settings(cls, settings: Settings, redis: Redis | None = None) -> RateLimiter | None:
        """``None`` when rate limiting is off; Redis-backed when a client is given."""
        if not settings.rate_limit_enabled:
            return None
        storage: Storage
        if redis is not None:
            # The URI only picks the client library: the shared pool knows the server.
            storage = RedisStorage(
                "async+redis://",
                implementation="redispy",
                # limits types its client options as scalars; redis-py takes a pool here.
                connection_pool=redis.connection_pool,  # type: ignore[arg-type]
                key_prefix=f"{settings.redis_key_prefix}:ratelimit",
                wrap_exceptions=True,
            )
        else:
            storage = MemoryStorage()
        return cls(
            storage,
            api_token=settings.rate_limit_api,
            api_ip=settings.rate_limit_api_ip,
            redirect_ip=settings.rate_limit_redirect_ip,
            strategy=settings.rate_limit_strategy,
            exempt_ips=frozenset(
                ip.strip() for ip in settings.rate_limit_exempt_ips.split(",") if ip.strip()
            ),
        )

    async def check(self, family: str, ip: str, token_key: str | None) -> Decision | None:
        """Take a unit of each applicable limit, stopping at the first refusal.

        ``None`` means the storage failed and the request passes unlimited.
        """
        # Exempt addresses (loopback by default: sidecars, health checks, local load tests)
        # skip the per-IP limits; a token's own limit still applies.
        per_ip = ip not in self._exempt_ips
        if family == "redirect":
            limits = [(self._redirect_ip, ("redirect-ip", ip))] if per_ip else []
        else:
            limits = [(self._api_ip, ("api-ip", ip))] if per_ip else []
            if token_key is not None:
                limits.append((self._api_token, ("api-token", token_key)))
        if not limits:
            return None
        if time.monotonic() < self._skip_until:
            return None
        quotas: list[Quota] = []
        try:
            for item, identifiers in limits:
                quota = await self._take(item, identifiers)
                quotas.append(quota)
                if not quota.allowed:
                    break
        except Exception as exc:  # noqa: BLE001 - any storage failure fails open
            if self._skip_until == 0.0:
                log.warning("rate limit storage unavailable, not limiting: %s", exc)
            self._skip_until = time.monotonic() + _STORAGE_RETRY_S
            return None
        if self._skip_until:
            log.warning("rate limit storage available again")
            self._skip_until = 0.0
        return Decision(tuple(quotas))

    async def _take(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> Quota:
        allowed = await self._strategy.hit(item, *identifiers)
        stats = await self._strategy.get_window_stats(item, *identifiers)
        return Quota(
            limit=item.amount,
            window_s=item.get_expiry(),
            remaining=stats.remaining,
            reset_s=max(0, math.ceil(stats.reset_time - time.time())),
            allowed=allowed,
        )


class RateLimitMiddleware:
    """Pure ASGI: refuses over-limit requests with 429 and labels the rest with RateLimit-*."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter | None) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        family = route_family(scope["path"]) if scope["type"] == "http" else None
        if family is None or self.limiter is None:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        ip = client[0] if client else "unknown"
        token_key = None if family == "redirect" else _token_key(Headers(scope=scope))
        decision = await self.limiter.check(family, ip, token_key)
        if decision is None:
            await self.app(scope, receive, send)
            return
        headers = decision.headers()
        if not decision.allowed:
            await _refusal(family, decision.binding, headers)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _parse_limit(text: str, setting: str) -> RateLimitItem:
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(f"{setting}: {text!r} is not a rate like '600/minute'") from exc


def _token_key(headers: Headers) -> str | None:
    """A digest of the bearer token: the raw token never reaches the counter storage.

    A JWT counts under its canonical spelling, so re-spelling one (padding, unused bits)
    does not open a fresh bucket; such spellings are refused at authentication anyway.
    """
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    if not token.startswith(PAT_PREFIX):
        token = canonical_jwt(token) or token
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def _refusal(family: str | None, quota: Quota, headers: dict[str, str]) -> Response:
    """A 429 in the error shape of the route family."""
    message = (
        f"Rate limit exceeded: {quota.limit} requests per {quota.window_s} s; "
        f"retry in {max(1, quota.reset_s)} s."
    )
    return render_error(family, 429, "rate_limited", message, headers)
