"""The one object every stage sees, and what the forward pass returns."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import orjson

from wardgate.core.usage import Usage

if TYPE_CHECKING:
    from wardgate.core.deployment import Deployment
    from wardgate.core.principal import Principal
    from wardgate.core.realtime import RealtimeTurn
    from wardgate.core.upload import Upload

END_USER_MAX = 256  # longer end-user ids are replaced by their hash: bounded, still distinct

Surface = Literal["openai", "anthropic", "responses", "mcp"]
Operation = Literal[
    "chat",
    "completions",
    "embeddings",
    "moderations",
    "rerank",
    "transcriptions",
    "translations",
    "speech",
    "images",
    "image_edits",
    "image_variations",
    "videos",
    "realtime",
    "realtime_secret",  # POST /v1/realtime/client_secrets (api/openai.py)
    "translate_secret",  # POST /v1/realtime/translations/client_secrets
    "realtime_call",  # POST /v1/realtime/calls: a WebRTC SDP offer (api/realtime_calls.py)
    "realtime_control",  # POST /v1/realtime/calls/{call_id}/accept|hangup|refer|reject
    "batches",
    "batch_output",
    "tools/call",
    "resources/read",
    "prompts/get",
]


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """How the router chose the deployment that answered (or failed last); set by routing/, read by accounting."""

    strategy: str  # "weighted", "lowest_latency", …; "single" for a model with one deployment and no options
    deployment: str  # the deployment that answered, or the last one tried
    attempts: int  # calls sent upstream, retries and fall-backs included
    model: str | None = None  # the fall-back public model that answered, when not the one asked for
    failed: tuple[str, ...] = ()  # "<deployment>:<failure kind>" of each failed attempt, in order
    arm: str | None = None  # "canary" or "baseline" when the model has a canary
    model_class: str | None = None  # the class preferred (classifier, key tag or the model's default_class)
    difficulty: float | None = None  # the classifier's score of the prompt


class CallTrace(Protocol):
    """The telemetry stage's view of one call (telemetry/); set on ``Call.trace`` only when telemetry is configured,
    so every other layer pays one ``is None`` test. The router reports each upstream attempt through it."""

    def attempt(self, call: Call, deployment: Deployment) -> None:
        """An upstream attempt starts (ending the previous one, if still open); sets ``call.upstream_traceparent``."""
        ...

    def attempt_failed(self, kind: str) -> None:
        """The open attempt failed with this failure kind (``timeout``, ``rate_limit`` …)."""
        ...

    def step(self, name: str, began: float, attributes: Mapping[str, str]) -> None:
        """A stage's work on this call (``guard``, ``cache``, ``route``, ``execute_tool``) ran from ``began``
        (``perf_counter``) until now: a child span of the request's. ``attributes``: a few low-cardinality values
        (configured names, outcomes), never the client's."""
        ...


@dataclass(frozen=True, slots=True)
class PromptUse:
    """The managed prompt a call rendered; set by the prompts stage, read by accounting (the ledger's prompt
    columns) and by the stage's own canary judge."""

    name: str
    version: str  # the version id (content hash)
    variant: str  # "control" or "canary"
    canary: str | None = None  # the canary run the call took part in, either arm


@dataclass(frozen=True, slots=True)
class CacheOptions:
    """The per-request cache headers as the client sent them (x-wardgate-cache, -cache-ttl, -prompt-template):
    unchecked text, which the cache stage parses and bounds."""

    control: str | None = None
    ttl: str | None = None
    prompt_template: str | None = None


@dataclass(slots=True)
class NativeResponses:
    """A Responses API call that a provider speaking the Responses API itself may answer natively (decision
    048): its adapter sends ``body`` (the request as the client sent it, with the deployment's model) to the
    provider's ``/responses`` instead of the chat translation in ``Call.body``, and sets ``answered``; the result is
    then a ``response`` object or the provider's Responses event stream. Set by the Responses surface."""

    body: dict[str, Any]
    has_previous: bool = False  # the request continues a stored response (previous_response_id)
    previous_at: str | None = None  # the provider holding that response natively; None when the gateway built it
    answered: bool = False  # set by the adapter that answered natively
    # why the chat translation refused the request (hosted tools, item types chat has no form for…): set when the
    # request can only be answered natively; any provider that cannot answers the client with this refusal
    refusal: Exception | None = None

    def usable_at(self, provider: str) -> bool:
        """A continuation goes native only to the provider that holds the previous response."""
        return not self.has_previous or self.previous_at == provider


