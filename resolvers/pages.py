"""Campaign site-structure pages: versioned page metadata in the database, the schema JSON in
the object store at a deterministic key; publishing sets the campaign's detailsPageSlug."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

import anyio
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.dialect import locked_for_update, write_lock
from db.tables import Campaign, SitePage, SitePageVersion
from resolvers.accounts import account_for_handle
from resolvers.campaigns import campaign_not_found, load_campaign
from resolvers.context import Context
from resolvers.domain import SLUG_RE, utcnow
from resolvers.errors import Conflict, InvalidInput, NotFound
from resolvers.inputs import Trimmed, parse
from resolvers.ports import ObjectNotFound, ObjectStore
from resolvers.principal import READ_CAMPAIGNS, READ_PAGES, WRITE_PAGES, authorize
from resolvers.storable import INT4_MAX, check_int, check_json, unstorable_reason

log = logging.getLogger("funnelgate.pages")

MAX_SCHEMA_BYTES = 256 * 1024
MAX_PAGE_BYTES = 16 * 1024
FREE_WITH_LOGIN = "FREE_WITH_LOGIN"
SCHEMA_CONTENT_TYPE = "application/json"


class PageStatus(str, Enum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"


class PageMetadata(BaseModel):
    """Page metadata: ``slug`` and ``title`` are required, other keys are kept as given;
    the slug is taken exactly as sent, the title trimmed."""

    model_config = ConfigDict(extra="allow")
    slug: str = Field(min_length=1, max_length=128)
    title: Trimmed = Field(min_length=1, max_length=300)

    @field_validator("slug")
    @classmethod
    def _url_safe(cls, value: str) -> str:
        if not SLUG_RE.fullmatch(value):
            raise ValueError(
                "must be URL-safe: 1-128 of A-Z a-z 0-9 . _ ~ -, not starting with . _ ~ -"
            )
        return value


class PageInput(BaseModel):
    """The PUT body: ``{"page": {...}, "schema": {...}}``; the schema must be a JSON object."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    page: PageMetadata
    schema_: dict[str, Any] = Field(alias="schema")


@dataclass(frozen=True)
class PageView:
    """One version of a campaign's page as clients see it; ``status`` is PUBLISHED when this
    version is the published one, ``access`` and ``published_*`` describe the page."""

    campaign_id: str
    version: int
    latest_version: int
    object_key: str
    page: dict[str, Any]
    schema: dict[str, Any]
    status: PageStatus
    access: str | None
    published_version: int | None
    published_at: datetime | None
    created_at: datetime


def object_key(handle: str, campaign_id: str, version: int) -> str:
    return f"site-structure/{handle}/campaigns/{campaign_id}/v{version}.json"


def _store(ctx: Context) -> ObjectStore:
    store = ctx.object_store
    if store is None:
        raise RuntimeError("No object store is configured.")
    return store


def _encode(value: dict[str, Any], what: str, limit: int, code: str) -> bytes:
    try:
        data = orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise InvalidInput(f"{what} cannot be stored as JSON: {exc}.") from exc
    if len(data) > limit:
        raise InvalidInput(
            f"{what} is {len(data)} bytes of JSON; the limit is {limit} bytes.", code=code
        )
    return data


def _view(head: SitePage, row: SitePageVersion, schema: dict[str, Any]) -> PageView:
    published = head.published_version is not None
    return PageView(
        campaign_id=row.campaign_id,
        version=row.version,
        latest_version=head.latest_version,
        object_key=row.object_key,
        page=dict(row.page),
        schema=schema,
        status=PageStatus.PUBLISHED if head.published_version == row.version else PageStatus.DRAFT,
        access=head.access if published else None,
        published_version=head.published_version,
        published_at=head.published_at,
        created_at=row.created_at,
    )


async def _lock_campaign(session: AsyncSession, handle: str, campaign_id: str) -> Campaign:
    """Load the campaign and hold it until commit, so page writes of one campaign run one at a
    time: FOR UPDATE on PostgreSQL; on SQLite a first write takes the database write lock."""
    if unstorable_reason(campaign_id) is not None:  # no campaign has such an id
        raise campaign_not_found(campaign_id)
    where = (col(Campaign.handle) == handle, col(Campaign.campaign_id) == campaign_id)
    await write_lock(session, col(Campaign.updated_at), *where)
    query = locked_for_update(select(Campaign).where(*where))
    row = (await session.execute(query)).scalar_one_or_none()
    if row is None:
        raise campaign_not_found(campaign_id)
    return row


