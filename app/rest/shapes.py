"""Response shapes of the REST shim, as pydantic models for the OpenAPI document.

``views.py`` builds these dicts; the schemathesis test checks every response against them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from resolvers.domain import CampaignStatus, GoalType, Readiness, TrackingMode


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _OpenShape(BaseModel):
    """A shape whose extra keys are named at run time (a group value, a stage name)."""

    model_config = ConfigDict(extra="allow")


class Campaign(_Shape):
    campaignId: str
    handle: str
    name: str | None
    goalType: GoalType
    trackingPreset: str
    conversionEventType: str
    status: CampaignStatus
    primarySlug: str | None
    detailsPageSlug: str | None
    createdAt: datetime
    updatedAt: datetime


class CampaignCreated(_Shape):
    campaign: Campaign
    quickStart: list[str] = Field(description="Three activation steps.")


class CampaignEnvelope(_Shape):
    campaign: Campaign


class _Page(_Shape):
    nextCursor: str | None = Field(description="Pass as ``cursor`` for the next page.")
    hasMore: bool
    total: int = Field(ge=0)


class CampaignPage(_Page):
    campaigns: list[Campaign]


class HealthCheck(_Shape):
    name: str
    status: Literal["PASS", "WARN", "FAIL"]
    detail: str


class CampaignHealth(_Shape):
    campaignId: str
    checks: list[HealthCheck]
    readiness: Readiness


class Conversion(_Shape):
    conversionId: str
    eventId: str | None
    eventType: str
    campaignId: str | None
    clickId: str | None
    value: float | None
    currency: str | None
    metadata: dict[str, Any] | None
    test: bool
    occurredAt: datetime | None
    createdAt: datetime | None


class WebhookEventRef(_Shape):
    id: str
    type: Literal["conversion.tested"]


class TestConversionResult(_Shape):
    status: Literal["created", "duplicate"]
    conversion: Conversion
    webhookEvent: WebhookEventRef | None


class TrackingPolicy(_Shape):
    mode: TrackingMode
    appendContextParam: bool


class Link(_Shape):
    slug: str
    handle: str
    destinationUrl: str
    campaignId: str | None
    trackingPolicy: TrackingPolicy
    shortPath: str
    createdAt: datetime
    updatedAt: datetime


class LinkEnvelope(_Shape):
    link: Link


class LinkPage(_Page):
    links: list[Link]


class ConversionOutcome(_Shape):
    index: int = Field(ge=0)
    status: Literal["created", "duplicate", "ignored", "rejected"]
    eventId: str | None
    conversionId: str | None = None
    campaignId: str | None = None
    attributed: bool | None = None
    error: str | None = Field(default=None, description="Error code of a rejected event.")
    message: str | None = None


class ConversionBatchResult(_Shape):
    results: list[ConversionOutcome]
    created: int = Field(ge=0)
    duplicate: int = Field(ge=0)
    ignored: int = Field(ge=0)
    rejected: int = Field(ge=0)


class AccessToken(_Shape):
    id: str
    name: str | None
    prefix: str
    handle: str
    scopes: list[str]
    createdAt: datetime
    lastUsedAt: datetime | None
    expiresAt: datetime | None
    revokedAt: datetime | None


class AccessTokenCreated(AccessToken):
    token: str = Field(description="The secret; shown only in this response.")


class AccessTokenList(_Shape):
    tokens: list[AccessToken]


class FunnelStage(_Shape):
    name: str
    count: int = Field(ge=0)
    rate: float | None = Field(description="Share of the previous stage; null for the first.")
    dropOff: int


class SourceCount(_Shape):
    source: str
    count: int


class CountryCount(_Shape):
    country: str
    count: int


class DeviceCount(_Shape):
    device: str
    count: int


class Breakdown(_Shape):
    """Qualified clicks per value; each list sums to ``qualifiedClicks``."""

    source: list[SourceCount]
    country: list[CountryCount]
    device: list[DeviceCount]


class Funnel(_Shape):
    campaignId: str | None
    clicks: int = Field(ge=0)
    qualifiedClicks: int = Field(ge=0)
    conversions: int = Field(ge=0)
    revenue: float
    currency: str
    revenueByCurrency: dict[str, float]
    confidence: int | None = Field(ge=0, le=100)
    stages: list[FunnelStage]
    breakdown: Breakdown
    lastSeenAt: datetime | None


class HandleFunnels(_Shape):
    aggregate: Funnel
    funnel: list[Funnel]


class CampaignFunnels(_Shape):
    funnel: list[Funnel] = Field(min_length=1, max_length=1)


class GroupRow(_OpenShape):
    """One group; its value is under the key named by ``groupBy``."""

    clicks: int = Field(ge=0)
    conversions: int = Field(ge=0)
    revenue: float
    revenueByCurrency: dict[str, float]


class GroupedAnalytics(_Shape):
    groupBy: str
    campaignId: str | None
    groups: list[GroupRow]


class FunnelReportRow(_OpenShape):
    """The group value under the report type's name, then one count per funnel stage."""

    clicks: int = Field(ge=0, description="Qualified clicks.")


class FunnelReport(_Shape):
    status: Literal["ok"]
    data: list[FunnelReportRow]


class StageDefinition(_Shape):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    eventTypes: list[str]


class FunnelStages(_Shape):
    stages: list[StageDefinition] = Field(min_length=1)


class PersonalizationWhen(_Shape):
    campaignIn: list[str] | None = None
    deviceIn: list[str] | None = None
    countryIn: list[str] | None = None
    sourceIn: list[str] | None = None


class PersonalizationVariant(_Shape):
    id: str
    destinationUrl: str


class PersonalizationRule(_Shape):
    ruleId: str
    enabled: bool
    priority: int
    when: PersonalizationWhen
    variant: PersonalizationVariant
    createdAt: datetime
    updatedAt: datetime


class PersonalizationRuleEnvelope(_Shape):
    rule: PersonalizationRule


class PersonalizationRuleList(_Shape):
    rules: list[PersonalizationRule]


class SitePage(_Shape):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    campaignId: str
    version: int = Field(ge=1)
    latestVersion: int = Field(ge=1)
    objectKey: str = Field(description="site-structure/{handle}/campaigns/{id}/v{n}.json")
    page: dict[str, Any]
    schema_: dict[str, Any] = Field(alias="schema")
    status: Literal["DRAFT", "PUBLISHED"]
    access: str | None = Field(description="FREE_WITH_LOGIN once published.")
    publishedVersion: int | None
    publishedAt: datetime | None
    createdAt: datetime


class LivenessProbe(_Shape):
    status: Literal["ok"]


class IngestState(_Shape):
    degraded: bool = Field(description="Clicks go to the journal while the database lags.")
    journalDepth: int = Field(ge=0)
    queueDepth: int = Field(ge=0)
    deadLetters: int | None = Field(
        default=None,
        ge=0,
        description="Acknowledged clicks the database refused for their data, set aside in "
        "the dead_letters table (not a degradation: the rest of their batches committed).",
    )


class ReadinessProbe(_Shape):
    status: Literal["ok", "degraded", "unavailable"]
    database: str
    ingest: IngestState | None = None
