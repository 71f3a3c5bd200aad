"""The `prompts:` section: managed prompt templates (docs/prompts.md). Present (even `prompts: {}`) turns the prompts
stage on; absent, it is not assembled and a request's prompt reference is refused by nothing but the model check."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

LabelName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class ProtectedLabelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    approvals: Annotated[int, Field(ge=1, le=10)]  # distinct approvers, none of them the author or the requester


class DecoratorConfig(BaseModel):
    """A managed prompt applied to every matching chat request: its label's version is rendered (identity variables
    only) and put before (`prefix`, e.g. a house system prompt) or after (`suffix`) the request's messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: Annotated[str, Field(min_length=1, max_length=200)]  # a system-wide prompt, or the project's own
    label: LabelName = "production"
    project: str | None = None  # a project's id or name; unset: every project
    models: list[str] | None = None  # public model names (after a prompt chose one); unset: every model
    position: Literal["prefix", "suffix"] = "prefix"


class PromptsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # label → how many approvals a move to it needs; unlisted labels move at once
    protected_labels: dict[LabelName, ProtectedLabelConfig] = Field(default_factory=dict)
    refresh_s: Annotated[float, Field(gt=0, le=60)] = 1.0  # how often every worker re-reads labels and canaries
    canary_check_s: Annotated[float, Field(gt=0, le=3600)] = 1.0  # how often canary outcomes are shared and judged
    webhook_url: str | None = None  # automatic canary rollbacks are POSTed here (JSON)
    max_rendered_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024  # a rendered template larger than this is a 400
    decorators: list[DecoratorConfig] = Field(default_factory=list)  # applied in order, to every matching request
