"""Client addresses and proxy-set headers count only when a trusted proxy sends them.

uvicorn's ProxyHeadersMiddleware rewrites ``scope["client"]`` from X-Forwarded-For when the
peer is one of ``FUNNELGATE_TRUSTED_PROXIES``. Other headers a proxy sets (the visitor's
country, ``FUNNELGATE_COUNTRY_HEADER``) are just as easy to forge: the scope also records
whether the peer was trusted, and the redirect reads the country only then.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

TRUSTED_PEER = "funnelgate.trusted_proxy"  # scope key: the peer is a trusted proxy


def peer_is_trusted_proxy(scope: Scope) -> bool:
    return bool(scope.get(TRUSTED_PEER, False))


class TrustedProxyHeaders(ProxyHeadersMiddleware):
    # The ignores: uvicorn types the ASGI messages as its own TypedDicts and Starlette as
    # plain mappings; the same objects at run time.
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # type: ignore[override]
        if scope["type"] != "lifespan":
            client = scope.get("client")
            scope[TRUSTED_PEER] = bool(client and client[0] in self.trusted_hosts)
        await super().__call__(scope, receive, send)  # type: ignore[arg-type]
