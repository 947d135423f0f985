"""Webhook delivery from the durable outbox: at least once, one stable event id per event.

A pass fans PENDING outbox events out to one ``WebhookDelivery`` per matching subscription
(unique on subscription and event, so a repeat fan-out adds nothing), then claims due
deliveries and POSTs them. A claim is a lease: ``next_attempt_at`` moves past the request
timeout, so a process that dies mid-delivery leaves a delivery that falls due again.
PostgreSQL claims with ``FOR UPDATE SKIP LOCKED`` so several gateway processes never hold
the same delivery; SQLite, a single writer, claims inside one write statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import httpx
import orjson
from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col
from tenacity import wait_random_exponential

from db.dialect import skip_locked
from db.engine import insert_for
from db.tables import OutboxEvent, WebhookAttempt, WebhookDelivery, WebhookSubscription
from resolvers.domain import utcnow
from resolvers.webhook_urls import private_address
from resolvers.webhooks import DEAD, DELIVERED, DUE_STATUSES, PENDING, RETRYING

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger("funnelgate.webhooks")

FANOUT_BATCH = 200
CLAIM_BATCH = 16
LEASE_MARGIN_S = 30.0
MAX_BACKOFF_S = 3600.0
USER_AGENT = "funnelgate-webhooks/1"
DISPATCHED = "DISPATCHED"


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    account_id: str
    handle: str
    subscription_id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int
    lease: datetime
    url: str
    secret: str


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class PassResult:
    fanned_out: int = 0
    attempted: int = 0
    delivered: int = 0

    @property
    def busy(self) -> bool:
        return bool(self.fanned_out or self.attempted)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``Funnelgate-Signature`` value: ``t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass(frozen=True)
class _RetryState:
    """The one field tenacity's wait strategies read."""

    attempt_number: int


def backoff_delay(attempt: int, base_s: float, max_s: float = MAX_BACKOFF_S) -> float:
    """Seconds before retrying after failed attempt ``attempt`` (1-based): exponential with
    full jitter, uniform in [0, min(max_s, base_s * 2 ** (attempt - 1))]."""
    wait = wait_random_exponential(multiplier=base_s, max=max_s)
    # _RetryState stands in for the RetryCallState the strategy is typed to take.
    return float(wait(_RetryState(attempt)))  # type: ignore[arg-type]


