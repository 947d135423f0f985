"""Durable outbox: events written in the caller's transaction, delivered later."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from db.tables import OutboxEvent
from resolvers.domain import iso, utcnow

CONVERSION_TESTED = "conversion.tested"
CONVERSION_CREATED = "conversion.created"
CAMPAIGN_STATUS_CHANGED = "campaign.status_changed"
EVENT_TYPES = (CONVERSION_TESTED, CONVERSION_CREATED, CAMPAIGN_STATUS_CHANGED)


def emit(
    session: AsyncSession, account_id: str, handle: str, type_: str, data: dict[str, Any]
) -> OutboxEvent:
    """Stage an event in ``session``; it commits (or not) with the change it describes."""
    now = utcnow()
    event_id = "evt_" + uuid.uuid4().hex
    row = OutboxEvent(
        id=event_id,
        account_id=account_id,
        handle=handle,
        type=type_,
        payload={
            "id": event_id,
            "type": type_,
            "createdAt": iso(now),
            "handle": handle,
            "data": data,
        },
        status="PENDING",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row
