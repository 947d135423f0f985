"""SQLModel tables. Every tenant table carries ``account_id`` (and ``handle``) so that the
event and rollup tables can be distributed by account; their primary keys include it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKeyConstraint,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
)
from sqlalchemy.orm import class_mapper
from sqlmodel import Field, SQLModel

from db.types import UtcDateTime

# One naming convention so that migrations name constraints identically on both databases.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def table_of(model: type[SQLModel]) -> Table:
    """The Core ``Table`` of a table model (SQLModel sets ``__table__`` but does not declare
    it, so a type checker cannot see ``Click.__table__``)."""
    table = class_mapper(model, configure=False).local_table
    if not isinstance(table, Table):
        raise TypeError(f"{model.__name__} is not mapped to a single table")
    return table


def _ts(**kw: Any) -> Any:
    return Field(sa_column=Column(UtcDateTime(), **kw))


def _json(**kw: Any) -> Any:
    return Field(sa_column=Column(JSON, **kw))


def _bigint(**kw: Any) -> Any:
    return Field(sa_column=Column(BigInteger, **kw))


class Account(SQLModel, table=True):
    __tablename__ = "accounts"
    id: str = Field(primary_key=True, max_length=24)
    name: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    currency: str = Field(default="USD", max_length=3)
    funnel_stages: list[dict[str, Any]] | None = _json(nullable=True)
    created_at: datetime = _ts(nullable=False)


class Handle(SQLModel, table=True):
    """Reference table: handle names are global (short links live at ``/{handle}/{slug}``)."""

    __tablename__ = "handles"
    name: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=24)
    created_at: datetime = _ts(nullable=False)


class Campaign(SQLModel, table=True):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_handle_created", "handle", "created_at", "campaign_id"),
        Index("ix_campaigns_details_page", "handle", "details_page_slug"),
    )
    account_id: str = Field(primary_key=True, foreign_key="accounts.id", max_length=24)
    handle: str = Field(primary_key=True, foreign_key="handles.name", max_length=64)
    campaign_id: str = Field(primary_key=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    goal_type: str = Field(max_length=32)
    tracking_preset: str = Field(max_length=64)
    conversion_event_type: str = Field(max_length=64)
    status: str = Field(default="DRAFT", max_length=16)
    primary_slug: str | None = Field(default=None, max_length=128)
    details_page_slug: str | None = Field(default=None, max_length=128)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class Link(SQLModel, table=True):
    __tablename__ = "links"
    __table_args__ = (
        ForeignKeyConstraint(
            ["account_id", "handle", "campaign_id"],
            ["campaigns.account_id", "campaigns.handle", "campaigns.campaign_id"],
        ),
        Index("ix_links_handle_campaign", "handle", "campaign_id"),
    )
    account_id: str = Field(primary_key=True, foreign_key="accounts.id", max_length=24)
    handle: str = Field(primary_key=True, foreign_key="handles.name", max_length=64)
    slug: str = Field(primary_key=True, max_length=128)
    destination_url: str = Field(max_length=2048)
    campaign_id: str | None = Field(default=None, max_length=64)
    tracking_mode: str = Field(default="DIRECT", max_length=16)
    append_context_param: bool = False
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class AccessToken(SQLModel, table=True):
    """A personal access token; only its SHA-256 hash is stored."""

    __tablename__ = "access_tokens"
    id: str = Field(primary_key=True, max_length=32)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=24)
    handle: str = Field(foreign_key="handles.name", index=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    prefix: str = Field(max_length=32)
    token_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = _json(nullable=False)
    created_at: datetime = _ts(nullable=False)
    expires_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)
    last_used_at: datetime | None = _ts(nullable=True)


class Click(SQLModel, table=True):
    __tablename__ = "clicks"
    __table_args__ = (
        Index("ix_clicks_handle_campaign_time", "handle", "campaign_id", "occurred_at"),
    )
    account_id: str = Field(primary_key=True, max_length=24)
    id: str = Field(primary_key=True, max_length=32)
    handle: str = Field(max_length=64)
    slug: str = Field(max_length=128)
    campaign_id: str | None = Field(default=None, max_length=64)
    occurred_at: datetime = _ts(nullable=False)
    day: date
    visitor_id: str = Field(max_length=64)
    country: str = Field(max_length=16)
    device: str = Field(max_length=16)
    source: str = Field(max_length=128)
    medium: str = Field(max_length=128)
    is_bot: bool = False
    segment: str = Field(default="default", max_length=128)
    destination_url: str = Field(max_length=2048)


@dataclass(slots=True)
class ClickRecord:
    """A click on its way to the database: the ``clicks`` row as a plain object.

    The redirect hot path builds one per click; an ORM instance costs ten times as much to
    construct and nothing here needs the ORM.
    """

    account_id: str
    id: str
    handle: str
    slug: str
    campaign_id: str | None
    occurred_at: datetime
    day: date
    visitor_id: str
    country: str
    device: str
    source: str
    medium: str
    is_bot: bool
    segment: str
    destination_url: str


class Conversion(SQLModel, table=True):
    __tablename__ = "conversions"
    __table_args__ = (
        Index("uq_conversions_event", "account_id", "handle", "event_id", unique=True),
        Index("ix_conversions_handle_campaign_time", "handle", "campaign_id", "occurred_at"),
    )
    account_id: str = Field(primary_key=True, max_length=24)
    id: str = Field(primary_key=True, max_length=32)
    handle: str = Field(max_length=64)
    event_id: str = Field(max_length=128)
    event_type: str = Field(max_length=64)
    campaign_id: str | None = Field(default=None, max_length=64)
    click_id: str | None = Field(default=None, max_length=32)
    attributed: bool = False
    slug: str | None = Field(default=None, max_length=128)
    source: str = Field(default="direct", max_length=128)
    medium: str = Field(default="", max_length=128)
    country: str = Field(default="unknown", max_length=16)
    device: str = Field(default="unknown", max_length=16)
    segment: str = Field(default="default", max_length=128)
    value_micros: int | None = _bigint(nullable=True)
    currency: str | None = Field(default=None, max_length=3)
    event_metadata: dict[str, Any] = Field(sa_column=Column("metadata", JSON, nullable=False))
    is_test: bool = False
    occurred_at: datetime = _ts(nullable=False)
    day: date
    created_at: datetime = _ts(nullable=False)


class OutboxEvent(SQLModel, table=True):
    """Durable outbox: events written in the same transaction as the change they describe."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_pending", "status", "next_attempt_at"),)
    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(max_length=24, index=True)
    handle: str = Field(max_length=64)
    type: str = Field(max_length=64)
    payload: dict[str, Any] = _json(nullable=False)
    status: str = Field(default="PENDING", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(nullable=False)


class DeadLetter(SQLModel, table=True):
    """An event already acknowledged (a click answered with its redirect) that the database
    refused for its data: kept as JSON text for an operator to inspect, never retried."""

    __tablename__ = "dead_letters"
    account_id: str = Field(primary_key=True, max_length=24)
    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(max_length=16)
    payload: str = Field(sa_column=Column(Text, nullable=False))
    error: str = Field(max_length=500)
    created_at: datetime = _ts(nullable=False)


class RollupCampaignDaily(SQLModel, table=True):
    """Funnel totals per campaign and day: ``kind`` is click, bot or event (with event_type)."""

    __tablename__ = "rollup_campaign_daily"
    account_id: str = Field(primary_key=True, max_length=24)
    handle: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=8)
    event_type: str = Field(primary_key=True, max_length=64)
    currency: str = Field(primary_key=True, max_length=3)
    is_test: bool = Field(primary_key=True)
    count: int = _bigint(nullable=False)
    value_micros: int = _bigint(nullable=False)
    attributed: int = _bigint(nullable=False)
    last_seen_at: datetime | None = _ts(nullable=True)


