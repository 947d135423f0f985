"""What a click tells about its visitor: device, bot verdict, source, medium, country."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from crawlerdetect import CrawlerDetect
from ua_parser import parse as parse_user_agent

_crawlers = CrawlerDetect()

# Link-preview fetchers that crawlerdetect may not know; they unfurl links, never click them.
_PREVIEW_MARKERS = (
    "slackbot",
    "discordbot",
    "telegrambot",
    "whatsapp",
    "skypeuripreview",
    "iframely",
    "embedly",
    "facebookexternalhit",
    "twitterbot",
    "linkedinbot",
    "pinterestbot",
    "redditbot",
    "mastodon",
    "bitlybot",
    "vkshare",
    "applebot",
    "bingpreview",
    "google-pagerenderer",
    "headlesschrome",
    "python-requests",
    "go-http-client",
    "okhttp",
    "wget",
    "curl",
)

SEARCH_HOSTS = (
    "google.",
    "bing.",
    "duckduckgo.",
    "yahoo.",
    "baidu.",
    "yandex.",
    "ecosia.",
    "search.brave.",
    "startpage.",
    "qwant.",
    "naver.",
    "seznam.",
)
SOCIAL_HOSTS = (
    "facebook.",
    "fb.me",
    "fb.com",
    "instagram.",
    "t.co",
    "twitter.",
    "x.com",
    "linkedin.",
    "lnkd.in",
    "reddit.",
    "pinterest.",
    "tiktok.",
    "youtube.",
    "youtu.be",
    "whatsapp.",
    "wa.me",
    "t.me",
    "telegram.",
    "snapchat.",
    "threads.net",
    "mastodon.",
    "bsky.app",
    "vk.com",
    "weibo.",
    "quora.",
    "tumblr.",
)
EMAIL_HOSTS = (
    "mail.google.",
    "outlook.",
    "mail.yahoo.",
    "webmail.",
    "mail.",
    "gmx.",
    "proton.me",
    "protonmail.",
    "fastmail.",
    "zoho.",
)


@dataclass(frozen=True)
class UserAgentInfo:
    device: str  # MOBILE, DESKTOP or TABLET
    is_bot: bool


@lru_cache(maxsize=4096)
def classify_user_agent(user_agent: str) -> UserAgentInfo:
    ua = user_agent.strip()
    lowered = ua.lower()
    if not ua:
        return UserAgentInfo("DESKTOP", True)
    parsed = parse_user_agent(ua)
    device_family = (parsed.device.family if parsed.device else "") or ""
    os_family = (parsed.os.family if parsed.os else "") or ""
    is_bot = (
        _crawlers.isCrawler(ua)
        or device_family == "Spider"
        or any(marker in lowered for marker in _PREVIEW_MARKERS)
    )
    return UserAgentInfo(_device(lowered, device_family, os_family), bool(is_bot))


def _device(lowered: str, device_family: str, os_family: str) -> str:
    family = device_family.lower()
    if "ipad" in lowered or "tablet" in lowered or "kindle" in lowered or "tablet" in family:
        return "TABLET"
    if os_family == "Android" and "mobile" not in lowered:
        return "TABLET"
    if (
        os_family in ("iOS", "Android", "Windows Phone", "BlackBerry OS", "KaiOS")
        or "mobi" in lowered
        or "iphone" in lowered
    ):
        return "MOBILE"
    return "DESKTOP"


def referrer_class(referrer: str | None) -> str:
    """search, social, email, direct (no referrer) or referral (anything else)."""
    if not referrer:
        return "direct"
    try:
        host = (urlsplit(referrer).hostname or "").lower()
    except ValueError:
        return "referral"
    if not host:
        return "direct"
    if host.startswith("www."):
        host = host[4:]
    for hosts, name in ((EMAIL_HOSTS, "email"), (SEARCH_HOSTS, "search"), (SOCIAL_HOSTS, "social")):
        if any(_host_matches(host, h) for h in hosts):
            return name
    return "referral"


def _host_matches(host: str, pattern: str) -> bool:
    """``google.`` is a label prefix (google.com, www.google.co.uk); ``t.co`` is a whole
    domain: t.co and its subdomains, never a look-alike such as t.company.com."""
    if pattern.endswith("."):
        return f".{pattern}" in f".{host}"
    return host == pattern or host.endswith(f".{pattern}")


def traffic_source(utm_source: str | None, referrer: str | None) -> str:
    source = (utm_source or "").strip().lower()
    return source[:128] if source else referrer_class(referrer)


def normalise_country(raw: str | None) -> str:
    """ISO alpha-2 upper-case from the trusted proxy header; ``unknown`` otherwise."""
    code = (raw or "").strip().upper()
    if len(code) == 2 and code.isascii() and code.isalpha() and code not in ("XX", "T1"):
        return code
    return "unknown"


def visitor_id(salt: str, ip: str, user_agent: str) -> str:
    """A salted hash: stable per visitor, no raw IP stored."""
    return hashlib.sha256(f"{salt}|{ip}|{user_agent}".encode()).hexdigest()[:32]
