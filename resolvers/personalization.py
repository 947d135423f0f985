"""Personalization rules: CRUD, and the pure matcher the redirect runs on every click."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, cast

import pycountry
from pydantic import Field, StringConstraints, field_validator
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.engine import insert_for
from db.tables import Campaign
from db.tables import PersonalizationRule as Rule
from resolvers.accounts import account_for_handle
from resolvers.campaigns import campaign_not_found
from resolvers.context import Context
from resolvers.domain import utcnow
from resolvers.errors import Conflict, InvalidInput, NotFound
from resolvers.inputs import Trimmed, _Input
from resolvers.links import validate_destination
from resolvers.principal import READ_CAMPAIGNS, WRITE_CAMPAIGNS, authorize
from resolvers.storable import unstorable_reason

RULE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{2,63}$")
MAX_PRIORITY = 1_000_000
MAX_CONDITION_VALUES = 100
# Clicks no rule served carry this segment; a variant of that name would be indistinguishable.
DEFAULT_SEGMENT = "default"


class Device(StrEnum):
    MOBILE = "MOBILE"
    DESKTOP = "DESKTOP"
    TABLET = "TABLET"


CampaignRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CountryCode = Annotated[str, StringConstraints(min_length=2, max_length=2)]
# Trimmed, as the redirect trims the visit's utm_source before it compares.
SourceName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


def _condition_values() -> Any:
    return Field(default=None, min_length=1, max_length=MAX_CONDITION_VALUES)


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


class RuleWhen(_Input):
    """Conditions of a rule; every given one must hold, none given matches every click."""

    campaign_in: list[CampaignRef] | None = _condition_values()
    device_in: list[Device] | None = _condition_values()
    country_in: list[CountryCode] | None = _condition_values()
    source_in: list[SourceName] | None = _condition_values()

    @field_validator("device_in", mode="before")
    @classmethod
    def _device_upper(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [v.upper() if isinstance(v, str) else v for v in value]
        return value

    @field_validator("country_in")
    @classmethod
    def _known_countries(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        codes = [v.upper() for v in value]
        unknown = [c for c in codes if pycountry.countries.get(alpha_2=c) is None]
        if unknown:
            raise ValueError(f"unknown ISO 3166-1 alpha-2 country code '{unknown[0]}'")
        return _unique(codes)

    @field_validator("source_in")
    @classmethod
    def _source_lower(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _unique(v.lower() for v in value)

    @field_validator("campaign_in", "device_in")
    @classmethod
    def _dedupe(cls, value: list[Any] | None) -> list[Any] | None:
        return None if value is None else _unique(value)


class RuleVariant(_Input):
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")
    destination_url: Trimmed = Field(min_length=1, max_length=2048)


class RuleInput(_Input):
    """A rule body: POST (ruleId optional) and PUT (ruleId optional, must match the path)."""

    rule_id: str | None = None
    enabled: bool = Field(default=True, strict=True)
    priority: int = Field(default=0, ge=-MAX_PRIORITY, le=MAX_PRIORITY, strict=True)
    when: RuleWhen | None = None
    variant: RuleVariant


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """What the redirect needs of a rule; ``None`` conditions are not part of the rule."""

    rule_id: str
    priority: int
    enabled: bool
    campaign_in: frozenset[str] | None
    device_in: frozenset[str] | None
    country_in: frozenset[str] | None
    source_in: frozenset[str] | None
    variant_id: str
    destination_url: str

    def matches(self, campaign_id: str | None, device: str, country: str, source: str) -> bool:
        """Expects device and country upper-case, source lower-case."""
        return (
            (self.campaign_in is None or campaign_id in self.campaign_in)
            and (self.device_in is None or device in self.device_in)
            and (self.country_in is None or country in self.country_in)
            and (self.source_in is None or source in self.source_in)
        )


def _rank(rule_id: str, priority: int) -> tuple[int, str]:
    """Evaluation order: priority descending, then rule id ascending."""
    return (-priority, rule_id)


def choose_variant(
    rules: Sequence[RuleSpec], *, campaign_id: str | None, device: str, country: str, source: str
) -> RuleSpec | None:
    """The first enabled rule, by priority desc then rule id, whose conditions all hold.

    ``rules`` may come in any order; sorted input (``load_rule_specs``) is cheapest.
    """
    device, country, source = device.upper(), country.upper(), source.strip().lower()
    best: RuleSpec | None = None
    best_rank: tuple[int, str] | None = None
    for rule in rules:
        if not rule.enabled:
            continue
        rank = _rank(rule.rule_id, rule.priority)
        if best_rank is not None and rank >= best_rank:
            continue
        if rule.matches(campaign_id, device, country, source):
            best, best_rank = rule, rank
    return best


def _condition(when: dict[str, Any], key: str, normalise: Any) -> frozenset[str] | None:
    values = when.get(key)
    return None if values is None else frozenset(normalise(v) for v in values)


def rule_spec(row: Rule) -> RuleSpec:
    when = row.when or {}
    return RuleSpec(
        rule_id=row.rule_id,
        priority=row.priority,
        enabled=row.enabled,
        campaign_in=_condition(when, "campaignIn", str),
        device_in=_condition(when, "deviceIn", str.upper),
        country_in=_condition(when, "countryIn", str.upper),
        source_in=_condition(when, "sourceIn", str.lower),
        variant_id=row.variant_id,
        destination_url=row.variant_destination_url,
    )


def _sorted(rows: Iterable[Rule]) -> list[Rule]:
    # Sorted here, not in SQL: collations differ between SQLite and PostgreSQL.
    return sorted(rows, key=lambda r: _rank(r.rule_id, r.priority))


async def load_rule_specs(session: AsyncSession, handle: str) -> list[RuleSpec]:
    """Enabled rules of ``handle`` in evaluation order, for the redirect's cache."""
    rows = (
        (
            await session.execute(
                select(Rule).where(col(Rule.handle) == handle, col(Rule.enabled).is_(True))
            )
        )
        .scalars()
        .all()
    )
    return [rule_spec(r) for r in _sorted(rows)]