# The breakdown rollups' key, in the order dashboards read it; the weekly table has the
# block's phase and first day in the day's place.
BREAKDOWN_DAY_KEY = (
    "account_id",
    "handle",
    "kind",
    "dimension",
    "campaign_id",
    "day",
    "value",
    "event_type",
    "currency",
    "is_test",
)
BREAKDOWN_WEEK_KEY = tuple(
    name for key in BREAKDOWN_DAY_KEY for name in (("phase", "week") if key == "day" else (key,))
)


class RollupBreakdownDaily(SQLModel, table=True):
    """One dimension at a time (source, medium, country, device, link, segment) per day.

    Key order serves both readers: a campaign's breakdown (kind, dimension, campaign, days)
    and the dashboard (the same for every campaign); ``count`` rides in the key's index so
    those reads are index-only on PostgreSQL.
    """

    __tablename__ = "rollup_breakdown_daily"
    __table_args__ = (
        PrimaryKeyConstraint(
            *BREAKDOWN_DAY_KEY,
            name="pk_rollup_breakdown_daily",
            postgresql_include=["count"],
        ),
    )
    account_id: str = Field(max_length=24)
    handle: str = Field(max_length=64)
    kind: str = Field(max_length=8)
    dimension: str = Field(max_length=16)
    campaign_id: str = Field(max_length=64)
    day: date
    value: str = Field(max_length=128)
    event_type: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    is_test: bool
    count: int = _bigint(nullable=False)
    value_micros: int = _bigint(nullable=False)


