"""Webhook destinations: http(s) only, and never a private, loopback or link-local address.

A gateway that POSTs to any URL a tenant names is a server-side request forgery tool unless it
refuses internal addresses; ``webhook_allow_private`` lifts that for development and tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from resolvers.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code="invalid_webhook_url")


def _not_allowed(message: str) -> InvalidInput:
    return InvalidInput(message, code="webhook_url_not_allowed")


def is_public(ip: IPAddress) -> bool:
    """True for a globally routable unicast address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
    )


def parse_webhook_url(url: str) -> tuple[str, int]:
    """(host, port) of an absolute http(s) URL, or InvalidInput."""
    if any(ch.isspace() for ch in url):
        raise _invalid("url must not contain whitespace.")
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise _invalid(f"url is not a valid URL: {exc}.") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise _invalid("url must be an absolute http or https URL.")
    return host, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (an IP literal resolves to itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    infos = await asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    # Strip an IPv6 zone id ("fe80::1%eth0"); the address alone decides.
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def private_address(url: str) -> str | None:
    """The first non-public address ``url``'s host resolves to, if any."""
    host, port = parse_webhook_url(url)
    for ip in await resolve(host, port):
        if not is_public(ip):
            return str(ip)
    return None


async def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """Validate a subscription URL; refuse internal destinations unless ``allow_private``."""
    host, _ = parse_webhook_url(url)
    if allow_private:
        return url
    try:
        blocked = await private_address(url)
    except (OSError, UnicodeError) as exc:
        raise _invalid(f"The host '{host}' of url does not resolve.") from exc
    if blocked is not None:
        raise _not_allowed(
            f"url resolves to {blocked}, a private, loopback, link-local or reserved address; "
            "webhooks must target a public host."
        )
    return url
