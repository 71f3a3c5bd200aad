"""Bodies and answers of the prompt management routes (prompts.py, prompt_changes.py)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wardgate.api.admin.schemas import Time, View

Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Label = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
VersionId = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Reason = Annotated[str, Field(min_length=1, max_length=2000)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PromptCreate(Strict):
    name: Name
    project: str | None = Field(None, description="the owning project's id; absent: a system-wide prompt")
    description: Annotated[str, Field(max_length=2000)] | None = None


class TemplateMessage(Strict):
    role: Literal["system", "developer", "user", "assistant"]
    content: Annotated[str, Field(max_length=200_000)] = Field(description="a Jinja2 template: {{ variable }}")


class ArtifactRef(Strict):
    """A version of another prompt (the project's own, else system-wide): a few-shot set or a tool set."""

    prompt: Name
    version: VersionId


class VersionCreate(Strict):
    """A version's content; its id is the SHA-256 of it, so pushing the same content again returns the same version."""

    messages: Annotated[list[TemplateMessage], Field(max_length=100)] = Field(
        description="the templates; empty only in a tool set or a version that takes its messages from `examples`"
    )
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    params: dict[str, Any] = Field(default_factory=dict, description="temperature, max_tokens, tools, …")
    variables: dict[str, Any] | None = Field(None, description="a JSON schema of the request's variables")
    overrides: list[Annotated[str, Field(min_length=1, max_length=100)]] | None = Field(
        None, description="fields the request may override; absent: every param but not the model"
    )
    type: Literal["chat", "text"] | None = Field(
        None, description="text: one user message, read by the Langfuse SDK as a text prompt; absent: chat"
    )
    examples: ArtifactRef | None = Field(None, description="a few-shot set: its messages follow the system messages")
    tools: ArtifactRef | None = Field(None, description="a tool set: its params.tools become this version's tools")


class PromotionCreate(Strict):
    label: Label
    version: VersionId
    reason: Reason


class Review(Strict):
    reason: Annotated[str, Field(max_length=2000)] | None = None


class RollbackBody(Strict):
    to: VersionId | None = Field(None, description="absent: the version the label pointed to before its last move")
    reason: Reason


class RollbackRuleBody(Strict):
    window_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    min_requests: Annotated[int, Field(ge=1, le=10_000_000)] = 100
    error_rate_margin: Annotated[float, Field(ge=0, le=1)] | None = 0.05
    ttft_p95_margin: Annotated[float, Field(ge=0, le=100)] | None = None
    cost_margin: Annotated[float, Field(ge=0, le=100)] | None = None


class CanaryBody(Strict):
    version: VersionId
    percent: Annotated[float, Field(gt=0, lt=100)]
    sticky: Literal["user", "key"] = "user"
    rollback: RollbackRuleBody = RollbackRuleBody()


class CanaryPromote(Strict):
    reason: Reason = "canary promoted"


class VersionView(View):
    object: Literal["prompt.version"] = "prompt.version"
    id: str
    number: int
    prompt: str
    project: str | None
    author: str
    created_at: Time
    messages: list[dict[str, Any]]
    model: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, Any] | None = None
    overrides: list[str] | None = None
    type: Literal["chat", "text"] = "chat"
    examples: dict[str, str] | None = None
    tools: dict[str, str] | None = None


class VersionSummary(View):
    id: str
    number: int
    author: str
    created_at: Time


class LabelView(View):
    object: Literal["prompt.label"] = "prompt.label"
    label: str
    version: str
    previous: str | None
    generation: int
    protected: bool = False
    approvals_required: int = 0
    updated_by: str
    updated_at: Time


class ApprovalView(View):
    actor: str
    decision: str
    reason: str | None
    at: Time


class PromotionView(View):
    object: Literal["prompt.promotion"] = "prompt.promotion"
    id: str
    prompt: str
    project: str | None
    label: str
    version: str
    reason: str
    requested_by: str
    required: int
    status: Literal["pending", "applied", "rejected"]
    approvals: list[ApprovalView]
    created_at: Time
    decided_at: Time | None


class CanaryView(View):
    object: Literal["prompt.canary"] = "prompt.canary"
    id: str
    label: str
    version: str
    percent: float
    sticky: str
    rollback: dict[str, Any]
    started_by: str
    started_at: Time
    stats: dict[str, Any] | None = Field(None, description="this worker's view of the window: control and canary")


class CanaryEnded(View):
    object: Literal["prompt.canary"] = "prompt.canary"
    id: str
    deleted: Literal[True] = True


class PromptView(View):
    object: Literal["prompt"] = "prompt"
    name: str
    project: str | None
    description: str | None
    created_by: str
    created_at: Time
    labels: list[LabelView] = Field(default_factory=list)
    versions: list[VersionSummary] = Field(default_factory=list)
    pending: list[PromotionView] = Field(default_factory=list)
    canaries: list[CanaryView] = Field(default_factory=list)


class PromptList(View):
    object: Literal["list"] = "list"
    data: list[PromptView]
    next_cursor: str | None = Field(None, description="with limit: pass as ?cursor= for the next page; null: no more")


class VersionList(View):
    object: Literal["list"] = "list"
    data: list[VersionView]


class PromotionList(View):
    object: Literal["list"] = "list"
    data: list[PromotionView]
