"""Conversion ingest: validation, click attribution, idempotency, rollups and outbox events.

Each event of a batch is all-or-nothing on its own; the whole batch is one transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.engine import insert_for
from db.rollups.writes import apply_rollups, local_day
from db.tables import Campaign, Click, Conversion, table_of
from resolvers import outbox
from resolvers.accounts import AccountInfo, account_for_handle
from resolvers.campaigns import load_campaign
from resolvers.context import Context
from resolvers.domain import (
    EVENT_FUTURE_TOLERANCE,
    CampaignStatus,
    as_utc,
    iso,
    utcnow,
)
from resolvers.errors import DomainError, InvalidInput, PayloadTooLarge
from resolvers.inputs import EventType, TestConversionInput, _Input, describe_validation_error
from resolvers.principal import TEST_CONVERSION, WRITE_CONVERSIONS, authorize
from resolvers.storable import check_timestamp, json_problem

MAX_BATCH = 1000
_CONVERSIONS = table_of(Conversion)
MAX_METADATA_BYTES = 8192


class ConversionInput(_Input):
    event_type: EventType = Field(min_length=1, max_length=64)
    event_id: str | None = Field(default=None, min_length=1, max_length=128)
    click_id: str | None = Field(default=None, min_length=1, max_length=32)
    campaign_id: str | None = Field(default=None, min_length=1, max_length=64)
    value: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    metadata: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not (value.isascii() and value.isalpha()):
            raise ValueError("must be a 3-letter ISO 4217 code")
        return value.upper() if value else value

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Depth and text first: json.dumps recurses, and PostgreSQL JSON cannot hold NUL.
        problem = json_problem(value)
        if problem is not None:
            raise ValueError(problem)
        if len(json.dumps(value, default=str)) > MAX_METADATA_BYTES:
            raise ValueError(f"must serialise to at most {MAX_METADATA_BYTES} bytes")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return check_timestamp(value, "occurredAt")
        except InvalidInput as exc:  # a per-event error: ValueError, named by its location
            raise ValueError(exc.message.removeprefix("occurredAt: ")) from exc


@dataclass
class ConversionResult:
    index: int
    status: str  # created, duplicate, ignored, rejected
    event_id: str | None = None
    conversion_id: str | None = None
    campaign_id: str | None = None
    attributed: bool = False
    code: str | None = None
    message: str | None = None
    webhook_event_id: str | None = None


def parse_events(raw: Any) -> list[ConversionInput | DomainError]:
    """Validate a list of raw events one by one; a bad one does not spoil the others."""
    if not isinstance(raw, list):
        raise InvalidInput("'events' must be a list of conversion events.")
    if not raw:
        raise InvalidInput("'events' must not be empty.")
    if len(raw) > MAX_BATCH:
        raise PayloadTooLarge(f"A batch holds at most {MAX_BATCH} events; got {len(raw)}.")
    parsed: list[ConversionInput | DomainError] = []
    for item in raw:
        if not isinstance(item, dict):
            parsed.append(InvalidInput("Each event must be a JSON object."))
            continue
        try:
            parsed.append(ConversionInput.model_validate(item))
        except ValidationError as exc:
            parsed.append(InvalidInput(describe_validation_error(exc)))
    return parsed


def _micros(value: float | None) -> int | None:
    return None if value is None else round(value * 1_000_000)


async def ingest_events(
    session: AsyncSession,
    account: AccountInfo,
    handle: str,
    events: Sequence[ConversionInput | DomainError],
    *,
    is_test: bool = False,
    recorded_sink: list[Conversion] | None = None,
) -> list[ConversionResult]:
    """Validate, attribute and insert ``events`` in ``session`` (not committed).

    Rollups are applied here unless ``recorded_sink`` is given: then the recorded rows are
    appended to it so that a group commit can roll up a whole batch in one upsert.
    """
    now = utcnow()
    tz = ZoneInfo(account.timezone)
    results: list[ConversionResult | None] = [None] * len(events)
    good = [(i, e) for i, e in enumerate(events) if isinstance(e, ConversionInput)]
    for i, e in enumerate(events):
        if isinstance(e, DomainError):
            results[i] = ConversionResult(i, "rejected", code=e.code, message=e.message)

    click_ids = {e.click_id for _, e in good if e.click_id}
    clicks: dict[str, Click] = {}
    if click_ids:
        click_rows = await session.execute(
            select(Click).where(col(Click.handle) == handle, col(Click.id).in_(click_ids))
        )
        clicks = {c.id: c for c in click_rows.scalars()}
    campaign_ids = {e.campaign_id for _, e in good if e.campaign_id}
    campaign_ids |= {c.campaign_id for c in clicks.values() if c.campaign_id}
    campaigns: dict[str, Campaign] = {}
    if campaign_ids:
        campaign_rows = await session.execute(
            select(Campaign).where(
                col(Campaign.handle) == handle, col(Campaign.campaign_id).in_(campaign_ids)
            )
        )
        campaigns = {c.campaign_id: c for c in campaign_rows.scalars()}

    to_insert: list[tuple[int, Conversion]] = []
    seen_in_batch: set[str] = set()
    for i, e in good:
        event_id = e.event_id or "auto_" + uuid.uuid4().hex
        click = clicks.get(e.click_id) if e.click_id else None

        def reject(code: str, message: str, _i: int = i, _id: str = event_id) -> None:
            results[_i] = ConversionResult(_i, "rejected", _id, code=code, message=message)

        if e.click_id and click is None and not e.campaign_id:
            reject("click_not_found", f"Click '{e.click_id}' not found in handle '{handle}'.")
            continue
        campaign_id = e.campaign_id or (click.campaign_id if click else None)
        if click is not None and e.campaign_id and click.campaign_id != e.campaign_id:
            reject(
                "campaign_mismatch",
                f"Click '{e.click_id}' belongs to campaign '{click.campaign_id}', "
                f"not '{e.campaign_id}'.",
            )
            continue
        if not campaign_id:
            reject("invalid_request", "An event needs a campaignId or a clickId of a campaign.")
            continue
        campaign = campaigns.get(campaign_id)
        if campaign is None:
            reject("campaign_not_found", f"Campaign '{campaign_id}' not found.")
            continue
        occurred = as_utc(e.occurred_at) if e.occurred_at else now
        if occurred > now + EVENT_FUTURE_TOLERANCE:
            reject("invalid_request", "occurredAt lies in the future.")
            continue
        if event_id in seen_in_batch:
            results[i] = ConversionResult(i, "duplicate", event_id, campaign_id=campaign_id)
            continue
        seen_in_batch.add(event_id)
        if not is_test and campaign.status != CampaignStatus.ACTIVE.value:
            results[i] = ConversionResult(
                i,
                "ignored",
                event_id,
                campaign_id=campaign_id,
                code="campaign_not_active",
                message=f"Campaign '{campaign_id}' is {campaign.status}: no tracking.",
            )
            continue
        metadata = dict(e.metadata) | ({"test": True} if is_test else {})
        conversion = Conversion(
            account_id=account.id,
            id=uuid.uuid4().hex,
            handle=handle,
            event_id=event_id,
            event_type=e.event_type,
            campaign_id=campaign_id,
            click_id=click.id if click else None,
            attributed=click is not None,
            slug=click.slug if click else None,
            source=click.source if click else "direct",
            medium=click.medium if click else "",
            country=click.country if click else "unknown",
            device=click.device if click else "unknown",
            segment=click.segment if click else "default",
            value_micros=_micros(e.value),
            currency=e.currency or account.currency,
            event_metadata=metadata,
            is_test=is_test,
            occurred_at=occurred,
            day=local_day(occurred, tz),
            created_at=now,
        )
        to_insert.append((i, conversion))

    inserted: set[str] = set()
    if to_insert:
        insert = insert_for(session)
        stmt = (
            insert(_CONVERSIONS)
            .on_conflict_do_nothing(index_elements=["account_id", "handle", "event_id"])
            .returning(_CONVERSIONS.c.event_id)
        )
        # One multi-row INSERT .. ON CONFLICT DO NOTHING RETURNING: the rows it returns are
        # exactly the events this call recorded, even against a concurrent duplicate.
        result = await session.execute(stmt, [_row_dict(conv) for _, conv in to_insert])
        inserted = set(result.scalars().all())
    recorded = [c for _, c in to_insert if c.event_id in inserted]
    if recorded_sink is None:
        await apply_rollups(session, [], recorded)
    else:
        recorded_sink.extend(recorded)
    for i, conv in to_insert:
        if conv.event_id not in inserted:
            results[i] = ConversionResult(
                i, "duplicate", conv.event_id, campaign_id=conv.campaign_id
            )
            continue
        event = outbox.emit(
            session,
            account.id,
            handle,
            outbox.CONVERSION_TESTED if is_test else outbox.CONVERSION_CREATED,
            conversion_view(conv),
        )
        results[i] = ConversionResult(
            i,
            "created",
            conv.event_id,
            conv.id,
            conv.campaign_id,
            conv.attributed,
            webhook_event_id=event.id,
        )
    return [r for r in results if r is not None]


def _row_dict(conv: Conversion) -> dict[str, Any]:
    values = {
        c.name: getattr(conv, c.key if c.key != "metadata" else "event_metadata")
        for c in _CONVERSIONS.columns
    }
    values["metadata"] = conv.event_metadata
    return values


def conversion_view(conv: Conversion) -> dict[str, Any]:
    return {
        "conversionId": conv.id,
        "eventId": conv.event_id,
        "eventType": conv.event_type,
        "campaignId": conv.campaign_id,
        "clickId": conv.click_id,
        "value": None if conv.value_micros is None else conv.value_micros / 1_000_000,
        "currency": conv.currency,
        "metadata": conv.event_metadata,
        "test": conv.is_test,
        "occurredAt": iso(conv.occurred_at),
        "createdAt": iso(conv.created_at),
    }


async def record_conversions(
    ctx: Context, handle: str, events: list[ConversionInput | DomainError]
) -> list[ConversionResult]:
    """Record a batch; with the gateway's ingest writer it shares a group commit."""
    authorize(ctx.principal, handle, WRITE_CONVERSIONS)
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
    return await _record(ctx, account, handle, events, is_test=False)


