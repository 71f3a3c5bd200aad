"""The `prompts:` section: managed prompt templates (docs/prompts.md). Present (even `prompts: {}`) turns the prompts
stage on; absent, it is not assembled and a request's prompt reference is refused by nothing but the model check."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

LabelName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class ProtectedLabelConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    approvals: Annotated[int, Field(ge=1, le=10)]  # distinct approvers, none of them the author or the requester


class PromptsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # label → how many approvals a move to it needs; unlisted labels move at once
    protected_labels: dict[LabelName, ProtectedLabelConfig] = Field(default_factory=dict)
    refresh_s: Annotated[float, Field(gt=0, le=60)] = 1.0  # how often every worker re-reads labels and canaries
    canary_check_s: Annotated[float, Field(gt=0, le=3600)] = 1.0  # how often canary outcomes are shared and judged
    webhook_url: str | None = None  # automatic canary rollbacks are POSTed here (JSON)
    max_rendered_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024  # a rendered template larger than this is a 400
