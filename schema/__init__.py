"""The GraphQL schema: root types composed from per-domain classes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from schema.analytics import AnalyticsMutation, AnalyticsQuery
from schema.campaigns import CampaignMutation, CampaignQuery
from schema.engine.allowlist import OperationAllowList, load_allowlist
from schema.engine.compiled import compiled_execution_context
from schema.engine.cost import QueryCostLimiter
from schema.engine.introspection import IntrospectionLimiter, IntrospectionResults
from schema.engine.metrics import MetricsExtension
from schema.engine.storable import StorableInput
from schema.engine.websocket_auth import RecheckLongLivedToken
from schema.errors import DomainErrorExtension, GatewaySchema
from schema.pages import PageMutation, PageQuery
from schema.personalization import PersonalizationMutation, PersonalizationQuery
from schema.subscriptions import Subscription
from schema.tokens import TokenMutation, TokenQuery
from schema.webhooks import WebhookMutation, WebhookQuery

if TYPE_CHECKING:
    from app.settings import Settings


@strawberry.type(description="Read access to campaigns, links and analytics.")
class Query(
    CampaignQuery, PersonalizationQuery, AnalyticsQuery, PageQuery, WebhookQuery, TokenQuery
):
    pass


@strawberry.type(description="Changes to campaigns, links and conversions.")
class Mutation(
    CampaignMutation,
    PersonalizationMutation,
    AnalyticsMutation,
    PageMutation,
    WebhookMutation,
    TokenMutation,
):
    pass


# What Schema(extensions=...) takes: a class, or a factory called once per operation.
Extension = type[SchemaExtension] | Callable[[], SchemaExtension]


def build_schema(settings: Settings) -> strawberry.Schema:
    extensions: list[Extension] = [
        MetricsExtension,  # first, so that it times the whole operation
        RecheckLongLivedToken,
        _same_rules(QueryDepthLimiter(max_depth=settings.graphql_max_depth)),
        _same_rules(MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases)),
        lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
        ParserCache,
        ValidationCache,
        # After ValidationCache: a gate that refuses an operation replaces its verdict.
        *_operation_gates(settings),
        DomainErrorExtension,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return GatewaySchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=compiled_execution_context() if settings.graphql_compiled else None,
    )


def _same_rules(limiter: AddValidationRules) -> Callable[[], AddValidationRules]:
    """A fresh extension per request with the same rule classes, so that ValidationCache
    (keyed by the rules) hits; the limiters build a new rule class per instance."""
    rules = limiter.validation_rules
    return lambda: AddValidationRules(rules)


def _operation_gates(settings: Settings) -> list[Extension]:
    gates: list[Extension] = []
    if settings.graphql_allowlist:
        if not settings.graphql_allowlist_file:
            raise ValueError("FUNNELGATE_GRAPHQL_ALLOWLIST needs FUNNELGATE_GRAPHQL_ALLOWLIST_FILE")
        registered = frozenset(load_allowlist(settings.graphql_allowlist_file))
        gates.append(lambda: OperationAllowList(registered))
    introspection = IntrospectionResults()  # per schema
    gates += [
        StorableInput,
        lambda: IntrospectionLimiter(settings.graphql_max_depth, introspection),
        lambda: QueryCostLimiter(max_cost=settings.graphql_max_cost),
    ]
    return gates
