"""Validated input shapes shared by REST bodies and GraphQL inputs."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from resolvers.domain import EVENT_TYPE_RE, CampaignStatus, GoalType, TrackingMode
from resolvers.errors import InvalidInput
from resolvers.storable import json_problem

# Free text (a name, a title, a URL) loses surrounding whitespace; identifiers never do: a
# campaignId "abc " or "abc\n" is refused by its pattern, not trimmed into another id.
Trimmed = Annotated[str, StringConstraints(strip_whitespace=True)]


def _event_type(value: str) -> str:
    if not EVENT_TYPE_RE.fullmatch(value):
        raise ValueError("must be 1-64 of letters, digits, '_', '.', ':' or '-'")
    return value


# An event type (a conversion's, a campaign's conversionEventType): matched in full.
EventType = Annotated[str, AfterValidator(_event_type)]


class _Input(BaseModel):
    """Strings are taken exactly as sent, except fields typed ``Trimmed``.

    Fields are snake_case in Python; their wire names (REST bodies, GraphQL arguments, MCP
    tool inputs and error messages) are the camelCase aliases, the only names accepted.
    """

    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, validate_by_alias=True, validate_by_name=False
    )

    @field_validator("*")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # What the databases cannot store (NUL, lone surrogates, deep nesting), in nested
        # lists and objects too, is refused here rather than in the database.
        problem = json_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class CampaignCreate(_Input):
    campaign_id: str | None = None
    name: Trimmed | None = Field(default=None, max_length=200)
    goal_type: GoalType
    status: CampaignStatus = CampaignStatus.DRAFT
    tracking_preset: str | None = Field(default=None, min_length=1, max_length=64)
    conversion_event_type: EventType | None = Field(default=None, min_length=1, max_length=64)
    primary_slug: str | None = Field(default=None, min_length=1, max_length=128)


class CampaignUpdate(_Input):
    status: CampaignStatus | None = None
    name: Trimmed | None = Field(default=None, max_length=200)
    primary_slug: str | None = Field(default=None, min_length=1, max_length=128)


class TrackingPolicyInput(_Input):
    mode: TrackingMode = TrackingMode.DIRECT
    append_context_param: bool = False


class LinkUpsert(_Input):
    destination_url: Trimmed = Field(min_length=1, max_length=2048)
    campaign_id: str | None = None
    tracking_policy: TrackingPolicyInput = Field(default_factory=TrackingPolicyInput)


class TestConversionInput(_Input):
    event_type: EventType | None = Field(default=None, min_length=1, max_length=64)
    value: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    metadata: dict[str, Any] = Field(default_factory=dict)
    event_id: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        # A validator's own ValueError reads "Value error, <why>": the why is the message.
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], data: Any) -> M:
    """Validate ``data`` as ``model`` or raise InvalidInput naming the bad fields."""
    if not isinstance(data, dict):
        raise InvalidInput("Request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from exc
