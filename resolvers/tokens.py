"""Personal access tokens (shown once, stored as a hash) and JWT minting for the CLI."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from db.tables import AccessToken
from resolvers.accounts import account_for_handle
from resolvers.auth import hash_token, mint_jwt, new_pat_secret
from resolvers.context import Context
from resolvers.domain import PAT_SCOPES, Role, utcnow
from resolvers.errors import InvalidInput, NotFound
from resolvers.jwtsecret import jwt_secret
from resolvers.principal import ADMIN, authorize
from resolvers.storable import check_text, unstorable_reason

MAX_EXPIRES_IN = 10 * 365 * 86400  # ten years, as the REST body allows
MAX_NAME = 200


@dataclass(frozen=True)
class IssuedToken:
    token: str
    row: AccessToken


def validate_scopes(scopes: list[str]) -> list[str]:
    if not scopes:
        raise InvalidInput("A token needs at least one scope.")
    unknown = sorted(set(scopes) - PAT_SCOPES)
    if unknown:
        raise InvalidInput(
            f"Unknown scope(s): {', '.join(unknown)}. Known: {', '.join(sorted(PAT_SCOPES))}."
        )
    return sorted(set(scopes))


async def issue_pat(
    ctx: Context,
    handle: str,
    scopes: list[str],
    *,
    expires_in: int | None = None,
    name: str | None = None,
    check_access: bool = True,
) -> IssuedToken:
    """Create a PAT bound to ``handle``. The CLI (an operator) skips the access check."""
    if check_access:
        authorize(ctx.principal, handle, ADMIN)
    scopes = validate_scopes(scopes)
    if expires_in is not None and not 0 < expires_in <= MAX_EXPIRES_IN:
        raise InvalidInput(f"expiresIn must be between 1 and {MAX_EXPIRES_IN} seconds.")
    if name is not None and len(check_text(name, "name")) > MAX_NAME:
        raise InvalidInput(f"name must be at most {MAX_NAME} characters.")
    token, prefix = new_pat_secret()
    now = utcnow()
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        row = AccessToken(
            id="tok_" + secrets.token_hex(8),
            account_id=account.id,
            handle=handle,
            name=name,
            prefix=prefix,
            token_hash=hash_token(token),
            scopes=scopes,
            created_at=now,
            expires_at=now + timedelta(seconds=expires_in) if expires_in else None,
        )
        session.add(row)
        await session.commit()
    return IssuedToken(token, row)


async def list_pats(ctx: Context, handle: str) -> list[AccessToken]:
    authorize(ctx.principal, handle, ADMIN)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        rows = await session.execute(
            select(AccessToken)
            .where(AccessToken.handle == handle)
            .order_by(AccessToken.created_at.desc())
        )
        return list(rows.scalars().all())


async def revoke_pat(ctx: Context, handle: str, token_id: str) -> AccessToken:
    authorize(ctx.principal, handle, ADMIN)
    if unstorable_reason(token_id) is not None:  # cannot exist, nor be compared
        raise NotFound(f"Token '{token_id}' not found.", code="token_not_found")
    async with ctx.sessions() as session:
        row = (
            await session.execute(
                select(AccessToken).where(AccessToken.handle == handle, AccessToken.id == token_id)
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
    from resolvers.domain import as_utc

    now = now or utcnow()
    return row.expires_at is not None and as_utc(row.expires_at) <= now
