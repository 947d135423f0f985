"""GraphQL input types; each converts to the resolvers' validated input model."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from resolvers import inputs
from resolvers.inputs import parse
from schema.types import CampaignStatus, GoalType, TrackingMode


def _is_input_object(value: object) -> bool:
    # Strawberry enums carry ``__strawberry_definition__`` too (on the class, so also on
    # each member): they are plain values, not input objects to recurse into.
    return hasattr(value, "__strawberry_definition__") and not isinstance(value, Enum)


def _present(obj: object) -> dict[str, object]:
    """Fields the client set, with camelCase keys as in the REST body."""
    out: dict[str, object] = {}
    for name, value in vars(obj).items():
        if value is strawberry.UNSET or value is None:
            continue
        if isinstance(value, list):
            value = [_present(v) if _is_input_object(v) else v for v in value]
        elif _is_input_object(value):
            value = _present(value)
        head, *rest = name.split("_")
        out[head + "".join(p.title() for p in rest)] = value
    return out


@strawberry.input(description="Fields of a new campaign (the REST create body).")
class CreateCampaignInput:
    goal_type: GoalType = strawberry.field(description="Goal; sets defaults.")
    campaign_id: str | None = strawberry.field(
        default=None, description="Id matching ^[a-z0-9][a-z0-9_-]{2,63}$; cmp_<hex> if omitted."
    )
    name: str | None = strawberry.field(default=None, description="Display name.")
    status: CampaignStatus | None = strawberry.field(
        default=None, description="DRAFT (default) or ACTIVE."
    )
    tracking_preset: str | None = strawberry.field(
        default=None, description="Overrides the goal type's default preset."
    )
    conversion_event_type: str | None = strawberry.field(
        default=None, description="Overrides the goal type's default conversion event type."
    )
    primary_slug: str | None = strawberry.field(default=None, description="Main link's slug.")

    def to_model(self) -> inputs.CampaignCreate:
        return parse(inputs.CampaignCreate, _present(self))


@strawberry.input(description="Changes to a campaign (the REST PATCH body); omitted fields stay.")
class UpdateCampaignInput:
    name: str | None = strawberry.field(default=None, description="Display name.")
    primary_slug: str | None = strawberry.field(default=None, description="Main link's slug.")
    status: CampaignStatus | None = strawberry.field(
        default=None, description="DRAFT→ACTIVE, ACTIVE→PAUSED or PAUSED→ACTIVE."
    )

    def to_model(self) -> inputs.CampaignUpdate:
        return parse(inputs.CampaignUpdate, _present(self))


@strawberry.input(description="Tracking behaviour of a link.")
class TrackingPolicyInput:
    mode: TrackingMode | None = strawberry.field(default=None, description="DIRECT.")
    append_context_param: bool | None = strawberry.field(
        default=None, description="Append fg_click=<click id> to the destination."
    )


@strawberry.input(description="Fields of a link (the REST PUT body).")
class LinkInput:
    destination_url: str = strawberry.field(description="http or https URL.")
    campaign_id: str | None = strawberry.field(default=None, description="Campaign to feed.")
    tracking_policy: TrackingPolicyInput | None = strawberry.field(
        default=None, description="Tracking behaviour."
    )

    def to_model(self) -> inputs.LinkUpsert:
        return parse(inputs.LinkUpsert, _present(self))


@strawberry.input(description="A conversion event posted by a backend.")
class ConversionInput:
    event_type: str = strawberry.field(description="Event type, e.g. purchase or add_to_cart.")
    event_id: str | None = strawberry.field(
        default=None, description="Idempotency key: a repeat is acknowledged, never re-counted."
    )
    click_id: str | None = strawberry.field(
        default=None, description="The fg_click value of the click that led here."
    )
    campaign_id: str | None = strawberry.field(
        default=None, description="Campaign, when there is no click id."
    )
    value: float | None = strawberry.field(default=None, description="Monetary value.")
    currency: str | None = strawberry.field(default=None, description="ISO 4217 code.")
    metadata: strawberry.scalars.JSON | None = strawberry.field(
        default=None, description="Free-form metadata (size-capped)."
    )
    occurred_at: datetime | None = strawberry.field(
        default=None, description="When it happened; defaults to now."
    )

    def to_raw(self) -> dict[str, object]:
        raw = _present(self)
        occurred_at = raw.get("occurredAt")
        if isinstance(occurred_at, datetime):
            raw["occurredAt"] = occurred_at.isoformat()
        return raw


@strawberry.input(description="A test conversion; defaults to the campaign's event type.")
class TestConversionInput:
    event_type: str | None = strawberry.field(default=None, description="Event type.")
    value: float | None = strawberry.field(default=None, description="Monetary value.")
    currency: str | None = strawberry.field(default=None, description="ISO 4217 code.")
    metadata: strawberry.scalars.JSON | None = strawberry.field(
        default=None, description="Free-form metadata; test=true is added."
    )
    event_id: str | None = strawberry.field(default=None, description="Idempotency key.")

    def to_model(self) -> inputs.TestConversionInput:
        return parse(inputs.TestConversionInput, _present(self))
