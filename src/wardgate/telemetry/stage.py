"""The telemetry stage: spans, metrics and the request log of every call, from the same values the ledger records.

Assembled only when ``telemetry:`` is configured, and then first in the pipeline, so its ``after`` runs last: it sees
the outcome of every stage, refusals included, and the usage accounting settled (an estimate filled in, the cost the
ledger stores, computed by the same function). Spans: one SERVER span per request (continuing an incoming
``traceparent``), one CLIENT span per upstream attempt (the router reports them through ``Call.trace``; each attempt's
context goes upstream as ``traceparent``). Nothing here blocks, and no SDK span lives on the request path: a call
keeps ids and timestamps, and its spans are built as plain records when it ends and queued for the export thread
(tracing.py); a metric is a dict update, the log line goes to a logging handler.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Hashable, Iterable, Mapping
from random import getrandbits
from time import perf_counter
from types import MappingProxyType
from typing import Any

import orjson
from opentelemetry.trace import SpanContext, SpanKind

from wardgate.core.call import Call, CostOf, Result
from wardgate.core.deployment import Deployment
from wardgate.core.errors import WardgateError
from wardgate.observability.metrics import Collector, Sample
from wardgate.telemetry import semconv, tool_spans
from wardgate.telemetry.access import RequestLog
from wardgate.telemetry.metrics import RequestMetrics
from wardgate.telemetry.tracing import SpanRecord, Tracing

CLIENT_CLOSED = 499
MAX_ATTRIBUTE = 256  # a client's value (its model name) in a span attribute is cut to this
MAX_CONTENT = 32 * 1024  # captured prompt or answer text per span (capture_content: true)
MAX_SHAPES = 1024  # cached shared-attribute dicts; a client's model names can churn them, never grow them
NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
EXPORTED = "wardgate_otlp_spans_exported_total"
DROPPED = "wardgate_otlp_spans_dropped_total"


def outcome(error: BaseException | None) -> tuple[int, str | None]:
    """(status, error type): the type is one of Wardgate's own error types, never a value an upstream or client
    chose, so it may label a metric."""
    if error is None:
        return 200, None
    if isinstance(error, WardgateError):
        return error.status, error.type
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return CLIENT_CLOSED, "client_closed"
    return 500, "internal_error"


def _ns_ago(seconds: float) -> int:
    return time.time_ns() - int(seconds * 1e9)


def body_attributes(call: Call, capture_content: bool) -> dict[str, Any]:
    """The request's own values a span records (the client's body): request id, max tokens, temperature, prompt."""
    attributes: dict[str, Any] = {"wardgate.request_id": call.id}
    body = call.body
    for key, name in (("max_tokens", semconv.REQUEST_MAX_TOKENS), ("temperature", semconv.REQUEST_TEMPERATURE)):
        value = body.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            attributes[name] = value
    if capture_content:
        content = body.get("messages", body.get("prompt", body.get("input")))
        if content is not None:
            attributes[semconv.INPUT_MESSAGES] = orjson.dumps(content).decode()[:MAX_CONTENT]
    return attributes


class CallSpans:
    """One call's spans (``Call.trace``), kept as ids and timestamps until the call ends; ``end`` builds the request's
    SERVER span and one CLIENT span per upstream attempt, and queues them for export (``Tracing.submit``).

    A span's attributes are in two parts: those that spans of the same shape share (operation, models, deployment,
    principal, status, route …: one dict per shape, cached by the stage and encoded once by the exporter) and the
    request's own (id, token counts, cost, TTFT)."""

    __slots__ = (
        "_attempts",
        "_open",
        "_stage",
        "_steps",
        "parent_id",
        "remote",
        "sampled",
        "span_id",
        "start_ns",
        "trace_id",
    )

    def __init__(
        self, stage: TelemetryStage, tracing: Tracing, call: Call, parent: tuple[int, int, bool] | None
    ) -> None:
        self._stage = stage
        if parent is not None:  # an incoming traceparent: its trace, its sampling decision
            self.trace_id, parent_id, self.sampled = parent
            self.parent_id: int | None = parent_id
            self.remote = True
        else:
            self.trace_id = getrandbits(128) or 1
            self.parent_id = None
            self.remote = False
            self.sampled = tracing.sampled(self.trace_id)
        self.span_id = getrandbits(64) or 1
        self.start_ns = _ns_ago(perf_counter() - call.started)
        self._open: tuple[int, int, Deployment, str] | None = None  # the attempt in flight: id, start, deployment, op
        self._attempts: list[SpanRecord] = []
        self._steps: list[SpanRecord] | None = None  # the stages' child spans (guard, cache, route, execute_tool)

    def traceparent(self, span_id: int) -> str:
        return f"00-{self.trace_id:032x}-{span_id:016x}-{'01' if self.sampled else '00'}"

    def span_context(self) -> SpanContext:
        return SpanContext(self.trace_id, self.span_id, False)

    def attempt(self, call: Call, deployment: Deployment) -> None:
        if not self.sampled:  # sampled out: propagate the decision upstream, record nothing
            call.upstream_traceparent = self.traceparent(self.span_id)
            return
        if self._open is not None:  # a retry or fall-back: the previous attempt ends here
            self._end_attempt(None, None)
        span_id = getrandbits(64) or 1
        self._open = (span_id, time.time_ns(), deployment, semconv.OPERATIONS.get(call.operation, call.operation))
        call.upstream_traceparent = self.traceparent(span_id)

    def attempt_failed(self, kind: str) -> None:
        self._end_attempt(kind, None)

    def step(self, name: str, began: float, attributes: Mapping[str, str]) -> None:
        if not self.sampled:
            return
        stage = self._stage
        shape = ("step", name, *attributes.items())
        shared = stage.shapes.get(shape)
        if shared is None:
            shared = stage.shape(shape, dict(attributes))
        kind = SpanKind.CLIENT if name == "execute_tool" else SpanKind.INTERNAL
        tool = attributes.get(semconv.TOOL_NAME)
        record = SpanRecord(
            f"{name} {tool}" if tool is not None else name,
            self.trace_id,
            getrandbits(64) or 1,
            self.span_id,
            False,
            kind,
            _ns_ago(perf_counter() - began),
            time.time_ns(),
            shared,
            NO_ATTRIBUTES,
            None,
        )
        if self._steps is None:
            self._steps = [record]
        else:
            self._steps.append(record)

    def _end_attempt(self, error_type: str | None, response_model: str | None) -> None:
        opened = self._open
        if opened is None:
            return
        self._open = None
        span_id, start_ns, deployment, operation = opened
        stage = self._stage
        name, upstream_model = deployment.name, deployment.upstream_model
        shape = (operation, deployment.provider, name, upstream_model, response_model, error_type)
        shared = stage.shapes.get(shape)
        if shared is None:
            provider = stage.provider_of(deployment)
            attributes: dict[str, Any] = {
                semconv.OPERATION_NAME: operation,
                semconv.PROVIDER_NAME: provider,
                semconv.REQUEST_MODEL: upstream_model,
                "wardgate.deployment": name,
            }
            if not stage.latest:
                attributes[semconv.SYSTEM] = provider
            if response_model is not None:
                attributes[semconv.RESPONSE_MODEL] = response_model
            if error_type is not None:
                attributes[semconv.ERROR_TYPE] = error_type
            shared = stage.shape(shape, attributes)
        self._attempts.append(
            SpanRecord(
                f"{operation} {upstream_model}",
                self.trace_id,
                span_id,
                self.span_id,
                False,
                SpanKind.CLIENT,
                start_ns,
                time.time_ns(),
                shared,
                NO_ATTRIBUTES,
                error_type,
            )
        )

    def end(self, call: Call, result: Result | None, status: int, error_type: str | None, cost: int | None) -> None:
        if not self.sampled:
            return
        stage = self._stage
        deployment = call.deployment
        if self._open is not None:
            model = deployment.upstream_model if error_type is None and deployment is not None else None
            self._end_attempt(error_type, model)
        operation = semconv.OPERATIONS.get(call.operation, call.operation)
        principal = call.principal
        usage = call.usage
        counted = usage is not None and principal is not None
        prompt = call.prompt  # set by the prompts stage: a name it resolved, a version id, control or canary
        route = call.route
        shape = (
            operation,
            call.model[:MAX_ATTRIBUTE],
            call.stream,
            call.surface,
            status,
            error_type,
            (deployment.name, deployment.provider, deployment.upstream_model) if deployment is not None else None,
            (principal.project, principal.team, principal.user) if principal is not None else None,
            (prompt.name, prompt.version, prompt.variant) if prompt is not None else None,
            (route.strategy, route.attempts, route.failed) if route is not None else None,
            call.cache_status,
            counted and call.usage_estimated,
        )
        shared = stage.shapes.get(shape)
        if shared is None:
            shared = stage.shape(shape, self._shared_attributes(call, operation, status, error_type, counted))
        attributes = body_attributes(call, stage.capture_content)
        if usage is not None and counted:
            attributes[semconv.INPUT_TOKENS] = usage.input_tokens
            attributes[semconv.OUTPUT_TOKENS] = usage.output_tokens
            attributes[semconv.CACHE_READ_TOKENS] = usage.cached_tokens
            attributes[semconv.CACHE_CREATION_TOKENS] = usage.cache_write_tokens
            attributes[semconv.REASONING_TOKENS] = usage.reasoning_tokens
        if cost is not None:
            attributes["wardgate.cost_nanousd"] = cost
        if call.first_token_at is not None:
            attributes["wardgate.ttft_ms"] = round((call.first_token_at - call.started) * 1000, 3)
        if stage.capture_content and result is not None and result.stream is None and error_type is None:
            try:
                choices = result.body.get("choices")
            except (ValueError, orjson.JSONDecodeError):
                choices = None
            if choices is not None:
                attributes[semconv.OUTPUT_MESSAGES] = orjson.dumps(choices).decode()[:MAX_CONTENT]
        root = SpanRecord(
            f"{operation} {stage.metrics.model_label(call.model)}",  # low-cardinality: an unknown model is `unknown`
            self.trace_id,
            self.span_id,
            self.parent_id,
            self.remote,
            SpanKind.SERVER,
            self.start_ns,
            time.time_ns(),
            shared,
            attributes,
            error_type,
        )
        tracing = stage.tracing
        if tracing is not None:
            tracing.submit([root, *self._attempts, *self._steps] if self._steps else [root, *self._attempts])

    def end_tool(self, call: Call, status: int, error_type: str | None, cost: int | None) -> None:
        """An MCP request's SERVER span and its steps (telemetry/tool_spans.py)."""
        tracing = self._stage.tracing
        if not self.sampled or tracing is None:
            return
        stage = self._stage
        shape = tool_spans.shape(call, status, error_type)
        shared = stage.shapes.get(shape)
        if shared is None:
            shared = stage.shape(shape, tool_spans.shared_attributes(call, status, error_type))
        attributes: dict[str, Any] = {"wardgate.request_id": call.id}
        if cost is not None:
            attributes["wardgate.cost_nanousd"] = cost
        root = SpanRecord(
            tool_spans.root_name(call),
            self.trace_id,
            self.span_id,
            self.parent_id,
            self.remote,
            SpanKind.SERVER,
            self.start_ns,
            time.time_ns(),
            shared,
            attributes,
            error_type,
        )
        tracing.submit([root, *self._steps] if self._steps else [root])

    def _shared_attributes(
        self, call: Call, operation: str, status: int, error_type: str | None, counted: bool
    ) -> dict[str, Any]:
        """The request span's attributes that depend only on its shape (the key ``end`` caches them under)."""
        stage = self._stage
        attributes: dict[str, Any] = {
            semconv.OPERATION_NAME: operation,
            semconv.REQUEST_MODEL: call.model[:MAX_ATTRIBUTE],
            semconv.REQUEST_STREAM: call.stream,
            "wardgate.surface": call.surface,
            "http.response.status_code": status,
        }
        deployment = call.deployment
        if deployment is not None:
            provider = stage.provider_of(deployment)
            attributes[semconv.PROVIDER_NAME] = provider
            if not stage.latest:
                attributes[semconv.SYSTEM] = provider
            attributes[semconv.RESPONSE_MODEL] = deployment.upstream_model
            attributes["wardgate.deployment"] = deployment.name
        principal = call.principal
        if principal is not None:
            for key, value in (("project", principal.project), ("team", principal.team), ("user", principal.user)):
                if value is not None:
                    attributes[f"wardgate.{key}"] = value
        prompt = call.prompt
        if prompt is not None:
            attributes["wardgate.prompt_name"] = prompt.name
            attributes["wardgate.prompt_version"] = prompt.version
            attributes["wardgate.prompt_variant"] = prompt.variant
        if counted and call.usage_estimated:
            attributes["wardgate.usage_estimated"] = True
        if call.cache_status is not None:
            attributes["wardgate.cache"] = call.cache_status
        route = call.route
        if route is not None:
            attributes["wardgate.route.strategy"] = route.strategy
            attributes["wardgate.route.attempts"] = route.attempts
            if route.failed:
                attributes["wardgate.route.failed"] = list(route.failed)
        if error_type is not None:
            attributes[semconv.ERROR_TYPE] = error_type
        return attributes