class RollupCampaignWeekly(SQLModel, table=True):
    """``rollup_campaign_daily`` summed per 7-day block; see RollupBreakdownWeekly."""

    __tablename__ = "rollup_campaign_weekly"
    account_id: str = Field(primary_key=True, max_length=24)
    handle: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(primary_key=True, max_length=64)
    phase: int = Field(primary_key=True, sa_type=SmallInteger)
    week: date = Field(primary_key=True)
    kind: str = Field(primary_key=True, max_length=8)
    event_type: str = Field(primary_key=True, max_length=64)
    currency: str = Field(primary_key=True, max_length=3)
    is_test: bool = Field(primary_key=True)
    count: int = _bigint(nullable=False)
    value_micros: int = _bigint(nullable=False)
    attributed: int = _bigint(nullable=False)
    last_seen_at: datetime | None = _ts(nullable=True)


class RollupBreakdownWeekly(SQLModel, table=True):
    """``rollup_breakdown_daily`` summed per 7-day block of local days: ``week`` is the
    block's first day, on weekday ``phase`` (0: Monday, the ISO week; 3: Thursday; see
    db.rollups.writes.WEEK_PHASES). A 30-day funnel reads 4-5 block rows per key plus a day or
    two, not 30 day rows. Written in the same transaction as the day rows."""

    __tablename__ = "rollup_breakdown_weekly"
    __table_args__ = (
        PrimaryKeyConstraint(
            *BREAKDOWN_WEEK_KEY,
            name="pk_rollup_breakdown_weekly",
            postgresql_include=["count"],
        ),
    )
    account_id: str = Field(max_length=24)
    handle: str = Field(max_length=64)
    kind: str = Field(max_length=8)
    dimension: str = Field(max_length=16)
    campaign_id: str = Field(max_length=64)
    phase: int = Field(sa_type=SmallInteger)
    week: date
    value: str = Field(max_length=128)
    event_type: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    is_test: bool
    count: int = _bigint(nullable=False)
    value_micros: int = _bigint(nullable=False)


class RollupCubeDaily(SQLModel, table=True):
    """All dimensions together, for reports that group by one and filter by another."""

    __tablename__ = "rollup_cube_daily"
    account_id: str = Field(primary_key=True, max_length=24)
    handle: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    campaign_id: str = Field(primary_key=True, max_length=64)
    slug: str = Field(primary_key=True, max_length=128)
    source: str = Field(primary_key=True, max_length=128)
    medium: str = Field(primary_key=True, max_length=128)
    country: str = Field(primary_key=True, max_length=16)
    device: str = Field(primary_key=True, max_length=16)
    segment: str = Field(primary_key=True, max_length=128)
    kind: str = Field(primary_key=True, max_length=8)
    event_type: str = Field(primary_key=True, max_length=64)
    currency: str = Field(primary_key=True, max_length=3)
    is_test: bool = Field(primary_key=True)
    count: int = _bigint(nullable=False)
    value_micros: int = _bigint(nullable=False)