async def fan_out(sessions: async_sessionmaker[AsyncSession], *, now: datetime) -> int:
    """Turn PENDING outbox events into deliveries for matching enabled subscriptions.

    Marks the events DISPATCHED in the same transaction; returns how many it took.
    """
    pending = (
        select(col(OutboxEvent.id))
        .where(col(OutboxEvent.status) == PENDING)
        .order_by(col(OutboxEvent.created_at), col(OutboxEvent.id))
        .limit(FANOUT_BATCH)
    )
    async with sessions() as session:
        taken = (
            await session.execute(
                update(OutboxEvent)
                .where(col(OutboxEvent.id).in_(skip_locked(pending).scalar_subquery()))
                .values(status=DISPATCHED)
                .returning(
                    col(OutboxEvent.id),
                    col(OutboxEvent.account_id),
                    col(OutboxEvent.handle),
                    col(OutboxEvent.type),
                    col(OutboxEvent.payload),
                )
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not taken:
            await session.rollback()
            return 0
        subscriptions = (
            (
                await session.execute(
                    select(WebhookSubscription).where(
                        col(WebhookSubscription.handle).in_({e.handle for e in taken}),
                        col(WebhookSubscription.enabled).is_(True),
                    )
                )
            )
            .scalars()
            .all()
        )
        rows = [
            {
                "id": "dlv_" + uuid.uuid4().hex,
                "account_id": event.account_id,
                "handle": event.handle,
                "subscription_id": sub.id,
                "event_id": event.id,
                "event_type": event.type,
                "payload": event.payload,
                "status": PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for event in taken
            for sub in subscriptions
            if sub.handle == event.handle
            and sub.account_id == event.account_id
            and event.type in sub.events
        ]
        if rows:
            await session.execute(
                insert_for(session)(WebhookDelivery).on_conflict_do_nothing(
                    index_elements=["subscription_id", "event_id"]
                ),
                rows,
            )
        await session.commit()
    return len(taken)


async def claim_due(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    now: datetime,
    limit: int = CLAIM_BATCH,
) -> list[Claim]:
    """Lease up to ``limit`` due deliveries of enabled subscriptions to this worker."""
    lease = now + timedelta(seconds=settings.webhook_timeout_s + LEASE_MARGIN_S)
    due = (
        select(col(WebhookDelivery.id))
        .join(
            WebhookSubscription, col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id)
        )
        .where(
            col(WebhookDelivery.status).in_(DUE_STATUSES),
            col(WebhookDelivery.next_attempt_at) <= now,
            col(WebhookSubscription.enabled).is_(True),
        )
        .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
        .limit(limit)
    )
    async with sessions() as session:
        claimed = (
            await session.execute(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.id).in_(skip_locked(due, WebhookDelivery).scalar_subquery())
                )
                .values(next_attempt_at=lease)
                .returning(
                    col(WebhookDelivery.id),
                    col(WebhookDelivery.account_id),
                    col(WebhookDelivery.handle),
                    col(WebhookDelivery.subscription_id),
                    col(WebhookDelivery.event_type),
                    col(WebhookDelivery.payload),
                    col(WebhookDelivery.attempts),
                )
                .execution_options(synchronize_session=False)
            )
        ).all()
        if not claimed:
            await session.rollback()
            return []
        targets = {
            row.id: (row.url, row.secret)
            for row in (
                await session.execute(
                    select(
                        col(WebhookSubscription.id),
                        col(WebhookSubscription.url),
                        col(WebhookSubscription.secret),
                    ).where(col(WebhookSubscription.id).in_({c.subscription_id for c in claimed}))
                )
            ).all()
        }
        await session.commit()
    return [
        Claim(
            delivery_id=c.id,
            account_id=c.account_id,
            handle=c.handle,
            subscription_id=c.subscription_id,
            event_type=c.event_type,
            payload=c.payload,
            attempts=c.attempts,
            lease=lease,
            url=targets[c.subscription_id][0],
            secret=targets[c.subscription_id][1],
        )
        for c in claimed
        if c.subscription_id in targets
    ]


def _describe(exc: BaseException) -> str:
    text = str(exc) or "no detail"
    return f"{type(exc).__name__}: {text}"[:500]


async def post(client: httpx.AsyncClient, settings: Settings, claim: Claim) -> Outcome:
    """POST the stored payload, signed; never raises for a network or HTTP failure."""
    body = orjson.dumps(claim.payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Funnelgate-Event": claim.event_type,
        "Funnelgate-Delivery": claim.delivery_id,
        "Funnelgate-Signature": sign(claim.secret, body, int(time.time())),
    }
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 3)

    try:
        if not settings.webhook_allow_private:
            # Checked again at delivery: DNS may have changed since the subscription was made.
            blocked = await private_address(claim.url)
            if blocked is not None:
                return Outcome(None, f"Destination address {blocked} is not allowed.", elapsed())
        async with asyncio.timeout(settings.webhook_timeout_s):
            # Streamed and never read: a receiver's response body is not our business.
            async with client.stream(
                "POST", claim.url, content=body, headers=headers, follow_redirects=False
            ) as response:
                code = response.status_code
    except TimeoutError:
        return Outcome(None, f"Timed out after {settings.webhook_timeout_s:g}s.", elapsed())
    except (httpx.HTTPError, httpx.InvalidURL, OSError, UnicodeError) as exc:
        return Outcome(None, _describe(exc), elapsed())
    return Outcome(code, None if 200 <= code < 300 else f"HTTP {code}", elapsed())