class TelemetryStage:
    name = "telemetry"

    def __init__(
        self,
        metrics: RequestMetrics,
        cost_of: CostOf,
        providers: Mapping[str, str],
        *,
        tracing: Tracing | None = None,
        capture_content: bool = False,
        latest: bool = False,
        request_log: RequestLog | None = None,
    ) -> None:
        self.metrics = metrics
        self._cost_of = cost_of
        self._providers = providers  # configured provider name → gen_ai.provider.name
        self.tracing = tracing
        self.capture_content = capture_content
        self.latest = latest
        self._log = request_log
        self.shapes: dict[Hashable, Mapping[str, Any]] = {}  # a span's shape → its shared attributes (CallSpans)

    def shape(self, key: Hashable, attributes: dict[str, Any]) -> Mapping[str, Any]:
        """Keep ``attributes`` as the shared attributes of spans of shape ``key`` (bounded: a full cache starts
        over)."""
        if len(self.shapes) >= MAX_SHAPES:
            self.shapes.clear()
        self.shapes[key] = attributes
        return attributes

    def collector(self) -> Collector:
        """For ``Metrics.add``: the request metrics, and the span export's own counters."""

        async def collect() -> Iterable[Sample]:
            out = self.metrics.samples()
            tracing = self.tracing
            if tracing is not None:
                exporter = tracing.exporter
                out.append(Sample(EXPORTED, {}, float(exporter.exported), "spans the OTLP collector took", "counter"))
                out.append(
                    Sample(DROPPED, {}, float(tracing.dropped), "spans dropped: collector down, queue full", "counter")
                )
            return out

        return collect

    def provider_of(self, deployment: Deployment) -> str:
        return self._providers.get(deployment.provider, deployment.provider)

    async def before(self, call: Call) -> Result | None:
        tracing = self.tracing
        if tracing is not None:
            call.trace = CallSpans(self, tracing, call, _parent(call))
        return None

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        now = perf_counter()
        status, error_type = outcome(error)
        if call.surface == "mcp":  # a tool call, a resource read, a prompt: its spans and log line, no gen_ai metric
            cost = call.fixed_cost_nanousd if error is None else None
            trace = call.trace
            if isinstance(trace, CallSpans):
                trace.end_tool(call, status, error_type, cost)
            if self._log is not None:
                self._log.write(
                    call, status, error_type, cost, now, trace.span_context() if isinstance(trace, CallSpans) else None
                )
            return
        deployment = call.deployment
        cost = None
        if call.usage is not None and deployment is not None and call.principal is not None:
            cost = self._cost_of(call)  # the function and the values the ledger's row gets
        provider = self.provider_of(deployment) if deployment is not None else "none"
        self.metrics.record(call, provider, status, error_type, cost, now - call.started, now)
        trace = call.trace
        if isinstance(trace, CallSpans):
            trace.end(call, result, status, error_type, cost)
        if self._log is not None:
            span = trace.span_context() if isinstance(trace, CallSpans) else None
            self._log.write(call, status, error_type, cost, now, span)


_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")


def _parent(call: Call) -> tuple[int, int, bool] | None:
    """(trace id, parent span id, sampled) of an incoming ``traceparent`` (W3C Trace Context); a malformed one starts
    a new trace."""
    headers = call.request_headers
    if not headers:
        return None
    for name, value in headers:
        if name == b"traceparent":
            if len(value) > 512:
                return None
            found = _TRACEPARENT.fullmatch(value.decode("latin-1").strip().lower())
            if found is None or found[1] == "ff" or (found[1] == "00" and found[5]):
                return None
            trace_id, span_id = int(found[2], 16), int(found[3], 16)
            if not trace_id or not span_id:
                return None
            return trace_id, span_id, bool(int(found[4], 16) & 1)
    return None
