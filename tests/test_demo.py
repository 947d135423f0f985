"""The demo loader writes through the live ingest paths, so its funnels add up."""

import uuid

from sqlalchemy import func, select

from db.tables import Click, Conversion
from resolvers.demo import CAMPAIGNS, load_demo


async def test_demo_account_has_funnels_consistent_with_its_raw_events(ctx, client):
    handle = f"demo-{uuid.uuid4().hex[:8]}"
    account_id = uuid.uuid4().hex[:24]
    seen: list[int] = []
    result = await load_demo(
        ctx, account_id=account_id, handle=handle, clicks=1500, days=30, progress=seen.append
    )
    assert result.clicks == 1500 and sum(seen) == 1500
    async with ctx.sessions() as session:
        raw_clicks = (
            await session.execute(
                select(func.count()).select_from(Click).where(Click.handle == handle)
            )
        ).scalar_one()
        bots = (
            await session.execute(
                select(func.count())
                .select_from(Click)
                .where(Click.handle == handle, Click.is_bot.is_(True))
            )
        ).scalar_one()
        purchases = (
            await session.execute(
                select(func.count(), func.sum(Conversion.value_micros))
                .select_from(Conversion)
                .where(
                    Conversion.handle == handle,
                    Conversion.campaign_id == "spring-launch",
                    Conversion.event_type == "purchase",
                )
            )
        ).one()
    assert raw_clicks == 1500

    from resolvers.auth import mint_jwt
    from tests.conftest import JWT_SECRET

    token = mint_jwt(JWT_SECRET, "t", {handle: "ADMIN"}, 600)
    response = await client.get(
        f"/v2/handles/{handle}/analytics?funnel=true", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["aggregate"]["clicks"] == 1500
    assert body["aggregate"]["qualifiedClicks"] == 1500 - bots
    assert len(body["funnel"]) == len(CAMPAIGNS)
    spring = next(f for f in body["funnel"] if f["campaignId"] == "spring-launch")
    assert spring["conversions"] == purchases[0]
    assert abs(spring["revenue"] - int(purchases[1] or 0) / 1_000_000) < 1e-6
    assert spring["confidence"] == (100 if purchases[0] else None)
