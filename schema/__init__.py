"""The GraphQL schema: root types composed from per-domain classes."""

from __future__ import annotations

from typing import TYPE_CHECKING

import strawberry
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from schema.analytics import AnalyticsMutation, AnalyticsQuery
from schema.campaigns import CampaignMutation, CampaignQuery
from schema.errors import DomainErrorExtension
from schema.pages import PageMutation, PageQuery
from schema.personalization import PersonalizationMutation, PersonalizationQuery

if TYPE_CHECKING:
    from app.settings import Settings


@strawberry.type(description="Read access to campaigns, links and analytics.")
class Query(CampaignQuery, PersonalizationQuery, AnalyticsQuery, PageQuery):
    pass


@strawberry.type(description="Changes to campaigns, links and conversions.")
class Mutation(CampaignMutation, PersonalizationMutation, AnalyticsMutation, PageMutation):
    pass


def build_schema(settings: Settings) -> strawberry.Schema:
    extensions: list = [
        lambda: QueryDepthLimiter(max_depth=settings.graphql_max_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        ParserCache,
        ValidationCache,
        DomainErrorExtension,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=extensions)
