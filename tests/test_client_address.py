"""The client address (visitor ids, rate limits) comes from X-Forwarded-For only when the
sender is a trusted proxy (``FUNNELGATE_TRUSTED_PROXIES``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pydantic
import pytest

from app.serving import uvicorn_config
from app.settings import Settings
from tests.factories import SPRING, make_campaign, make_link
from tests.inprocess import app_client, running_app
from tests.test_redirects import CAMPAIGN, DESKTOP, stored_click

VISITOR = "198.51.100.7"
OTHER_VISITOR = "198.51.100.8"
STRANGER = "203.0.113.9"  # not a proxy of ours
PROXY = "127.0.0.1"  # the default trusted proxy


async def _click(app: Any, http: httpx.AsyncClient, path: str, **headers: str) -> Any:
    """The stored click of one visit to ``path``."""
    response = await http.get(path, headers=DESKTOP | headers)
    assert response.status_code == 302, response.text
    click_id = dict(parse_qsl(urlsplit(response.headers["location"]).query))["fg_click"]
    row = await stored_click(app, click_id)
    assert row is not None
    return row


async def _visitor_id(app: Any, http: httpx.AsyncClient, path: str, **headers: str) -> str:
    return (await _click(app, http, path, **headers)).visitor_id


async def test_a_stranger_cannot_choose_its_visitor_id_with_x_forwarded_for(settings, tenant):
    async with running_app(settings) as app:
        async with app_client(app, PROXY) as admin:
            await make_campaign(admin, tenant, CAMPAIGN, status="ACTIVE")
            await make_link(admin, tenant, "addr", SPRING, campaign_id=CAMPAIGN, append=True)
        path = f"/{tenant.handle}/addr"
        async with app_client(app, STRANGER) as stranger, app_client(app, VISITOR) as visitor:
            plain = await _visitor_id(app, stranger, path)
            spoofed = await _visitor_id(app, stranger, path, **{"X-Forwarded-For": VISITOR})
            real = await _visitor_id(app, visitor, path)
        assert spoofed == plain
        assert spoofed != real


async def test_a_trusted_proxy_names_the_visitor(settings, tenant):
    async with running_app(settings) as app:
        async with app_client(app, PROXY) as proxy:
            await make_campaign(proxy, tenant, CAMPAIGN, status="ACTIVE")
            await make_link(proxy, tenant, "addr", SPRING, campaign_id=CAMPAIGN, append=True)
            path = f"/{tenant.handle}/addr"
            # The rightmost address the trusted proxy did not add: anything the visitor
            # wrote to its left is ignored.
            forwarded = await _visitor_id(
                app, proxy, path, **{"X-Forwarded-For": f"{OTHER_VISITOR}, {VISITOR}"}
            )
            async with app_client(app, VISITOR) as visitor:
                direct = await _visitor_id(app, visitor, path)
        assert forwarded == direct


async def test_trusted_proxies_take_cidrs(settings, tenant):
    async with running_app(settings, trusted_proxies="10.0.0.0/8") as app:
        async with app_client(app, PROXY) as admin:
            await make_campaign(admin, tenant, CAMPAIGN, status="ACTIVE")
            await make_link(admin, tenant, "addr", SPRING, campaign_id=CAMPAIGN, append=True)
        path = f"/{tenant.handle}/addr"
        async with app_client(app, "10.1.2.3") as proxy, app_client(app, VISITOR) as visitor:
            forwarded = await _visitor_id(app, proxy, path, **{"X-Forwarded-For": VISITOR})
            direct = await _visitor_id(app, visitor, path)
        assert forwarded == direct


async def test_a_stranger_cannot_escape_the_per_ip_limit_with_x_forwarded_for(settings):
    async with running_app(settings, rate_limit_redirect_ip="2/hour") as app:
        async with app_client(app, STRANGER) as stranger:
            for n in range(2):
                spoofed = {"X-Forwarded-For": f"198.51.100.{n}"}
                assert (await stranger.get("/nobody/nothing", headers=spoofed)).status_code == 404
            spoofed = {"X-Forwarded-For": "198.51.100.99"}
            assert (await stranger.get("/nobody/nothing", headers=spoofed)).status_code == 429


async def test_clients_behind_a_trusted_proxy_have_their_own_limits(settings):
    async with running_app(settings, rate_limit_redirect_ip="2/hour") as app:
        async with app_client(app, PROXY) as proxy:
            first = {"X-Forwarded-For": VISITOR}
            for _ in range(2):
                assert (await proxy.get("/nobody/nothing", headers=first)).status_code == 404
            assert (await proxy.get("/nobody/nothing", headers=first)).status_code == 429
            second = {"X-Forwarded-For": OTHER_VISITOR}
            assert (await proxy.get("/nobody/nothing", headers=second)).status_code == 404


async def test_api_limits_follow_the_trusted_client_address(settings):
    async with running_app(settings, rate_limit_api_ip="1/hour") as app:
        async with app_client(app, PROXY) as proxy, app_client(app, STRANGER) as stranger:
            first = {"X-Forwarded-For": VISITOR}
            assert (await proxy.get("/v2/handles/acme/campaigns", headers=first)).status_code == 401
            assert (await proxy.get("/v2/handles/acme/campaigns", headers=first)).status_code == 429
            assert (await stranger.get("/v2/handles/acme/campaigns")).status_code == 401
            spoofed = {"X-Forwarded-For": OTHER_VISITOR}
            response = await stranger.get("/v2/handles/acme/campaigns", headers=spoofed)
            assert response.status_code == 429


def test_trusted_proxies_default_to_loopback_and_honour_forwarded_allow_ips(monkeypatch):
    monkeypatch.delenv("FUNNELGATE_TRUSTED_PROXIES", raising=False)
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert Settings().trusted_proxy_hosts == ["127.0.0.1", "::1"]
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")
    assert Settings().trusted_proxy_hosts == ["10.0.0.5"]
    monkeypatch.setenv("FUNNELGATE_TRUSTED_PROXIES", "192.168.0.1/16, 10.0.0.6")
    assert Settings().trusted_proxy_hosts == ["192.168.0.0/16", "10.0.0.6"]


def test_a_malformed_trusted_proxy_is_refused():
    with pytest.raises(pydantic.ValidationError, match="not an IP address"):
        Settings(trusted_proxies="127.0.0.1,proxy.internal")


def test_uvicorn_leaves_forwarded_headers_to_the_app():
    config = uvicorn_config(
        Settings(), host="127.0.0.1", port=8000, workers=1, log_level="INFO", log_config=None
    )
    assert config.proxy_headers is False


async def test_only_a_trusted_proxy_sets_the_visitors_country(settings, tenant):
    async with running_app(settings) as app:
        async with app_client(app, PROXY) as admin:
            await make_campaign(admin, tenant, CAMPAIGN, status="ACTIVE")
            await make_link(admin, tenant, "geo", SPRING, campaign_id=CAMPAIGN, append=True)
        path = f"/{tenant.handle}/geo"

        async def country(http: httpx.AsyncClient) -> str:
            return (await _click(app, http, path, **{"CF-IPCountry": "DE"})).country

        async with app_client(app, STRANGER) as stranger, app_client(app, PROXY) as proxy:
            assert await country(stranger) == "unknown"
            assert await country(proxy) == "DE"
