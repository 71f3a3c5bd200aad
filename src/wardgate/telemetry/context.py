"""A call's trace context while it runs (``Call.trace``): its trace and span ids, whether it is sampled, its upstream
attempts and the stages' steps as tuples. The request path does nothing else for spans (decision 056): the spans are
built from this once the call has ended (spans.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from random import getrandbits
from time import perf_counter, time_ns

from opentelemetry.trace import SpanContext

from wardgate.core.call import Call
from wardgate.core.deployment import Deployment
from wardgate.telemetry.tracing import Tracing

# an upstream attempt while the call runs: (span id, start ns, deployment); ended: … + (end ns, error type)
Attempt = tuple[int, int, Deployment, int, str | None]
# a stage's child span: (name, began and ended as perf_counter, its attributes)
Step = tuple[str, float, float, Mapping[str, str]]


class CallSpans:
    """One call's trace context (``Call.trace``): its trace and span ids, whether it is sampled, and its upstream
    attempts as tuples. Nothing else happens on the request path."""

    __slots__ = ("attempts", "open", "parent_id", "remote", "sampled", "span_id", "steps", "trace_id")

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
        self.steps: list[Step] | None = None  # the stages' child spans (guard, cache, route, execute_tool)

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

    def step(self, name: str, began: float, attributes: Mapping[str, str]) -> None:
        if not self.sampled:
            return
        step = (name, began, perf_counter(), attributes)
        if self.steps is None:
            self.steps = [step]
        else:
            self.steps.append(step)

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
