"""The admin API's JSON shapes: request bodies and responses.

Request bodies are strict (a string is never coerced into a number, unknown fields are rejected) and are what
the OpenAPI document describes, so the document and the validation cannot drift apart. Patterns avoid the constructs
where Rust's, Python's and ECMAScript's regex dialects disagree. Response models carry no constraints: they describe
what the store holds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from wardgate.store.tenancy import Role

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"  # no control characters (PostgreSQL refuses NUL in text)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]  # an id or a name
UserRef = Annotated[str, StringConstraints(min_length=1, max_length=320, pattern=_PRINTABLE)]  # an id or an email
Email = Annotated[
    str, StringConstraints(min_length=3, max_length=320, pattern=r"^[^@\x00-\x20\x7f]+@[^@\x00-\x20\x7f]+$")
]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]
ModelList = Annotated[list[ModelName], Field(max_length=1000)]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=_PRINTABLE)]
TagValue = Annotated[str, StringConstraints(max_length=500, pattern=r"^[^\x00-\x1f\x7f]*$")]


def _rfc3339(value: Any) -> Any:
    """Only an RFC 3339 date-time with a zone, which is what the document promises (pydantic alone would also take
    "1700000000" as a time)."""
    if not isinstance(value, str):
        return value
    if not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2026-12-31T00:00:00Z")
    return datetime.fromisoformat(value.upper())


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def _integral(value: Any) -> Any:
    """JSON Schema counts 7.0 as an integer; strict pydantic would not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Days = Annotated[int, Field(ge=1, le=36500), BeforeValidator(_integral)]
_TAGS_SCHEMA = {
    "type": "object",
    "maxProperties": 50,
    "propertyNames": {"minLength": 1, "maxLength": 100, "pattern": _PRINTABLE},
    "additionalProperties": {"type": "string", "maxLength": 500, "pattern": r"^[^\x00-\x1f\x7f]*$"},
}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _not_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may be left out but not null")
    return value


class ProjectCreate(Body):
    name: Name
    cost_center: Name | None = None
    allowed_models: ModelList | None = Field(default=None, description="null: every model")
    metadata: dict[str, Any] = Field(default_factory=dict)


def _no_default(schema: dict[str, Any]) -> None:
    """Optional but never null: the document must not offer ``default: null`` for a field null is invalid in."""
    schema.pop("default", None)


class ProjectUpdate(Body):
    """Only the fields sent change; `allowed_models: null` opens the project to every model."""

    name: Name | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)
    cost_center: Name | None = None
    allowed_models: ModelList | None = None
    metadata: dict[str, Any] | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)

    _present = field_validator("name", "metadata")(_not_null)


class TeamCreate(Body):
    name: Name


class AgentCreate(Body):
    name: Name


class UserCreate(Body):
    email: Email
    name: Name | None = None


class SystemRoleGrant(Body):
    scope: Literal["system"]
    scope_id: None = None
    role: Role


class ProjectRoleGrant(Body):
    scope: Literal["project"]
    scope_id: Ref
    role: Role


class TeamRoleGrant(Body):
    scope: Literal["team"]
    scope_id: Ref
    role: Role


class RoleGrant(RootModel[SystemRoleGrant | ProjectRoleGrant | TeamRoleGrant]):
    root: Annotated[SystemRoleGrant | ProjectRoleGrant | TeamRoleGrant, Field(discriminator="scope")]


class SystemScope(Body):
    scope: Literal["system"]
    scope_id: None = None


class ProjectScope(Body):
    scope: Literal["project"]
    scope_id: Ref


class TeamScope(Body):
    scope: Literal["team"]
    scope_id: Ref


class RoleScope(RootModel[SystemScope | ProjectScope | TeamScope]):
    root: Annotated[SystemScope | ProjectScope | TeamScope, Field(discriminator="scope")]


class KeyCreate(Body):
    """`project`, `team`, `user` and `agent` take an id or a name (a user: an id or an email). A member may
    create keys only for themselves: `user` then defaults to, and must be, the caller."""

    model_config = ConfigDict(json_schema_extra={"not": {"required": ["expires_at", "expires_in_days"]}})

    project: Ref
    team: Ref | None = None
    user: UserRef | None = None
    agent: Ref | None = None
    models: ModelList | None = Field(default=None, description="null: the project's models")
    expires_at: Timestamp | None = None
    expires_in_days: Days | None = None
    name: Name | None = None
    tags: Annotated[dict[TagKey, TagValue], Field(max_length=50), WithJsonSchema(_TAGS_SCHEMA)] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> KeyCreate:
        if {"expires_at", "expires_in_days"} <= self.model_fields_set:
            raise ValueError("give expires_at or expires_in_days, not both")
        return self


class KeyRotate(Body):
    overlap_hours: Annotated[float, Field(ge=0, le=720)] = Field(
        default=24, description="how long the old key keeps working"
    )


# responses


def _utc(value: datetime) -> datetime:
    """SQLite hands times back without their zone; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


Time = Annotated[datetime, AfterValidator(_utc)]


class View(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)


class ProjectView(View):
    object: Literal["project"] = "project"
    id: str
    name: str
    cost_center: str | None
    allowed_models: list[str] | None
    metadata: dict[str, Any]
    created_at: Time


class TeamView(View):
    object: Literal["team"] = "team"
    id: str
    project_id: str
    name: str
    created_at: Time


class AgentView(View):
    object: Literal["agent"] = "agent"
    id: str
    project_id: str
    name: str
    created_at: Time


class RoleView(View):
    object: Literal["role"] = "role"
    user_id: str
    scope: Literal["system", "project", "team"]
    scope_id: str | None
    role: Role


class UserView(View):
    object: Literal["user"] = "user"
    id: str
    email: str
    name: str | None
    created_at: Time
    roles: list[RoleView] = Field(description="the roles the caller may see")


class KeyView(View):
    """A key's record. The key itself is never stored: `prefix` is enough to recognise it, not to use it."""

    object: Literal["api_key"] = "api_key"
    id: str
    prefix: str
    name: str | None
    status: Literal["active", "expired", "revoked"]
    project_id: str
    team_id: str | None
    user_id: str | None
    agent_id: str | None
    models: list[str] | None
    tags: dict[str, Any]
    created_at: Time
    expires_at: Time | None
    revoked_at: Time | None
    rotated_from: str | None
    last_used_hour: Time | None = Field(
        None,
        description="the start of the UTC hour of the key's latest request in the ledger (from the hourly roll-up); "
        "null: never used. Given by the list and by GET /admin/v1/keys/{key_id}",
    )


class KeyCreated(KeyView):
    key: str = Field(description="the key itself: shown in this answer only, never again")


class Deleted(View):
    object: str
    id: str
    deleted: Literal[True] = True


class ProjectList(View):
    object: Literal["list"] = "list"
    data: list[ProjectView]
    next_cursor: str | None = Field(None, description="with limit: pass as ?cursor= for the next page; null: no more")


class TeamList(View):
    object: Literal["list"] = "list"
    data: list[TeamView]


class AgentList(View):
    object: Literal["list"] = "list"
    data: list[AgentView]


class UserList(View):
    object: Literal["list"] = "list"
    data: list[UserView]
    next_cursor: str | None = Field(None, description="with limit: pass as ?cursor= for the next page; null: no more")


class KeyList(View):
    object: Literal["list"] = "list"
    data: list[KeyView]
    next_cursor: str | None = Field(None, description="with limit: pass as ?cursor= for the next page; null: no more")


class ErrorDetail(View):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorBody(View):
    """The OpenAI error shape, on every admin route."""

    error: ErrorDetail
