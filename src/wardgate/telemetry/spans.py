"""A call's spans: its ids and timestamps while it runs (``CallSpans``, on ``Call.trace``), and its finished spans
built from them once it has ended (``SpanBuilder``, in the stage's batch, off the request path).

One SERVER span per request (continuing an incoming ``traceparent``), one CLIENT span per upstream attempt (the router
reports them through ``Call.trace``; each attempt's context goes upstream as ``traceparent``). While the call runs,
only ids and timestamps are kept (an attempt is a tuple); attributes are built later, from the ended call, by the
stage's batch (stage.py). A span's attributes are in two parts: those that spans of the same shape share (operation,
models, deployment, principal, status, route …: one dict per shape, cached, encoded once by the exporter) and the
request's own (id, token counts, cost, TTFT).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from random import getrandbits
from time import time_ns
from types import MappingProxyType
from typing import Any

import orjson
from opentelemetry.trace import SpanContext, SpanKind

from wardgate.core.call import Call, Result
from wardgate.core.deployment import Deployment
from wardgate.telemetry import semconv
from wardgate.telemetry.tracing import SpanRecord, Tracing

MAX_ATTRIBUTE = 256  # a client's value (its model name) in a span attribute is cut to this
MAX_CONTENT = 32 * 1024  # captured prompt or answer text per span (capture_content: true)
MAX_SHAPES = 1024  # cached shared-attribute dicts; a client's model names can churn them, never grow them
NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
_SERVER, _CLIENT = SpanKind.SERVER, SpanKind.CLIENT
_record = tuple.__new__  # SpanRecord's own __new__ is a Python function: this is the same tuple, built in C

# an upstream attempt while the call runs: (span id, start ns, deployment); ended: … + (end ns, error type)
Attempt = tuple[int, int, Deployment, int, str | None]


class CallSpans:
    """One call's trace context (``Call.trace``): its trace and span ids, whether it is sampled, and its upstream
    attempts as tuples. Nothing else happens on the request path."""

    __slots__ = ("attempts", "open", "parent_id", "remote", "sampled", "span_id", "trace_id")

    def __init__(self, tracing: Tracing, call: Call) -> None:
        parent = _parent(call) if call.request_headers else None
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
        self.open: tuple[int, int, Deployment] | None = None  # the attempt in flight
        self.attempts: list[Attempt] | None = None  # the attempts that ended before the call did

    def traceparent(self, span_id: int) -> str:
        return f"00-{self.trace_id:032x}-{span_id:016x}-{'01' if self.sampled else '00'}"

    def span_context(self) -> SpanContext:
        return SpanContext(self.trace_id, self.span_id, False)

    def attempt(self, call: Call, deployment: Deployment) -> None:
        if not self.sampled:  # sampled out: propagate the decision upstream, record nothing
            call.upstream_traceparent = self.traceparent(self.span_id)
            return
        now = time_ns()
        if self.open is not None:  # a retry or fall-back: the previous attempt ends here
            self._end_attempt(None, now)
        span_id = getrandbits(64) or 1
        self.open = (span_id, now, deployment)
        call.upstream_traceparent = f"00-{self.trace_id:032x}-{span_id:016x}-01"

    def attempt_failed(self, kind: str) -> None:
        self._end_attempt(kind, time_ns())

    def _end_attempt(self, error_type: str | None, end_ns: int) -> None:
        opened = self.open
        if opened is None:
            return
        self.open = None
        ended = (*opened, end_ns, error_type)
        if self.attempts is None:
            self.attempts = [ended]
        else:
            self.attempts.append(ended)


def output_messages(result: Result) -> str | None:
    """``gen_ai.output.messages`` of a JSON answer (capture_content: true), taken when the call ends."""
    try:
        choices = result.body.get("choices")
    except (ValueError, orjson.JSONDecodeError):
        return None
    return orjson.dumps(choices).decode()[:MAX_CONTENT] if choices is not None else None


class SpanBuilder:
    """Turns an ended call into its span records (run by the stage's batch, never on the request path)."""

    def __init__(
        self, providers: Mapping[str, str], model_label: Callable[[str], str], capture_content: bool, latest: bool
    ) -> None:
        self._providers = providers  # configured provider name → gen_ai.provider.name
        self._model_label = model_label  # low-cardinality: a model the config does not know is `unknown`
        self.capture_content = capture_content
        self.latest = latest
        # a span's shape → its shared attributes and its name
        self.shapes: dict[Hashable, tuple[Mapping[str, Any], str]] = {}

    def provider_of(self, deployment: Deployment) -> str:
        return self._providers.get(deployment.provider, deployment.provider)

    def shape(self, key: Hashable, found: tuple[Mapping[str, Any], str]) -> tuple[Mapping[str, Any], str]:
        """Keep the shared attributes and the name of spans of shape ``key`` (bounded: a full cache starts over)."""
        if len(self.shapes) >= MAX_SHAPES:
            self.shapes.clear()
        self.shapes[key] = found
        return found

    def records(
        self,
        call: Call,
        trace: CallSpans,
        status: int,
        error_type: str | None,
        cost: int | None,
        end_ns: int,
        duration_s: float,
        output: str | None,
    ) -> list[SpanRecord]:
        """The request's SERVER span, then one CLIENT span per upstream attempt."""
        deployment = call.deployment
        operation = call.operation
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
        found = self.shapes.get(shape)
        if found is None:
            found = self.shape(shape, self._root_shape(call, status, error_type, counted))
        shared, name = found
        body = call.body
        if usage is not None and counted:
            attributes: dict[str, Any] = {
                "wardgate.request_id": call.id,
                semconv.INPUT_TOKENS: usage.input_tokens,
                semconv.OUTPUT_TOKENS: usage.output_tokens,
                semconv.CACHE_READ_TOKENS: usage.cached_tokens,
                semconv.CACHE_CREATION_TOKENS: usage.cache_write_tokens,
                semconv.REASONING_TOKENS: usage.reasoning_tokens,
            }
        else:
            attributes = {"wardgate.request_id": call.id}
        value = body.get("max_tokens")
        if value is not None and (value.__class__ is int or value.__class__ is float):
            attributes[semconv.REQUEST_MAX_TOKENS] = value
        value = body.get("temperature")
        if value is not None and (value.__class__ is int or value.__class__ is float):
            attributes[semconv.REQUEST_TEMPERATURE] = value
        if cost is not None:
            attributes["wardgate.cost_nanousd"] = cost
        if call.first_token_at is not None:
            attributes["wardgate.ttft_ms"] = round((call.first_token_at - call.started) * 1000, 3)
        if self.capture_content:
            content = body.get("messages", body.get("prompt", body.get("input")))
            if content is not None:
                attributes[semconv.INPUT_MESSAGES] = orjson.dumps(content).decode()[:MAX_CONTENT]
            if output is not None:
                attributes[semconv.OUTPUT_MESSAGES] = output
        trace_id, span_id = trace.trace_id, trace.span_id
        out = [
            _record(
                SpanRecord,
                (
                    name,
                    trace_id,
                    span_id,
                    trace.parent_id,
                    trace.remote,
                    _SERVER,
                    end_ns - int(duration_s * 1e9),
                    end_ns,
                    shared,
                    attributes,
                    error_type,
                ),
            )
        ]
        attempts = trace.attempts
        if attempts is not None:
            for span, start_ns, attempted, ended_ns, failure in attempts:
                shared, name = self._attempt_shape(operation, attempted, None, failure)
                out.append(
                    _record(
                        SpanRecord,
                        (
                            name,
                            trace_id,
                            span,
                            span_id,
                            False,
                            _CLIENT,
                            start_ns,
                            ended_ns,
                            shared,
                            NO_ATTRIBUTES,
                            failure,
                        ),
                    )
                )
        if trace.open is not None:  # the attempt that answered (or failed the call)
            span, start_ns, attempted = trace.open
            model = deployment.upstream_model if error_type is None and deployment is not None else None
            shared, name = self._attempt_shape(operation, attempted, model, error_type)
            out.append(
                _record(
                    SpanRecord,
                    (
                        name,
                        trace_id,
                        span,
                        span_id,
                        False,
                        _CLIENT,
                        start_ns,
                        end_ns,
                        shared,
                        NO_ATTRIBUTES,
                        error_type,
                    ),
                )
            )
        return out

    def _attempt_shape(
        self, operation: str, deployment: Deployment, response_model: str | None, error_type: str | None
    ) -> tuple[Mapping[str, Any], str]:
        """An attempt span's shared attributes and its name."""
        shape = (operation, deployment.provider, deployment.name, deployment.upstream_model, response_model, error_type)
        found = self.shapes.get(shape)
        if found is not None:
            return found
        operation_name = semconv.OPERATIONS.get(operation, operation)
        provider = self.provider_of(deployment)
        attributes: dict[str, Any] = {
            semconv.OPERATION_NAME: operation_name,
            semconv.PROVIDER_NAME: provider,
            semconv.REQUEST_MODEL: deployment.upstream_model,
            "wardgate.deployment": deployment.name,
        }
        if not self.latest:
            attributes[semconv.SYSTEM] = provider
        if response_model is not None:
            attributes[semconv.RESPONSE_MODEL] = response_model
        if error_type is not None:
            attributes[semconv.ERROR_TYPE] = error_type
        return self.shape(shape, (attributes, f"{operation_name} {deployment.upstream_model}"))

    def _root_shape(
        self, call: Call, status: int, error_type: str | None, counted: bool
    ) -> tuple[Mapping[str, Any], str]:
        operation = semconv.OPERATIONS.get(call.operation, call.operation)
        attributes = self._shared_attributes(call, operation, status, error_type, counted)
        return attributes, f"{operation} {self._model_label(call.model)}"  # an unknown model is named `unknown`

    def _shared_attributes(
        self, call: Call, operation: str, status: int, error_type: str | None, counted: bool
    ) -> dict[str, Any]:
        """The request span's attributes that depend only on its shape (the key ``records`` caches them under)."""
        attributes: dict[str, Any] = {
            semconv.OPERATION_NAME: operation,
            semconv.REQUEST_MODEL: call.model[:MAX_ATTRIBUTE],
            semconv.REQUEST_STREAM: call.stream,
            "wardgate.surface": call.surface,
            "http.response.status_code": status,
        }
        deployment = call.deployment
        if deployment is not None:
            provider = self.provider_of(deployment)
            attributes[semconv.PROVIDER_NAME] = provider
            if not self.latest:
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
