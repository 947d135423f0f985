"""JSON shapes of the REST shim (camelCase, as the API documents them)."""

from __future__ import annotations

from typing import Any

from db.tables import AccessToken, Campaign, Link
from resolvers.conversions import ConversionResult
from resolvers.domain import iso
from resolvers.funnels import HandleAnalytics
from resolvers.health import HealthReport
from resolvers.pages import PageView
from resolvers.pagination import Page
from resolvers.reports import GroupRow


def campaign_json(c: Campaign) -> dict[str, Any]:
    return {
        "campaignId": c.campaign_id,
        "handle": c.handle,
        "name": c.name,
        "goalType": c.goal_type,
        "trackingPreset": c.tracking_preset,
        "conversionEventType": c.conversion_event_type,
        "status": c.status,
        "primarySlug": c.primary_slug,
        "detailsPageSlug": c.details_page_slug,
        "createdAt": iso(c.created_at),
        "updatedAt": iso(c.updated_at),
    }


def link_json(link: Link) -> dict[str, Any]:
    return {
        "slug": link.slug,
        "handle": link.handle,
        "destinationUrl": link.destination_url,
        "campaignId": link.campaign_id,
        "trackingPolicy": {
            "mode": link.tracking_mode,
            "appendContextParam": link.append_context_param,
        },
        "shortPath": f"/{link.handle}/{link.slug}",
        "createdAt": iso(link.created_at),
        "updatedAt": iso(link.updated_at),
    }


def health_json(report: HealthReport) -> dict[str, Any]:
    return {
        "campaignId": report.campaign_id,
        "checks": [
            {"name": c.name, "status": c.status.value, "detail": c.detail} for c in report.checks
        ],
        "readiness": report.readiness.value,
    }


def token_json(row: AccessToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "handle": row.handle,
        "scopes": list(row.scopes),
        "createdAt": iso(row.created_at),
        "lastUsedAt": iso(row.last_used_at),
        "expiresAt": iso(row.expires_at),
        "revokedAt": iso(row.revoked_at),
    }


def site_page_json(view: PageView) -> dict[str, Any]:
    """A campaign site-structure page version (REST, MCP; GraphQL carries the same values)."""
    return {
        "campaignId": view.campaign_id,
        "version": view.version,
        "latestVersion": view.latest_version,
        "objectKey": view.object_key,
        "page": view.page,
        "schema": view.schema,
        "status": view.status.value,
        "access": view.access,
        "publishedVersion": view.published_version,
        "publishedAt": iso(view.published_at),
        "createdAt": iso(view.created_at),
    }


def page_json(page: Page[Any], key: str, render: Any) -> dict[str, Any]:
    return {
        key: [render(item) for item in page.items],
        "nextCursor": page.next_cursor,
        "hasMore": page.has_next,
        "total": page.total,
    }


def conversion_result_json(result: ConversionResult) -> dict[str, Any]:
    """One event's outcome: always index, status and eventId; the stored conversion's ids
    when it was recorded; error and message when it was refused."""
    out: dict[str, Any] = {
        "index": result.index,
        "status": result.status,
        "eventId": result.event_id,
    }
    if result.conversion_id:
        out |= {
            "conversionId": result.conversion_id,
            "campaignId": result.campaign_id,
            "attributed": result.attributed,
        }
    if result.code:
        out |= {"error": result.code, "message": result.message}
    return out


def analytics_json(result: HandleAnalytics) -> dict[str, Any]:
    """One campaign: ``{"funnel": [its funnel]}``; a handle: the aggregate and its funnels."""
    funnels = [funnel_json(f) for f in result.funnels]
    if result.campaign_id is not None:
        return {"funnel": funnels}
    return {"aggregate": funnel_json(result.aggregate), "funnel": funnels}


def funnel_json(f: Any) -> dict[str, Any]:
    """The documented funnel shape, plus stages, currency detail and total clicks."""
    return {
        "campaignId": f.campaign_id,
        "clicks": f.clicks,
        "qualifiedClicks": f.qualified_clicks,
        "conversions": f.conversions,
        "revenue": round(f.revenue, 6),
        "currency": f.currency,
        "revenueByCurrency": {k: round(v, 6) for k, v in f.revenue_by_currency.items()},
        "confidence": f.confidence,
        "stages": [
            {"name": s.name, "count": s.count, "rate": s.rate, "dropOff": s.drop_off}
            for s in f.stages
        ],
        "breakdown": {
            dim: [{dim: value, "count": count} for value, count in f.breakdown_items(dim)]
            for dim in ("source", "country", "device")
        },
        "lastSeenAt": iso(f.last_seen_at),
    }


def group_json(group_by: str, row: GroupRow) -> dict[str, Any]:
    return {
        group_by: row.value,
        "clicks": row.clicks,
        "conversions": row.conversions,
        "revenue": round(row.revenue, 6),
        "revenueByCurrency": {k: round(v, 6) for k, v in row.revenue_by_currency.items()},
    }


def stages_json(stages: list[Any]) -> dict[str, Any]:
    return {"stages": [{"name": s.name, "eventTypes": list(s.event_types)} for s in stages]}
