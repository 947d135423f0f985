"""Accounts and handles: creation (CLI) and lookup of a handle's account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pycountry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.tables import Account, Handle
from resolvers.context import Context
from resolvers.domain import (
    ACCOUNT_ID_RE,
    DEFAULT_FUNNEL_STAGES,
    HANDLE_RE,
    RESERVED_HANDLES,
    utcnow,
)
from resolvers.errors import Conflict, InvalidInput, NotFound
from resolvers.storable import check_text, unstorable_reason


@dataclass(frozen=True)
class AccountInfo:
    id: str
    name: str
    timezone: str
    currency: str
    funnel_stages: list[dict[str, Any]]


def validate_handle(name: str) -> str:
    if not HANDLE_RE.fullmatch(name):
        raise InvalidInput(f"Invalid handle '{name}': use 2-63 of a-z, 0-9, '_' or '-'.")
    if name in RESERVED_HANDLES:
        raise InvalidInput(f"Handle '{name}' is reserved by the gateway.")
    return name


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"Unknown IANA timezone '{name}'.") from exc
    return name


def validate_currency(code: str) -> str:
    code = code.upper()
    if pycountry.currencies.get(alpha_3=code) is None:
        raise InvalidInput(f"Unknown ISO 4217 currency '{code}'.")
    return code


async def create_account(
    ctx: Context,
    account_id: str,
    name: str,
    handles: list[str],
    timezone: str = "UTC",
    currency: str = "USD",
) -> AccountInfo:
    if not ACCOUNT_ID_RE.fullmatch(account_id):
        raise InvalidInput("Account id must be 24 lowercase hex characters.")
    check_text(name, "name")
    if not handles:
        raise InvalidInput("An account needs at least one handle.")
    for handle in handles:
        validate_handle(handle)
    validate_timezone(timezone)
    currency = validate_currency(currency)
    now = utcnow()
    async with ctx.sessions() as session, session.begin():
        if await session.get(Account, account_id) is not None:
            raise Conflict(f"Account '{account_id}' already exists.", code="account_conflict")
        taken = (
            (await session.execute(select(col(Handle.name)).where(col(Handle.name).in_(handles))))
            .scalars()
            .all()
        )
        if taken:
            raise Conflict(f"Handle '{taken[0]}' is taken.", code="handle_conflict")
        session.add(
            Account(id=account_id, name=name, timezone=timezone, currency=currency, created_at=now)
        )
        await session.flush()
        for handle in dict.fromkeys(handles):
            session.add(Handle(name=handle, account_id=account_id, created_at=now))
    return AccountInfo(account_id, name, timezone, currency, DEFAULT_FUNNEL_STAGES)


def _info(account: Account) -> AccountInfo:
    return AccountInfo(
        account.id,
        account.name,
        account.timezone,
        account.currency,
        account.funnel_stages or DEFAULT_FUNNEL_STAGES,
    )


async def account_for_handle(session: AsyncSession, handle: str) -> AccountInfo:
    """The account owning ``handle``; NotFound if the handle does not exist."""
    if unstorable_reason(handle) is not None:  # cannot exist, nor be compared
        raise NotFound(f"Handle '{handle}' not found.", code="handle_not_found")
    row = (
        await session.execute(
            select(Account)
            .join(Handle, col(Handle.account_id) == col(Account.id))
            .where(col(Handle.name) == handle)
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"Handle '{handle}' not found.", code="handle_not_found")
    return _info(row)


async def get_account(session: AsyncSession, account_id: str) -> AccountInfo:
    row = await session.get(Account, account_id)
    if row is None:
        raise NotFound(f"Account '{account_id}' not found.", code="account_not_found")
    return _info(row)


async def handles_of_account(session: AsyncSession, account_id: str) -> list[str]:
    return list(
        (
            await session.execute(
                select(col(Handle.name)).where(col(Handle.account_id) == account_id)
            )
        )
        .scalars()
        .all()
    )