async def _record(
    ctx: Context,
    account: AccountInfo,
    handle: str,
    events: Sequence[ConversionInput | DomainError],
    *,
    is_test: bool,
) -> list[ConversionResult]:
    """Through the gateway's group-commit writer when it runs, else in a transaction here."""
    if ctx.conversion_writer is not None:
        return await ctx.conversion_writer.record_conversions(
            account, handle, events, is_test=is_test
        )
    async with ctx.sessions() as session:
        results = await ingest_events(session, account, handle, list(events), is_test=is_test)
        await session.commit()
    return results


async def test_conversion(
    ctx: Context, handle: str, campaign_id: str, data: TestConversionInput
) -> tuple[ConversionResult, Conversion]:
    """Record a conversion marked ``metadata.test = true`` and emit ``conversion.tested``;
    like any other conversion it goes through the group-commit writer."""
    authorize(ctx.principal, handle, TEST_CONVERSION)
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        campaign = await load_campaign(session, handle, campaign_id)
        try:
            # By the wire (alias) names, the only ones ConversionInput accepts.
            event = ConversionInput.model_validate(
                {
                    "eventType": data.event_type or campaign.conversion_event_type,
                    "eventId": data.event_id or "test_" + uuid.uuid4().hex,
                    "campaignId": campaign_id,
                    "value": data.value,
                    "currency": data.currency,
                    "metadata": data.metadata,
                }
            )
        except ValidationError as exc:  # e.g. a bad eventType, currency or oversized metadata
            raise InvalidInput(describe_validation_error(exc)) from exc
    (result,) = await _record(ctx, account, handle, [event], is_test=True)
    if result.status == "rejected":
        raise InvalidInput(
            result.message or "Invalid test conversion.", code=result.code or "invalid_request"
        )
    async with ctx.sessions() as session:
        stored = (
            await session.execute(
                select(Conversion).where(
                    col(Conversion.handle) == handle, col(Conversion.event_id) == result.event_id
                )
            )
        ).scalar_one()
    return result, stored
