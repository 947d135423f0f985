"""Personal access tokens (shown once, stored as a hash) and JWT minting for the CLI."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, field_validator
from sqlalchemy import select
from sqlmodel import col

from db.tables import AccessToken
from resolvers.accounts import account_for_handle
from resolvers.auth import hash_token, mint_jwt, new_pat_secret
from resolvers.context import Context
from resolvers.domain import PAT_SCOPES, Role, utcnow
from resolvers.errors import InvalidInput, NotFound
from resolvers.inputs import Trimmed, _Input, parse
from resolvers.jwtsecret import jwt_secret
from resolvers.principal import ADMIN, authorize
from resolvers.storable import unstorable_reason

MAX_EXPIRES_IN = 10 * 365 * 86400  # ten years
MAX_NAME = 200
MAX_SCOPES = 16


@dataclass(frozen=True)
class IssuedToken:
    token: str
    row: AccessToken


class TokenCreate(_Input):
    """A new token's fields (the REST body's names): the one check every door's input passes
    (REST, GraphQL, the CLI), so each refuses the same input with the same code."""

    scopes: list[str] = Field(min_length=1, max_length=MAX_SCOPES)
    name: Trimmed | None = Field(default=None, max_length=MAX_NAME)
    expires_in: int | None = Field(default=None, gt=0, le=MAX_EXPIRES_IN)

    @field_validator("scopes")
    @classmethod
    def _known(cls, scopes: list[str]) -> list[str]:
        if any(unstorable_reason(s) is not None for s in scopes):
            return scopes  # named by the storable check, without echoing the character
        unknown = sorted(set(scopes) - PAT_SCOPES)
        if unknown:
            raise ValueError(
                f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(PAT_SCOPES))}"
            )
        return sorted(set(scopes))


async def create_pat(
    ctx: Context, handle: str, fields: Any, *, check_access: bool = True
) -> IssuedToken:
    """Create a PAT bound to ``handle`` from ``fields`` (a ``TokenCreate`` body). Access is
    checked first, so a caller without it learns nothing about the input. The CLI (an
    operator) skips the access check."""
    if check_access:
        authorize(ctx.principal, handle, ADMIN)
    data = parse(TokenCreate, fields)
    token, prefix = new_pat_secret()
    now = utcnow()
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        row = AccessToken(
            id="tok_" + secrets.token_hex(8),
            account_id=account.id,
            handle=handle,
            name=data.name,
            prefix=prefix,
            token_hash=hash_token(token),
            scopes=data.scopes,
            created_at=now,
            expires_at=now + timedelta(seconds=data.expires_in) if data.expires_in else None,
        )
        session.add(row)
        await session.commit()
    return IssuedToken(token, row)


async def issue_pat(
    ctx: Context,
    handle: str,
    scopes: list[str],
    *,
    expires_in: int | None = None,
    name: str | None = None,
    check_access: bool = True,
) -> IssuedToken:
    """``create_pat`` from plain arguments (GraphQL, the CLI, tests)."""
    fields = {"scopes": scopes, "name": name, "expiresIn": expires_in}
    return await create_pat(ctx, handle, fields, check_access=check_access)


async def list_pats(ctx: Context, handle: str) -> list[AccessToken]:
    authorize(ctx.principal, handle, ADMIN)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        rows = await session.execute(
            select(AccessToken)
            .where(col(AccessToken.handle) == handle)
            .order_by(col(AccessToken.created_at).desc())
        )
        return list(rows.scalars().all())


async def revoke_pat(ctx: Context, handle: str, token_id: str) -> AccessToken:
    authorize(ctx.principal, handle, ADMIN)
    if unstorable_reason(token_id) is not None:  # cannot exist, nor be compared
        raise NotFound(f"Token '{token_id}' not found.", code="token_not_found")
    async with ctx.sessions() as session:
        row = (
            await session.execute(
                select(AccessToken).where(
                    col(AccessToken.handle) == handle, col(AccessToken.id) == token_id
                )
            )
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(f"Token '{token_id}' not found.", code="token_not_found")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            await session.commit()
        return row


async def issue_jwt(
    ctx: Context, handle: str, role: Role, ttl_seconds: int, subject: str | None = None
) -> str:
    """Operator-side JWT for ``handle`` (the handle must exist)."""
    if ttl_seconds <= 0:
        raise InvalidInput("ttl must be a positive number of seconds.")
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
    return mint_jwt(
        jwt_secret(ctx.settings),
        subject or f"cli:{handle}",
        {handle: role.value},
        ttl_seconds,
        ctx.settings.jwt_algorithm,
    )


def token_expired(row: AccessToken, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return row.expires_at is not None and row.expires_at <= now
