"""Small builders shared by tests: stored rows, and campaigns and links made through REST.

The REST builders come in two layers. ``post_campaign``, ``put_link`` and
``post_campaign_with_link`` take a handle and request headers, for any client (an in-process
one, or one of a real gateway process). ``make_campaign``, ``make_link`` and
``make_campaign_with_link`` take a conftest ``Tenant`` and sign in as it (``role``, on
``handle`` when given, else the tenant's own).

Each asserts the response status is ``expect`` (a status or a tuple of them; ``None`` asserts
nothing) and returns the response. A campaign body is ``campaignId``, ``goalType``, then
``status`` when given, then any other fields as they are spelled on the wire.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import httpx

from db.tables import ClickRecord

if TYPE_CHECKING:
    from tests.conftest import Tenant

SHOP = "https://shop.example.com/"
SPRING = "https://shop.example.com/spring"
"""Destinations of links whose tests do not care where they go."""

Expect = int | tuple[int, ...] | None
_OMIT: Any = object()


def click_record(i: int, prefix: str = "c") -> ClickRecord:
    """A click of a fixed campaign and day; ``prefix`` keeps ids apart between tests."""
    return ClickRecord(
        account_id="a" * 24,
        id=f"{prefix}{i:023d}",
        handle="h",
        slug="s",
        campaign_id="cmp",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        day=date(2026, 1, 2),
        visitor_id="v",
        country="US",
        device="mobile",
        source="google",
        medium="",
        is_bot=False,
        segment="default",
        destination_url="https://x.example",
    )


def _checked(response: httpx.Response, expect: Expect) -> httpx.Response:
    if expect is not None:
        allowed = (expect,) if isinstance(expect, int) else expect
        assert response.status_code in allowed, response.text
    return response


async def post_campaign(
    client: httpx.AsyncClient,
    handle: str,
    headers: dict[str, str],
    campaign_id: str,
    *,
    goal_type: str = "PRODUCT_SALE",
    status: str | None = None,
    expect: Expect = 201,
    **fields: Any,
) -> httpx.Response:
    """POST /v2/handles/{handle}/campaigns."""
    body: dict[str, Any] = {"campaignId": campaign_id, "goalType": goal_type}
    if status is not None:
        body["status"] = status
    body.update(fields)
    response = await client.post(f"/v2/handles/{handle}/campaigns", json=body, headers=headers)
    return _checked(response, expect)


async def put_link(
    client: httpx.AsyncClient,
    handle: str,
    headers: dict[str, str],
    slug: str,
    destination: str = SHOP,
    *,
    campaign_id: str | None = _OMIT,
    append: bool | None = None,
    expect: Expect = (200, 201),
) -> httpx.Response:
    """PUT /v2/handles/{handle}/links/{slug}. Without ``campaign_id`` the body has none
    (``campaign_id=None`` sends an explicit null); with ``append`` it has a DIRECT tracking
    policy that appends the context parameter or not (without, the server's default)."""
    body: dict[str, Any] = {"destinationUrl": destination}
    if campaign_id is not _OMIT:
        body["campaignId"] = campaign_id
    if append is not None:
        body["trackingPolicy"] = {"mode": "DIRECT", "appendContextParam": append}
    response = await client.put(f"/v2/handles/{handle}/links/{slug}", json=body, headers=headers)
    return _checked(response, expect)


async def post_campaign_with_link(
    client: httpx.AsyncClient,
    handle: str,
    headers: dict[str, str],
    campaign_id: str,
    slug: str | None = None,
    *,
    destination: str = SHOP,
    append: bool | None = None,
    link_expect: Expect = 201,
    **campaign: Any,
) -> None:
    """A campaign (``post_campaign`` with ``campaign``) and a link of it, at ``slug`` (by
    default the campaign's id)."""
    await post_campaign(client, handle, headers, campaign_id, **campaign)
    await put_link(
        client,
        handle,
        headers,
        slug or campaign_id,
        destination=destination,
        campaign_id=campaign_id,
        append=append,
        expect=link_expect,
    )


async def make_campaign(
    client: httpx.AsyncClient,
    tenant: Tenant,
    campaign_id: str = "spring-launch",
    *,
    role: str = "CREATOR",
    handle: str | None = None,
    **options: Any,
) -> httpx.Response:
    """``post_campaign`` as ``tenant``."""
    handle = handle or tenant.handle
    return await post_campaign(client, handle, tenant.auth(role, handle), campaign_id, **options)


async def make_link(
    client: httpx.AsyncClient,
    tenant: Tenant,
    slug: str,
    destination: str = SHOP,
    *,
    role: str = "CREATOR",
    handle: str | None = None,
    **options: Any,
) -> httpx.Response:
    """``put_link`` as ``tenant``."""
    handle = handle or tenant.handle
    return await put_link(client, handle, tenant.auth(role, handle), slug, destination, **options)


async def make_campaign_with_link(
    client: httpx.AsyncClient,
    tenant: Tenant,
    campaign_id: str,
    slug: str | None = None,
    *,
    role: str = "CREATOR",
    **options: Any,
) -> None:
    """``post_campaign_with_link`` as ``tenant`` (one token for both requests)."""
    await post_campaign_with_link(
        client, tenant.handle, tenant.auth(role), campaign_id, slug, **options
    )