async def _check_slug_free(session: AsyncSession, handle: str, campaign_id: str, slug: str) -> None:
    """A page slug belongs to one campaign of a handle: as its latest page or its published one."""
    page_owner = select(col(SitePage.campaign_id)).where(
        col(SitePage.handle) == handle,
        col(SitePage.page_slug) == slug,
        col(SitePage.campaign_id) != campaign_id,
    )
    published_owner = select(col(Campaign.campaign_id)).where(
        col(Campaign.handle) == handle,
        col(Campaign.details_page_slug) == slug,
        col(Campaign.campaign_id) != campaign_id,
    )
    owner = (
        await session.execute(page_owner.union_all(published_owner).limit(1))
    ).scalar_one_or_none()
    if owner is not None:
        raise _slug_conflict(slug, owner)


def _slug_conflict(slug: str, owner: str | None = None) -> Conflict:
    by = f" by campaign '{owner}'" if owner else ""
    return Conflict(f"Page slug '{slug}' is already used{by}.", code="page_slug_conflict")


async def _load_head(session: AsyncSession, handle: str, campaign_id: str) -> SitePage:
    if unstorable_reason(campaign_id) is not None:  # no campaign has such an id
        raise campaign_not_found(campaign_id)
    head = (
        await session.execute(
            select(SitePage).where(
                col(SitePage.handle) == handle, col(SitePage.campaign_id) == campaign_id
            )
        )
    ).scalar_one_or_none()
    if head is None:
        await load_campaign(session, handle, campaign_id)  # campaign_not_found first
        raise NotFound(f"Campaign '{campaign_id}' has no page yet.", code="page_not_found")
    return head


async def _load_version(
    session: AsyncSession, head: SitePage, version: int | None
) -> SitePageVersion:
    wanted = head.latest_version if version is None else version
    row = (
        await session.execute(
            select(SitePageVersion).where(
                col(SitePageVersion.account_id) == head.account_id,
                col(SitePageVersion.handle) == head.handle,
                col(SitePageVersion.campaign_id) == head.campaign_id,
                col(SitePageVersion.version) == wanted,
            )
        )
    ).scalar_one_or_none()
    if row is None:
        raise NotFound(
            f"Page of campaign '{head.campaign_id}' has no version {wanted}.",
            code="page_version_not_found",
        )
    return row


def _check_version(version: int | None) -> None:
    if version is not None:
        check_int(version, "version", low=1, high=INT4_MAX)  # an int4 column


async def _read_schema(store: ObjectStore, key: str) -> dict[str, Any]:
    try:
        page: dict[str, Any] = orjson.loads(await store.get(key))
    except ObjectNotFound as exc:
        raise RuntimeError(f"The object {key} of a stored page version is missing.") from exc
    return page


async def _discard_object(ctx: Context, store: ObjectStore, row: SitePageVersion) -> None:
    """After a failed write, delete the object unless its version row did get stored (a commit
    whose outcome is unknown may have succeeded): a stray object is harmless, a row pointing at
    a missing object is not."""
    try:
        async with ctx.sessions() as session:
            stored = (
                await session.execute(
                    select(col(SitePageVersion.version)).where(
                        col(SitePageVersion.account_id) == row.account_id,
                        col(SitePageVersion.handle) == row.handle,
                        col(SitePageVersion.campaign_id) == row.campaign_id,
                        col(SitePageVersion.version) == row.version,
                    )
                )
            ).scalar_one_or_none()
        if stored is None:
            await store.delete(row.object_key)
    except Exception:
        log.warning(
            "could not clean up %s after a failed page write", row.object_key, exc_info=True
        )


