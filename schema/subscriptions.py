"""The Subscription root: live funnels over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from resolvers.context import Context
from resolvers.live import watch_campaign_funnel
from schema.funnel_types import Funnel


@strawberry.type(description="Live updates.")
class Subscription:
    @strawberry.subscription(
        description="The campaign's funnel now, then each time new "
        "events change it (at most one push per second)."
    )
    async def campaign_funnel(
        self,
        info: Info[Context, None],
        handle: str,
        campaign_id: str,
        date_range: str | None = None,
        include_test: bool = False,
    ) -> AsyncGenerator[Funnel, None]:
        async for funnel in watch_campaign_funnel(
            info.context, handle, campaign_id, date_range=date_range, include_test=include_test
        ):
            yield Funnel.from_data(funnel)
