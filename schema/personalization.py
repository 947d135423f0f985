"""Personalization rule types, inputs and the Query/Mutation fields that serve them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.types import Info

from db.tables import PersonalizationRule as RuleRow
from resolvers import personalization
from resolvers.context import Context
from resolvers.inputs import parse

Ctx = Info[Context, None]

# Bound to the enum class (strawberry.enum marks it and returns it) so that it is a type.
Device = personalization.Device
strawberry.enum(Device, description="Device class of a visitor, from its User-Agent.")


@strawberry.type(description="Conditions of a rule; all given ones must hold, none matches all.")
class RuleCondition:
    campaign_in: list[str] | None = strawberry.field(
        description="The click's campaign is one of these campaign ids."
    )
    device_in: list[Device] | None = strawberry.field(
        description="The visitor's device is one of these."
    )
    country_in: list[str] | None = strawberry.field(
        description="The visitor's country is one of these ISO 3166-1 alpha-2 codes."
    )
    source_in: list[str] | None = strawberry.field(
        description="The click's source (utm_source or referrer class, lower-case) is one of these."
    )


@strawberry.type(description="What a matching rule serves: a segment id and a destination.")
class RuleVariant:
    id: str = strawberry.field(description="Variant id; recorded as the click's segment.")
    destination_url: str = strawberry.field(description="Where matching clicks are redirected.")


@strawberry.type(description="A rule that may swap a link's destination for matching clicks.")
class PersonalizationRule:
    rule_id: str = strawberry.field(description="Rule id, unique within the handle.")
    enabled: bool = strawberry.field(description="Disabled rules are never evaluated.")
    priority: int = strawberry.field(description="Higher priorities are evaluated first.")
    when: RuleCondition = strawberry.field(description="Conditions a click must meet.")
    variant: RuleVariant = strawberry.field(description="What a matching click is served.")
    created_at: datetime = strawberry.field(description="Creation time (UTC).")
    updated_at: datetime = strawberry.field(description="Last change (UTC).")

    @classmethod
    def from_row(cls, row: RuleRow) -> PersonalizationRule:
        when = row.when or {}
        devices = when.get("deviceIn")
        return cls(
            rule_id=row.rule_id,
            enabled=row.enabled,
            priority=row.priority,
            when=RuleCondition(
                campaign_in=when.get("campaignIn"),
                device_in=None if devices is None else [personalization.Device(d) for d in devices],
                country_in=when.get("countryIn"),
                source_in=when.get("sourceIn"),
            ),
            variant=RuleVariant(id=row.variant_id, destination_url=row.variant_destination_url),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _given(raw: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in raw.items() if value is not None}


@strawberry.input(description="Conditions of a rule; omit a condition to leave it out.")
class RuleConditionInput:
    campaign_in: list[str] | None = strawberry.field(
        default=None, description="Campaign ids (each must exist); up to 100."
    )
    device_in: list[Device] | None = strawberry.field(
        default=None, description="Devices; up to 100."
    )
    country_in: list[str] | None = strawberry.field(
        default=None, description="ISO 3166-1 alpha-2 codes, any case; up to 100."
    )
    source_in: list[str] | None = strawberry.field(
        default=None, description="Sources, compared trimmed and lower-case; up to 100."
    )

    def to_raw(self) -> dict[str, Any]:
        devices = None if self.device_in is None else [d.value for d in self.device_in]
        return _given(
            {
                "campaignIn": self.campaign_in,
                "deviceIn": devices,
                "countryIn": self.country_in,
                "sourceIn": self.source_in,
            }
        )


@strawberry.input(description="What a matching rule serves.")
class RuleVariantInput:
    id: str = strawberry.field(description="Variant id: 1-128 of A-Z a-z 0-9 . _ ~ -.")
    destination_url: str = strawberry.field(description="http or https URL.")

    def to_raw(self) -> dict[str, Any]:
        return {"id": self.id, "destinationUrl": self.destination_url}


@strawberry.input(description="Fields of a personalization rule (the REST body).")
class PersonalizationRuleInput:
    variant: RuleVariantInput = strawberry.field(description="What a matching click is served.")
    rule_id: str | None = strawberry.field(
        default=None,
        description="Id matching ^[a-z0-9][a-z0-9_-]{2,63}$; rule_<hex> if omitted on create.",
    )
    enabled: bool | None = strawberry.field(default=None, description="Defaults to true.")
    priority: int | None = strawberry.field(
        default=None, description="Higher first; -1,000,000 to 1,000,000, default 0."
    )
    when: RuleConditionInput | None = strawberry.field(
        default=None, description="Conditions; none matches every click."
    )

    def to_model(self) -> personalization.RuleInput:
        raw = _given(
            {
                "ruleId": self.rule_id,
                "enabled": self.enabled,
                "priority": self.priority,
                "when": self.when.to_raw() if self.when else None,
                "variant": self.variant.to_raw(),
            }
        )
        return parse(personalization.RuleInput, raw)


@strawberry.type
class PersonalizationQuery:
    @strawberry.field(description="Rules of a handle in evaluation order (priority desc, id).")
    async def personalization_rules(self, info: Ctx, handle: str) -> list[PersonalizationRule]:
        rows = await personalization.list_rules(info.context, handle)
        return [PersonalizationRule.from_row(r) for r in rows]

    @strawberry.field(description="One personalization rule by id.")
    async def personalization_rule(
        self, info: Ctx, handle: str, rule_id: str
    ) -> PersonalizationRule:
        row = await personalization.get_rule(info.context, handle, rule_id)
        return PersonalizationRule.from_row(row)


@strawberry.type
class PersonalizationMutation:
    @strawberry.mutation(description="Create a rule; fails with rule_conflict if the id exists.")
    async def create_personalization_rule(
        self, info: Ctx, handle: str, input: PersonalizationRuleInput
    ) -> PersonalizationRule:
        row = await personalization.create_rule(info.context, handle, input.to_model())
        return PersonalizationRule.from_row(row)

    @strawberry.mutation(description="Create or fully replace the rule at ruleId.")
    async def upsert_personalization_rule(
        self, info: Ctx, handle: str, rule_id: str, input: PersonalizationRuleInput
    ) -> PersonalizationRule:
        row, _ = await personalization.replace_rule(info.context, handle, rule_id, input.to_model())
        return PersonalizationRule.from_row(row)

    @strawberry.mutation(description="Delete a rule; true when it existed.")
    async def delete_personalization_rule(self, info: Ctx, handle: str, rule_id: str) -> bool:
        await personalization.delete_rule(info.context, handle, rule_id)
        return True