@dataclass(slots=True)
class Call:
    """One AI request on its way through the pipeline.

    ``body`` is the canonical request: the OpenAI-shaped body of ``operation`` (chat completions, completions,
    embeddings), as the OpenAI surface parsed it or another surface translated it. Adapters of OpenAI-family providers
    forward it with only ``model`` replaced, so fields Wardgate does not know pass through unchanged.
    """

    id: str
    surface: Surface
    operation: Operation
    model: str  # the public model name the client asked for
    body: dict[str, Any]
    stream: bool
    credential: str | None  # the bearer token as sent; identity turns it into a principal
    started: float  # perf_counter() when the request arrived
    client_request_id: str | None = None  # the client's own id as sent (bounded, printable); set by the surface,
    # echoed and stored by accounting, never a key and never de-duplicating: `id` is the gateway's, always generated
    principal: Principal | None = None  # set by identity
    deployment: Deployment | None = None  # set by the router
    usage: Usage | None = None  # set once the provider reports it (streams: on the chunk that carries it)
    upstream_s: float = 0.0  # seconds spent waiting on the provider before its first byte; set by the adapter
    first_token_at: float | None = None  # perf_counter() of the first streamed content chunk
    response_headers: list[tuple[bytes, bytes]] = field(default_factory=list)  # stages add headers here
    streamed_chunks: int = 0  # chunks relayed to the client so far; counted by the pipeline
    # set by limits when a hard budget tips to the cache: only a stored answer may be served; the cache stage raises
    # this refusal on a miss
    cache_only: Exception | None = None
    usage_estimated: bool = False  # usage was counted by the gateway (the provider reported none); see accounting
    client_cert: str | None = None  # what the ingress forwarded about the client cert (identity.mtls); surface sets
    route: RouteDecision | None = None  # set by the router (routing/execute.py): x-wardgate-route, the usage event
    cache_options: CacheOptions | None = None  # the x-wardgate-cache* request headers; set by the surface, if sent
    cache_status: str | None = None  # "hit" | "stale" | "miss" | "bypass"; set by the cache stage, read by accounting
    # the end user the client says it acts for (OpenAI `user`, Anthropic `metadata.user_id`): client-asserted, so it
    # narrows sharing (cache, canary slice, per-end-user limits) but never identifies who pays; set by the surface
    end_user: str | None = None
    guards: object | None = None  # the guards stage's per-call state (guards/state.py); None when none apply
    # what the guards decided, as plain data for the ledger row ({name: {type, action, counts}}); set by the guards
    # stage's after hook, read by accounting's (which runs later)
    guard_decisions: dict[str, dict[str, object]] | None = None
    prompt: PromptUse | None = None  # set by the prompts stage when the request named a managed prompt
    uploads: tuple[Upload, ...] = ()  # files of a multipart request (audio, images), spooled to disk; the surface
    # that read them removes them; ``body`` holds the form's text fields
    # the request's headers as the server parsed them (the ASGI scope's list, not a copy); set by the surface, read
    # only by telemetry (an incoming `traceparent`)
    request_headers: list[tuple[bytes, bytes]] | None = None
    trace: CallTrace | None = None  # set by telemetry when configured
    upstream_traceparent: str | None = None  # the `traceparent` sent upstream (the attempt's span); set by telemetry
    # MCP calls (surface "mcp"): the canonical tool name (<server>.<tool>), which `scope: tool` budgets and rate
    # limits match, and the call's fixed price in nano-dollars (`mcp.tools.*.price_usd`); both set by the surface
    tool: str | None = None
    fixed_cost_nanousd: int | None = None
    ledger_details: dict[str, Any] | None = None  # what the surface adds to the ledger row's details (MCP: server)
    # files and batches (api/files.py): the one provider that holds the call's files (`files.provider`), which the
    # router keeps to, and whether the usage is a batch's (priced with the batch discount); both set by the surface
    provider: str | None = None
    batch: bool = False
    realtime: RealtimeTurn | None = None  # a Realtime response (api/realtime.py); its adapter awaits its usage
    responses_native: NativeResponses | None = None  # a Responses call a native provider may answer as it is
    # the last price computed for this call (usage/cost.py): its inputs and its nano-dollars, so the stages that
    # price the call (limits, accounting, telemetry) compute it once
    cost_memo: tuple[tuple[object, ...], int] | None = None


def end_user_of(value: object) -> str | None:
    """The end-user id of a request's ``user`` field: None unless a non-empty string; bounded in length."""
    if not isinstance(value, str) or not value:
        return None
    if len(value) <= END_USER_MAX:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


class Chunk:
    """One streamed event in OpenAI ``chat.completion.chunk`` (or ``text_completion``) shape.

    ``raw`` holds the exact JSON bytes an OpenAI-family provider sent, so a pass-through stream is relayed byte for
    byte; ``data`` is parsed from it only when a stage or another surface needs the object.
    """

    __slots__ = ("_data", "raw", "usage")

    def __init__(
        self, data: dict[str, Any] | None = None, *, raw: bytes | None = None, usage: Usage | None = None
    ) -> None:
        if data is None and raw is None:
            raise ValueError("a Chunk needs data or raw bytes")
        self._data = data
        self.raw = raw
        self.usage = usage

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            assert self.raw is not None
            self._data = orjson.loads(self.raw)
        return self._data

    @property
    def parsed(self) -> bool:
        """Whether ``data`` is there already (else it is parsed from ``raw`` when first read)."""
        return self._data is not None

    def to_bytes(self) -> bytes:
        if self.raw is None:
            self.raw = orjson.dumps(self._data)
        return self.raw


CostOf = Callable[["Call"], int]
"""Nano-dollars for a call's usage on its deployment; built once at start-up (usage/cost.py), used by any stage."""

ChunkStream = AsyncIterator[list[Chunk]]
"""Batches of chunks: each batch is what one upstream read decoded to, so a burst costs the client one write."""


@dataclass(slots=True)
class Result:
    """The outcome of the forward pass: a JSON answer or a stream of chunks."""

    status: int = 200
    raw: bytes | None = None  # the exact answer bytes, when a provider's OpenAI-shaped body is passed through
    _body: dict[str, Any] | None = None
    stream: ChunkStream | None = None
    on_close: list[Callable[[], None]] = field(default_factory=list)
    content_type: bytes | None = None  # of ``raw`` when it is not JSON (audio, text transcripts)

    @classmethod
    def of(cls, body: dict[str, Any], status: int = 200) -> Result:
        return cls(status=status, _body=body)

    @property
    def body(self) -> dict[str, Any]:
        if self._body is None:
            if self.raw is None:
                raise ValueError("a streamed Result has no body")
            self._body = orjson.loads(self.raw)
        return self._body

    def to_bytes(self) -> bytes:
        if self.raw is None:
            self.raw = orjson.dumps(self._body)
        return self.raw
