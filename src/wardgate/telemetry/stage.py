"""The telemetry stage: spans, metrics and the request log of every call, from the same values the ledger records.

Assembled only when ``telemetry:`` is configured, and then first in the pipeline, so its ``after`` runs last: it sees
the outcome of every stage, refusals included, and the usage accounting settled (an estimate filled in, the cost the
ledger stores, computed by the same function). Spans: one SERVER span per request (continuing an incoming
``traceparent``), one CLIENT span per upstream attempt (the router reports them through ``Call.trace``; each attempt's
context goes upstream as ``traceparent``). Nothing here blocks: a finished span goes to the SDK's queue, a metric is
a dict update, the log line goes to a logging handler.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from time import perf_counter
from typing import Any

import orjson
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from wardgate.core.call import Call, CostOf, Result
from wardgate.core.deployment import Deployment
from wardgate.core.errors import WardgateError
from wardgate.observability.metrics import Collector, Sample
from wardgate.telemetry import semconv
from wardgate.telemetry.access import RequestLog
from wardgate.telemetry.metrics import RequestMetrics
from wardgate.telemetry.tracing import Tracing

CLIENT_CLOSED = 499
MAX_ATTRIBUTE = 256  # a client's value (its model name) in a span attribute is cut to this
MAX_CONTENT = 32 * 1024  # captured prompt or answer text per span (capture_content: true)
EXPORTED = "wardgate_otlp_spans_exported_total"
DROPPED = "wardgate_otlp_spans_dropped_total"
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = (b"traceparent", b"tracestate")


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


def traceparent_of(span: Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def request_attributes(call: Call, operation: str, capture_content: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        semconv.OPERATION_NAME: operation,
        semconv.REQUEST_MODEL: call.model[:MAX_ATTRIBUTE],
        semconv.REQUEST_STREAM: call.stream,
        "wardgate.request_id": call.id,
        "wardgate.surface": call.surface,
    }
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
    """One call's spans (``Call.trace``): the request's, and the open upstream attempt's."""

    __slots__ = ("_context", "_open", "_stage", "_tracer", "root")

    def __init__(self, stage: TelemetryStage, tracer: Tracer, call: Call, parent: Context | None) -> None:
        self._stage = stage
        self._tracer = tracer
        operation = semconv.OPERATIONS.get(call.operation, call.operation)
        # the span's name is low-cardinality: a model the config does not know is named `unknown`
        name = f"{operation} {stage.metrics.model_label(call.model)}"
        self.root = root = tracer.start_span(
            name, context=parent, kind=SpanKind.SERVER, start_time=_ns_ago(perf_counter() - call.started)
        )
        if root.is_recording():  # sampled out: nothing more to build
            root.set_attributes(request_attributes(call, operation, stage.capture_content))
        self._context = set_span_in_context(self.root)
        self._open: Span | None = None

    def attempt(self, call: Call, deployment: Deployment) -> None:
        self._end_attempt(None)
        if not self.root.is_recording():  # sampled out: propagate the decision upstream, build nothing
            call.upstream_traceparent = traceparent_of(self.root)
            return
        stage = self._stage
        operation = semconv.OPERATIONS.get(call.operation, call.operation)
        provider = stage.provider_of(deployment)
        attributes: dict[str, Any] = {
            semconv.OPERATION_NAME: operation,
            semconv.PROVIDER_NAME: provider,
            semconv.REQUEST_MODEL: deployment.upstream_model,
            "wardgate.deployment": deployment.name,
        }
        if not stage.latest:
            attributes[semconv.SYSTEM] = provider
        span = self._tracer.start_span(
            f"{operation} {deployment.upstream_model}",
            context=self._context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )
        self._open = span
        call.upstream_traceparent = traceparent_of(span)

    def attempt_failed(self, kind: str) -> None:
        self._end_attempt(kind)

    def _end_attempt(self, error_type: str | None) -> None:
        span = self._open
        if span is None:
            return
        self._open = None
        if error_type is not None:
            span.set_attribute(semconv.ERROR_TYPE, error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
        span.end()

    def end(self, call: Call, result: Result | None, status: int, error_type: str | None, cost: int | None) -> None:
        stage = self._stage
        root = self.root
        if not root.is_recording():
            root.end()
            return
        deployment = call.deployment
        if self._open is not None:
            if error_type is None and deployment is not None:
                self._open.set_attribute(semconv.RESPONSE_MODEL, deployment.upstream_model)
            self._end_attempt(error_type)
        attributes: dict[str, Any] = {"http.response.status_code": status}
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
        prompt = call.prompt  # set by the prompts stage: a name it resolved, a version id, control or canary
        if prompt is not None:
            attributes["wardgate.prompt_name"] = prompt.name
            attributes["wardgate.prompt_version"] = prompt.version
            attributes["wardgate.prompt_variant"] = prompt.variant
        usage = call.usage
        if usage is not None and principal is not None:
            attributes[semconv.INPUT_TOKENS] = usage.input_tokens
            attributes[semconv.OUTPUT_TOKENS] = usage.output_tokens
            attributes[semconv.CACHE_READ_TOKENS] = usage.cached_tokens
            attributes[semconv.CACHE_CREATION_TOKENS] = usage.cache_write_tokens
            attributes[semconv.REASONING_TOKENS] = usage.reasoning_tokens
            if call.usage_estimated:
                attributes["wardgate.usage_estimated"] = True
        if cost is not None:
            attributes["wardgate.cost_nanousd"] = cost
        if call.cache_status is not None:
            attributes["wardgate.cache"] = call.cache_status
        route = call.route
        if route is not None:
            attributes["wardgate.route.strategy"] = route.strategy
            attributes["wardgate.route.attempts"] = route.attempts
            if route.failed:
                attributes["wardgate.route.failed"] = list(route.failed)
        if call.first_token_at is not None:
            attributes["wardgate.ttft_ms"] = round((call.first_token_at - call.started) * 1000, 3)
        if stage.capture_content and result is not None and result.stream is None and error_type is None:
            try:
                choices = result.body.get("choices")
            except (ValueError, orjson.JSONDecodeError):
                choices = None
            if choices is not None:
                attributes[semconv.OUTPUT_MESSAGES] = orjson.dumps(choices).decode()[:MAX_CONTENT]
        if error_type is not None:
            attributes[semconv.ERROR_TYPE] = error_type
            root.set_status(Status(StatusCode.ERROR, error_type))
        root.set_attributes(attributes)
        root.end()


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
        self.tracer: Tracer | None = tracing.tracer if tracing is not None else None
        self.capture_content = capture_content
        self.latest = latest
        self._log = request_log

    def collector(self) -> Collector:
        """For ``Metrics.add``: the request metrics, and the span export's own counters."""

        async def collect() -> Iterable[Sample]:
            out = self.metrics.samples()
            tracing = self.tracing
            if tracing is not None:
                exporter = tracing.exporter
                out.append(Sample(EXPORTED, {}, float(exporter.exported), "spans the OTLP collector took", "counter"))
                out.append(Sample(DROPPED, {}, float(exporter.dropped), "spans dropped: collector down", "counter"))
            return out

        return collect

    def provider_of(self, deployment: Deployment) -> str:
        return self._providers.get(deployment.provider, deployment.provider)

    async def before(self, call: Call) -> Result | None:
        tracer = self.tracer
        if tracer is not None:
            call.trace = CallSpans(self, tracer, call, _parent(call))
        return None

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        now = perf_counter()
        status, error_type = outcome(error)
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
            root = trace.root if isinstance(trace, CallSpans) else None
            self._log.write(call, status, error_type, cost, now, root.get_span_context() if root else None)


def _parent(call: Call) -> Context | None:
    """The context of an incoming ``traceparent`` (and ``tracestate``); a malformed one starts a new trace."""
    headers = call.request_headers
    if not headers:
        return None
    carrier: dict[str, str] = {}
    for name, value in headers:
        if name in _TRACE_HEADERS and len(value) <= 512:
            carrier[name.decode()] = value.decode("latin-1")
    return _PROPAGATOR.extract(carrier) if carrier else None
