"""Unit tests of resolvers.traffic: device classes, bot verdicts, referrer classes, sources,
countries. Pure functions, no app fixtures (so they run once, not per backend)."""

from __future__ import annotations

import pytest

from resolvers.traffic import (
    classify_user_agent,
    normalise_country,
    referrer_class,
    traffic_source,
    visitor_id,
)

# name → (User-Agent, expected device for people, is a bot)
HUMANS = {
    "iphone": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "MOBILE",
    ),
    "iphone-instagram-app": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Mobile/15E148 Instagram 320.0.0.34.109 (iPhone15,2; iOS 17_4; "
        "en_US; en; scale=3.00; 1179x2556; 571185441)",
        "MOBILE",
    ),
    "ipad": (
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
        "TABLET",
    ),
    "android-phone": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/123.0.0.0 Mobile Safari/537.36",
        "MOBILE",
    ),
    "android-phone-firefox": (
        "Mozilla/5.0 (Android 14; Mobile; rv:124.0) Gecko/124.0 Firefox/124.0",
        "MOBILE",
    ),
    "android-tablet": (
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
        "TABLET",
    ),
    "android-tablet-firefox": (
        "Mozilla/5.0 (Android 13; Tablet; rv:124.0) Gecko/124.0 Firefox/124.0",
        "TABLET",
    ),
    "windows-chrome": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/123.0.0.0 Safari/537.36",
        "DESKTOP",
    ),
    "mac-safari": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.4 Safari/605.1.15",
        "DESKTOP",
    ),
    "linux-firefox": (
        "Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0",
        "DESKTOP",
    ),
}

BOTS = {
    "googlebot": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "googlebot-smartphone": (
        "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/123.0.0.0 Mobile Safari/537.36 "
        "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    ),
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "facebookexternalhit": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "slackbot": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "twitterbot": "Twitterbot/1.0",
    "discordbot": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "whatsapp-preview": "WhatsApp/2.23.20.0 A",
    "linkedinbot": "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
    "curl": "curl/8.5.0",
    "wget": "Wget/1.21.4",
    "python-requests": "python-requests/2.31.0",
    "headless-chrome": (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/123.0.0.0 Safari/537.36"
    ),
    "empty": "",
    "blank": "   ",
}


@pytest.mark.parametrize("name", sorted(HUMANS))
def test_people_are_not_bots_and_get_their_device_class(name):
    ua, device = HUMANS[name]
    info = classify_user_agent(ua)
    assert info.is_bot is False, name
    assert info.device == device, name


@pytest.mark.parametrize("name", sorted(BOTS))
def test_crawlers_link_previews_tools_and_empty_agents_are_bots(name):
    info = classify_user_agent(BOTS[name])
    assert info.is_bot is True, name
    assert info.device in ("MOBILE", "DESKTOP", "TABLET")


def test_device_of_an_empty_user_agent_is_a_valid_class():
    assert classify_user_agent("").device == "DESKTOP"


@pytest.mark.parametrize(
    ("referrer", "expected"),
    [
        (None, "direct"),
        ("", "direct"),
        ("not a url", "direct"),  # no host: nothing to classify
        ("https://www.google.com/search?q=shoes", "search"),
        ("https://google.com/", "search"),
        ("https://www.google.co.uk/", "search"),
        ("https://www.google.de/search?q=x", "search"),
        ("https://www.bing.com/search?q=x", "search"),
        ("https://duckduckgo.com/", "search"),
        ("https://search.yahoo.com/search?p=x", "search"),
        ("https://www.facebook.com/", "social"),
        ("https://m.facebook.com/story.php", "social"),
        ("https://l.facebook.com/l.php?u=x", "social"),
        ("https://t.co/AbC123", "social"),
        ("https://x.com/someone/status/1", "social"),
        ("https://www.instagram.com/", "social"),
        ("https://www.linkedin.com/feed/", "social"),
        ("https://lnkd.in/abc", "social"),
        ("https://www.reddit.com/r/python/", "social"),
        ("https://www.youtube.com/watch?v=1", "social"),
        ("https://youtu.be/abc", "social"),
        ("https://t.me/channel", "social"),
        ("https://mail.google.com/mail/u/0/", "email"),
        ("https://outlook.live.com/mail/0/", "email"),
        ("https://mail.yahoo.com/d/folders/1", "email"),
        ("https://news.ycombinator.com/item?id=1", "referral"),
        ("https://blog.example.org/post", "referral"),
        ("https://www.example.com/", "referral"),
        ("http://[bad/", "referral"),
        # Look-alikes of full-domain entries (t.co, x.com, fb.me, ...) are other sites.
        ("https://t.company.com/", "referral"),
        ("https://x.company.org/page", "referral"),
        ("https://t.coffee.shop/", "referral"),
        ("https://fb.media.example/", "referral"),
        ("https://vk.community.org/", "referral"),
        # ... while their subdomains are still the same site.
        ("https://mobile.t.co/x", "social"),
        ("https://www.x.com/home", "social"),
    ],
)
def test_referrer_classes(referrer, expected):
    assert referrer_class(referrer) == expected


@pytest.mark.parametrize(
    ("utm_source", "referrer", "expected"),
    [
        ("Newsletter", None, "newsletter"),
        ("  NewsLetter  ", "https://www.google.com/", "newsletter"),  # utm wins, trimmed
        ("GOOGLE", None, "google"),
        ("partner_A", "https://t.co/x", "partner_a"),
        ("", "https://www.google.com/", "search"),  # empty utm → referrer class
        ("   ", "https://t.co/x", "social"),  # blank utm → referrer class
        (None, "https://mail.google.com/", "email"),
        (None, None, "direct"),
        ("x" * 300, None, "x" * 128),  # bounded to the column width
    ],
)
def test_traffic_source(utm_source, referrer, expected):
    assert traffic_source(utm_source, referrer) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        ("gb", "GB"),
        ("De", "DE"),
        (" fr ", "FR"),
        (None, "unknown"),
        ("", "unknown"),
        ("XX", "unknown"),  # Cloudflare: unknown
        ("T1", "unknown"),  # Cloudflare: Tor
        ("ESP", "unknown"),
        ("U", "unknown"),
        ("1A", "unknown"),
        ("ÄÖ", "unknown"),
    ],
)
def test_country_normalisation(header, expected):
    assert normalise_country(header) == expected


def test_visitor_id_is_a_salted_hash_without_the_raw_ip():
    a = visitor_id("salt-1", "203.0.113.9", "UA")
    assert a == visitor_id("salt-1", "203.0.113.9", "UA")
    assert a != visitor_id("salt-2", "203.0.113.9", "UA")
    assert a != visitor_id("salt-1", "203.0.113.10", "UA")
    assert "203.0.113.9" not in a
    assert len(a) == 32