async def upsert_page(ctx: Context, handle: str, campaign_id: str, body: Any) -> PageView:
    """Store ``body`` as the page's next version: the schema object is written first, then the
    version and head rows in one transaction; if that fails, the object is removed again."""
    authorize(ctx.principal, handle, WRITE_PAGES)
    data = parse(PageInput, body)
    page = check_json(data.page.model_dump(), "page")
    check_json(data.schema_, "schema")
    _encode(page, "page", MAX_PAGE_BYTES, "page_too_large")
    schema_bytes = _encode(data.schema_, "schema", MAX_SCHEMA_BYTES, "schema_too_large")
    store = _store(ctx)
    now = utcnow()
    written: SitePageVersion | None = None
    try:
        async with ctx.sessions() as session:
            account = await account_for_handle(session, handle)
            await _lock_campaign(session, handle, campaign_id)
            await _check_slug_free(session, handle, campaign_id, data.page.slug)
            head = (
                await session.execute(
                    select(SitePage).where(
                        col(SitePage.handle) == handle, col(SitePage.campaign_id) == campaign_id
                    )
                )
            ).scalar_one_or_none()
            version = (head.latest_version if head else 0) + 1
            row = SitePageVersion(
                account_id=account.id,
                handle=handle,
                campaign_id=campaign_id,
                version=version,
                page=page,
                object_key=object_key(handle, campaign_id, version),
                schema_sha256=hashlib.sha256(schema_bytes).hexdigest(),
                schema_bytes=len(schema_bytes),
                created_at=now,
            )
            if head is None:
                head = SitePage(
                    account_id=account.id,
                    handle=handle,
                    campaign_id=campaign_id,
                    page_slug=data.page.slug,
                    latest_version=version,
                    created_at=now,
                    updated_at=now,
                )
                session.add(head)
            else:
                head.page_slug = data.page.slug
                head.latest_version = version
                head.updated_at = now
            session.add(row)
            # The campaign lock is held, so no other writer can use this key meanwhile.
            await store.put(row.object_key, schema_bytes, SCHEMA_CONTENT_TYPE)
            written = row
            await session.commit()
    except BaseException as exc:
        if written is not None:
            with anyio.CancelScope(shield=True):
                await _discard_object(ctx, store, written)
        if isinstance(exc, IntegrityError):
            # Another campaign may have claimed the slug since the check (unique index).
            async with ctx.sessions() as session:
                await _check_slug_free(session, handle, campaign_id, data.page.slug)
        raise
    return _view(head, row, data.schema_)


async def get_page(
    ctx: Context, handle: str, campaign_id: str, version: int | None = None
) -> PageView:
    """The latest version of the campaign's page, or ``version``."""
    authorize(ctx.principal, handle, READ_PAGES)
    _check_version(version)
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        head = await _load_head(session, handle, campaign_id)
        row = await _load_version(session, head, version)
    return _view(head, row, await _read_schema(_store(ctx), row.object_key))


async def publish_page(
    ctx: Context, handle: str, campaign_id: str, version: int | None = None
) -> PageView:
    """Publish the latest version (or ``version``) with access FREE_WITH_LOGIN and point the
    campaign's detailsPageSlug at its slug, in one transaction."""
    authorize(ctx.principal, handle, WRITE_PAGES)
    _check_version(version)
    now = utcnow()
    async with ctx.sessions() as session:
        await account_for_handle(session, handle)
        campaign = await _lock_campaign(session, handle, campaign_id)
        head = await _load_head(session, handle, campaign_id)
        row = await _load_version(session, head, version)
        slug = row.page["slug"]
        await _check_slug_free(session, handle, campaign_id, slug)
        if head.published_version != row.version or head.access != FREE_WITH_LOGIN:
            head.published_version = row.version
            head.access = FREE_WITH_LOGIN
            head.published_at = now
            head.updated_at = now
        if campaign.details_page_slug != slug:
            campaign.details_page_slug = slug
            campaign.updated_at = now
        await session.commit()
    return _view(head, row, await _read_schema(_store(ctx), row.object_key))


async def find_campaign_by_page_slug(ctx: Context, handle: str, slug: str) -> Campaign:
    """The campaign whose published page has ``slug``: one read on (handle, details_page_slug)."""
    authorize(ctx.principal, handle, READ_CAMPAIGNS)
    if unstorable_reason(slug) is not None:
        raise NotFound(f"No campaign has published page '{slug}'.", code="page_not_found")
    async with ctx.sessions() as session:
        row = (
            await session.execute(
                select(Campaign)
                .where(col(Campaign.handle) == handle, col(Campaign.details_page_slug) == slug)
                .limit(1)
            )
        ).scalar_one_or_none()
    if row is None:
        raise NotFound(f"No campaign has published page '{slug}'.", code="page_not_found")
    return row