def validate_rule_id(rule_id: str) -> str:
    if not RULE_ID_RE.fullmatch(rule_id):
        raise InvalidInput(
            f"Rule ID '{rule_id[:80]}' does not match ^[a-z0-9][a-z0-9_-]{{2,63}}$.",
            code="invalid_rule_id",
        )
    return rule_id


def rule_not_found(rule_id: str) -> NotFound:
    return NotFound(f"Rule '{rule_id}' not found.", code="rule_not_found")


def _check(data: RuleInput) -> None:
    validate_destination(data.variant.destination_url)
    if data.variant.id == DEFAULT_SEGMENT:
        raise InvalidInput(
            f"variant.id '{DEFAULT_SEGMENT}' is reserved for clicks no rule served.",
            code="invalid_variant_id",
        )


async def _check_campaigns(session: AsyncSession, handle: str, data: RuleInput) -> None:
    wanted = data.when.campaign_in if data.when else None
    if not wanted:
        return
    found = set(
        (
            await session.execute(
                select(col(Campaign.campaign_id)).where(
                    col(Campaign.handle) == handle, col(Campaign.campaign_id).in_(wanted)
                )
            )
        )
        .scalars()
        .all()
    )
    missing = [c for c in wanted if c not in found]
    if missing:
        raise campaign_not_found(missing[0])


def _fields(data: RuleInput) -> dict[str, Any]:
    """Column values of a rule body; ``when`` keeps only the conditions given."""
    when = data.when.model_dump(mode="json", by_alias=True, exclude_none=True) if data.when else {}
    return {
        "enabled": data.enabled,
        "priority": data.priority,
        "when": when,
        "variant_id": data.variant.id,
        "variant_destination_url": data.variant.destination_url,
    }


async def _load(session: AsyncSession, handle: str, rule_id: str) -> Rule:
    if unstorable_reason(rule_id) is not None:  # cannot exist, nor be compared
        raise rule_not_found(rule_id)
    row = (
        await session.execute(
            select(Rule).where(col(Rule.handle) == handle, col(Rule.rule_id) == rule_id)
        )
    ).scalar_one_or_none()
    if row is None:
        raise rule_not_found(rule_id)
    return row


async def create_rule(ctx: Context, handle: str, data: RuleInput) -> Rule:
    """Create a rule; ``rule_<hex>`` when no ruleId is given; 409 if the id exists."""
    authorize(ctx.principal, handle, WRITE_CAMPAIGNS)
    rule_id = validate_rule_id(data.rule_id) if data.rule_id else "rule_" + secrets.token_hex(8)
    _check(data)
    now = utcnow()
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        await _check_campaigns(session, handle, data)
        row = Rule(
            account_id=account.id,
            handle=handle,
            rule_id=rule_id,
            created_at=now,
            updated_at=now,
            **_fields(data),
        )
        session.add(row)
        try:
            await session.commit()
        except IntegrityError as exc:
            raise Conflict(f"Rule ID '{rule_id}' already exists.", code="rule_conflict") from exc
    return row


async def replace_rule(
    ctx: Context, handle: str, rule_id: str, data: RuleInput
) -> tuple[Rule, bool]:
    """PUT: create or fully replace the rule at ``rule_id``; returns (rule, created)."""
    authorize(ctx.principal, handle, WRITE_CAMPAIGNS)
    validate_rule_id(rule_id)
    if data.rule_id is not None and data.rule_id != rule_id:
        raise InvalidInput(f"ruleId '{data.rule_id[:80]}' does not match the path ('{rule_id}').")
    _check(data)
    fields = _fields(data)
    now = utcnow()
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        await _check_campaigns(session, handle, data)
        # Insert-or-nothing, then update: race-free on both databases, and tells us which.
        key = {"account_id": account.id, "handle": handle, "rule_id": rule_id}
        inserted = await session.execute(
            insert_for(session)(Rule)
            .values(**key, created_at=now, updated_at=now, **fields)
            .on_conflict_do_nothing()
            .returning(col(Rule.rule_id))
        )
        created = inserted.scalar_one_or_none() is not None
        if not created:
            row = await _load(session, handle, rule_id)
            for name, value in fields.items():
                setattr(row, name, value)
            row.updated_at = now
        await session.commit()
        row = await _load(session, handle, rule_id)
    return row, created


async def get_rule(ctx: Context, handle: str, rule_id: str) -> Rule:
    authorize(ctx.principal, handle, READ_CAMPAIGNS)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        return await _load(session, handle, rule_id)


async def list_rules(ctx: Context, handle: str) -> list[Rule]:
    """Every rule of ``handle`` (disabled ones too) in evaluation order."""
    authorize(ctx.principal, handle, READ_CAMPAIGNS)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        rows = (
            (await session.execute(select(Rule).where(col(Rule.handle) == handle))).scalars().all()
        )
    return _sorted(rows)


async def delete_rule(ctx: Context, handle: str, rule_id: str) -> None:
    authorize(ctx.principal, handle, WRITE_CAMPAIGNS)
    if unstorable_reason(rule_id) is not None:
        raise rule_not_found(rule_id)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        result = await session.execute(
            delete(Rule).where(col(Rule.handle) == handle, col(Rule.rule_id) == rule_id)
        )
        # SQLAlchemy 2.0 types every result as Result; a DML statement's has rowcount.
        if cast(CursorResult[Any], result).rowcount == 0:
            raise rule_not_found(rule_id)
        await session.commit()