async def record(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    claim: Claim,
    outcome: Outcome,
    at: datetime,
) -> str | None:
    """Log the attempt and move the delivery on; returns its new status.

    The update holds only while this worker's lease does: if the lease expired and another
    worker took the delivery over, that worker owns its state and this attempt is only logged.
    """
    attempts = claim.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error,
    }
    if outcome.ok:
        values.update(status=DELIVERED, delivered_at=at, next_attempt_at=None)
    elif attempts >= settings.webhook_max_attempts:
        values.update(status=DEAD, next_attempt_at=None)
    else:
        delay = backoff_delay(attempts, settings.webhook_backoff_base_s)
        values.update(status=RETRYING, next_attempt_at=at + timedelta(seconds=delay))
    async with sessions() as session:
        result = await session.execute(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.handle) == claim.handle,  # names the handle it changes
                col(WebhookDelivery.id) == claim.delivery_id,
                col(WebhookDelivery.next_attempt_at) == claim.lease,
            )
            .values(**values)
        )
        status: str | None = values["status"]
        # SQLAlchemy 2.0 types every result as Result; a DML statement's has rowcount.
        if cast(CursorResult[Any], result).rowcount == 0:
            exists = await session.scalar(
                select(col(WebhookDelivery.id)).where(col(WebhookDelivery.id) == claim.delivery_id)
            )
            if exists is None:  # its subscription was deleted meanwhile
                await session.rollback()
                return None
            log.warning("webhook delivery %s: lease lost, attempt logged only", claim.delivery_id)
            status = None
        session.add(
            WebhookAttempt(
                id="att_" + secrets.token_hex(16),
                delivery_id=claim.delivery_id,
                account_id=claim.account_id,
                handle=claim.handle,
                attempt=attempts,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
                attempted_at=at,
            )
        )
        await session.commit()
    return status


async def run_once(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    client: httpx.AsyncClient,
    *,
    now: datetime | None = None,
    stopping: asyncio.Event | None = None,
) -> PassResult:
    """One fan-out and one delivery pass. ``now`` pins the clock (tests); ``stopping`` set
    before the claim means no new delivery starts."""
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    result = PassResult(fanned_out=await fan_out(sessions, now=clock()))
    if stopping is not None and stopping.is_set():
        return result
    claims = await claim_due(sessions, settings, now=clock())

    async def attempt(claim: Claim) -> str | None:
        at = clock()
        outcome = await post(client, settings, claim)
        return await record(sessions, settings, claim, outcome, at)

    statuses = await asyncio.gather(*(attempt(c) for c in claims), return_exceptions=True)
    for claim, status in zip(claims, statuses, strict=True):
        if isinstance(status, BaseException):
            # The lease runs out and the delivery falls due again.
            log.error("webhook delivery %s failed", claim.delivery_id, exc_info=status)
    result.attempted = len(claims)
    result.delivered = sum(1 for s in statuses if s == DELIVERED)
    return result


class WebhookWorker:
    """Runs ``run_once`` in the background: at once while there is work, else every
    ``webhook_poll_interval_s``. ``stop`` lets the deliveries in flight finish."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stopping = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=self._settings.webhook_timeout_s, follow_redirects=False
        )
        self._task = asyncio.create_task(self._run(), name="funnelgate-webhook-worker")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        try:
            await self._task
        finally:
            self._task = None
            if self._client is not None:
                await self._client.aclose()
                self._client = None

    async def _run(self) -> None:
        assert self._client is not None
        while not self._stopping.is_set():
            busy = False
            try:
                result = await run_once(
                    self._sessions, self._settings, self._client, stopping=self._stopping
                )
                busy = result.busy
            except Exception:
                log.exception("webhook worker pass failed")
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), self._settings.webhook_poll_interval_s
                    )
