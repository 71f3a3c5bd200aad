"""A call's finished spans, built from its trace context (``context.CallSpans``) once it has ended, by the stage's
batch, off the request path.

One SERVER span per request (continuing an incoming ``traceparent``), one CLIENT span per upstream attempt (the router
reports them through ``Call.trace``; each attempt's context goes upstream as ``traceparent``), and a child span per
stage step the stages reported (guard, cache, route; an MCP tool call's upstream call, tool_spans.py). A span's
attributes are in two parts: those that spans of the same shape share (operation, models, deployment, principal,
status, route …: one dict per shape, cached, encoded once by the exporter) and the request's own (id, token counts,
cost, TTFT).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from random import getrandbits
from types import MappingProxyType
from typing import Any

import orjson
from opentelemetry.trace import SpanKind

from wardgate.core.call import Call, Result
from wardgate.core.deployment import Deployment
from wardgate.telemetry import semconv, tool_spans
from wardgate.telemetry.context import CallSpans
from wardgate.telemetry.tracing import SpanRecord

MAX_ATTRIBUTE = 256  # a client's value (its model name) in a span attribute is cut to this
MAX_CONTENT = 32 * 1024  # captured prompt or answer text per span (capture_content: true)
MAX_SHAPES = 1024  # cached shared-attribute dicts; a client's model names can churn them, never grow them
NO_ATTRIBUTES: Mapping[str, Any] = MappingProxyType({})
_SERVER, _CLIENT, _INTERNAL = SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL
_record = tuple.__new__  # SpanRecord's own __new__ is a Python function: this is the same tuple, built in C


def _attempt(
    name: str,
    trace_id: int,
    span: int,
    parent: int,
    start_ns: int,
    end_ns: int,
    shared: Any,
    failure: str | None,
) -> SpanRecord:
    """An upstream attempt's CLIENT span (a retry's, a fall-back's, or the one that answered)."""
    return _record(
        SpanRecord, (name, trace_id, span, parent, False, _CLIENT, start_ns, end_ns, shared, NO_ATTRIBUTES, failure)
    )


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

    def root(self, call: Call, status: int, error_type: str | None, counted: bool) -> tuple[Mapping[str, Any], str]:
        """The request span's shared attributes and its name, kept per shape."""
        deployment = call.deployment
        principal = call.principal
        prompt = call.prompt  # set by the prompts stage: a name it resolved, a version id, control or canary
        route = call.route
        shape = (
            call.operation,
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
        return found

    def records(
        self,
        call: Call,
        trace: CallSpans,
        status: int,
        error_type: str | None,
        cost: int | None,
        end_ns: int,
        now: float,
        output: str | None,
    ) -> list[SpanRecord]:
        """The request's SERVER span, then one CLIENT span per upstream attempt, then the stages' child spans
        (``end_ns`` and ``now``: the call's end by both clocks)."""
        deployment = call.deployment
        operation = call.operation
        principal = call.principal
        usage = call.usage
        counted = usage is not None and principal is not None
        shared, name = self.root(call, status, error_type, counted)
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
                    end_ns - int((now - call.started) * 1e9),
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
                shared, name = self.attempt_shape(operation, attempted, None, failure)
                out.append(_attempt(name, trace_id, span, span_id, start_ns, ended_ns, shared, failure))
        if trace.open is not None:  # the attempt that answered (or failed the call)
            span, start_ns, attempted = trace.open
            model = deployment.upstream_model if error_type is None and deployment is not None else None
            shared, name = self.attempt_shape(operation, attempted, model, error_type)
            out.append(_attempt(name, trace_id, span, span_id, start_ns, end_ns, shared, error_type))
        if trace.steps is not None:
            self.add_steps(out, trace, end_ns, now)
        return out

    def tool_records(
        self,
        call: Call,
        trace: CallSpans,
        status: int,
        error_type: str | None,
        cost: int | None,
        end_ns: int,
        now: float,
    ) -> list[SpanRecord]:
        """An MCP request's SERVER span and its steps (telemetry/tool_spans.py)."""
        shape = tool_spans.shape(call, status, error_type)
        found = self.shapes.get(shape)
        if found is None:
            found = self.shape(
                shape, (tool_spans.shared_attributes(call, status, error_type), tool_spans.root_name(call))
            )
        shared, name = found
        attributes: dict[str, Any] = {"wardgate.request_id": call.id}
        if cost is not None:
            attributes["wardgate.cost_nanousd"] = cost
        start_ns = end_ns - int((now - call.started) * 1e9)
        out = [
            _record(
                SpanRecord,
                (
                    name,
                    trace.trace_id,
                    trace.span_id,
                    trace.parent_id,
                    trace.remote,
                    _SERVER,
                    start_ns,
                    end_ns,
                    shared,
                    attributes,
                    error_type,
                ),
            )
        ]
        if trace.steps is not None:
            self.add_steps(out, trace, end_ns, now)
        return out

    def add_steps(self, out: list[SpanRecord], trace: CallSpans, end_ns: int, now: float) -> None:
        assert trace.steps is not None
        trace_id, parent = trace.trace_id, trace.span_id
        for name, began, ended, attributes in trace.steps:
            shape = ("step", name, *attributes.items())
            found = self.shapes.get(shape)
            if found is None:
                tool = attributes.get(semconv.TOOL_NAME)
                found = self.shape(shape, (dict(attributes), f"{name} {tool}" if tool is not None else name))
            shared, span_name = found
            kind = _CLIENT if name == "execute_tool" else _INTERNAL
            start_ns, stop_ns = end_ns - int((now - began) * 1e9), end_ns - int((now - ended) * 1e9)
            span = getrandbits(64) or 1
            out.append(
                _record(
                    SpanRecord,
                    (span_name, trace_id, span, parent, False, kind, start_ns, stop_ns, shared, NO_ATTRIBUTES, None),
                )
            )

    def attempt_shape(
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