class PersonalizationRule(SQLModel, table=True):
    """A rule that may swap a link's destination; its variant id becomes the click's segment."""

    __tablename__ = "personalization_rules"
    account_id: str = Field(primary_key=True, foreign_key="accounts.id", max_length=24)
    handle: str = Field(primary_key=True, foreign_key="handles.name", max_length=64)
    rule_id: str = Field(primary_key=True, max_length=64)
    enabled: bool = True
    priority: int = 0
    when: dict[str, Any] = _json(nullable=False)
    variant_id: str = Field(max_length=128)
    variant_destination_url: str = Field(max_length=2048)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class SitePage(SQLModel, table=True):
    """Head row of a campaign's site-structure page: latest and published versions."""

    __tablename__ = "site_pages"
    # account_id leads so that the unique index can live on a Citus shard.
    __table_args__ = (
        Index(
            "uq_site_pages_account_handle_slug", "account_id", "handle", "page_slug", unique=True
        ),
    )
    account_id: str = Field(primary_key=True, foreign_key="accounts.id", max_length=24)
    handle: str = Field(primary_key=True, foreign_key="handles.name", max_length=64)
    campaign_id: str = Field(primary_key=True, max_length=64)
    page_slug: str = Field(max_length=128)
    latest_version: int
    published_version: int | None = None
    access: str | None = Field(default=None, max_length=32)
    published_at: datetime | None = _ts(nullable=True)
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class SitePageVersion(SQLModel, table=True):
    """One stored version; its schema JSON lives in the object store at ``object_key``."""

    __tablename__ = "site_page_versions"
    account_id: str = Field(primary_key=True, max_length=24)
    handle: str = Field(primary_key=True, max_length=64)
    campaign_id: str = Field(primary_key=True, max_length=64)
    version: int = Field(primary_key=True)
    page: dict[str, Any] = _json(nullable=False)
    object_key: str = Field(max_length=512)
    schema_sha256: str = Field(max_length=64)
    schema_bytes: int
    created_at: datetime = _ts(nullable=False)


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "webhook_subscriptions"
    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(foreign_key="accounts.id", index=True, max_length=24)
    handle: str = Field(foreign_key="handles.name", index=True, max_length=64)
    url: str = Field(max_length=2048)
    events: list[str] = _json(nullable=False)
    # Kept to sign deliveries (HMAC needs the key); never returned after creation.
    secret: str = Field(max_length=128)
    enabled: bool = True
    created_at: datetime = _ts(nullable=False)
    updated_at: datetime = _ts(nullable=False)


class WebhookDelivery(SQLModel, table=True):
    """One event for one subscription; retried until delivered or out of attempts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("uq_webhook_deliveries_sub_event", "subscription_id", "event_id", unique=True),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    id: str = Field(primary_key=True, max_length=40)
    account_id: str = Field(max_length=24, index=True)
    handle: str = Field(max_length=64, index=True)
    subscription_id: str = Field(max_length=40)
    event_id: str = Field(max_length=40)
    event_type: str = Field(max_length=64)
    payload: dict[str, Any] = _json(nullable=False)
    status: str = Field(default="PENDING", max_length=16)
    attempts: int = 0
    next_attempt_at: datetime | None = _ts(nullable=True)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = _ts(nullable=False)
    delivered_at: datetime | None = _ts(nullable=True)


class WebhookAttempt(SQLModel, table=True):
    """The delivery log: every attempt with its outcome."""

    __tablename__ = "webhook_attempts"
    id: str = Field(primary_key=True, max_length=40)
    delivery_id: str = Field(max_length=40, index=True)
    account_id: str = Field(max_length=24)
    handle: str = Field(max_length=64)
    attempt: int
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: float
    attempted_at: datetime = _ts(nullable=False)
