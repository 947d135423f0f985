"""An account's funnel stages: ordered, each counting conversion events of given types."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from db.tables import Account
from resolvers.accounts import account_for_handle
from resolvers.context import Context
from resolvers.domain import DEFAULT_FUNNEL_STAGES, EVENT_TYPE_RE
from resolvers.errors import InvalidInput
from resolvers.principal import ADMIN, READ_CAMPAIGNS, authorize

STAGE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
CLICKS_STAGE = "clicks"
CONVERSIONS_STAGE = "conversions"
MAX_STAGES = 12


@dataclass(frozen=True)
class StageSpec:
    name: str
    event_types: tuple[str, ...]

    def types_for(self, conversion_event_type: str) -> tuple[str, ...]:
        """The conversions stage with no explicit types counts the campaign's event type."""
        if not self.event_types and self.name == CONVERSIONS_STAGE:
            return (conversion_event_type,)
        return self.event_types


def stage_specs(config: list[dict[str, Any]] | None) -> list[StageSpec]:
    return [
        StageSpec(str(s["name"]), tuple(s.get("eventTypes") or ()))
        for s in (config or DEFAULT_FUNNEL_STAGES)
    ]


def validate_stages(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("'stages' must be a non-empty list.")
    if len(raw) > MAX_STAGES:
        raise InvalidInput(f"At most {MAX_STAGES} stages.")
    out: list[dict[str, Any]] = []
    seen_names: set[str] = set()
    seen_types: set[str] = set()
    for i, stage in enumerate(raw):
        if not isinstance(stage, dict) or set(stage) - {"name", "eventTypes"}:
            raise InvalidInput(f"stages[{i}] must be an object with 'name' and 'eventTypes'.")
        name, types = stage.get("name"), stage.get("eventTypes", [])
        if not isinstance(name, str) or not STAGE_NAME_RE.fullmatch(name):
            raise InvalidInput(f"stages[{i}].name must be 1-40 of a-z, 0-9, '_' or '-'.")
        if name in seen_names:
            raise InvalidInput(f"Stage '{name}' appears twice.")
        if not isinstance(types, list) or not all(
            isinstance(t, str) and EVENT_TYPE_RE.fullmatch(t) for t in types
        ):
            raise InvalidInput(f"stages[{i}].eventTypes must be a list of event type names.")
        if i == 0 and (name != CLICKS_STAGE or types):
            raise InvalidInput("The first stage must be 'clicks' with no event types.")
        if i > 0 and not types and name != CONVERSIONS_STAGE:
            raise InvalidInput(f"Stage '{name}' needs at least one event type.")
        if seen_types & set(types):
            raise InvalidInput(f"Stage '{name}' repeats an event type of an earlier stage.")
        seen_names.add(name)
        seen_types |= set(types)
        out.append({"name": name, "eventTypes": list(dict.fromkeys(types))})
    if CONVERSIONS_STAGE not in seen_names:
        raise InvalidInput("The stages must include 'conversions'.")
    return out


async def get_stages(ctx: Context, handle: str) -> list[StageSpec]:
    authorize(ctx.principal, handle, READ_CAMPAIGNS)
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
    return stage_specs(account.funnel_stages)


async def set_stages(ctx: Context, handle: str, raw: Any) -> list[StageSpec]:
    """Replace the stages of the account that owns ``handle`` (ADMIN)."""
    authorize(ctx.principal, handle, ADMIN)
    stages = validate_stages(raw)
    async with ctx.sessions() as session:
        account = await account_for_handle(session, handle)
        row = (
            await session.execute(select(Account).where(col(Account.id) == account.id))
        ).scalar_one()
        row.funnel_stages = stages
        await session.commit()
    return stage_specs(stages)
