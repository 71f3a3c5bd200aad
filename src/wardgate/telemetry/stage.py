"""The telemetry stage: spans, metrics and the request log of every call, from the same values the ledger records.

Assembled only when ``telemetry:`` is configured, and then first in the pipeline, so its ``after`` runs last: it sees
the outcome of every stage, refusals included, and the usage accounting settled (an estimate filled in, the cost the
ledger stores, computed by the same function).

The request path does as little as it can (decision 056): ``before`` gives the call its trace ids (``Call.trace``),
the router reports each attempt's start and end there, and ``after`` appends one tuple (the call, its status, when it
ended) to a list. The metrics, the spans and their encoding are done for many calls at once, on the event loop, in
steps of ``STEP`` calls (the loop is free between steps, as in the ledger's flush, decision 047): as soon as
``BATCH`` calls have ended, or ``DELAY_S`` after the first of fewer. Done that way, the same work costs about half
what it costs spread over the requests (its code and dicts stay in the CPU's caches), and no export thread takes the
GIL from the loop. Whoever reads a view first brings it up to date: ``/metrics`` (``collector``) and ``flush``
process what is still waiting. The request log is written in ``after``, when the call ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from time import perf_counter, time_ns

from wardgate.core.call import Call, CostOf, Result
from wardgate.core.errors import WardgateError
from wardgate.observability.metrics import Collector, Sample
from wardgate.telemetry.access import RequestLog
from wardgate.telemetry.context import CallSpans
from wardgate.telemetry.metric_export import MetricExport
from wardgate.telemetry.metrics import RequestMetrics
from wardgate.telemetry.span_wire import SpanWriter
from wardgate.telemetry.spans import SpanBuilder, output_messages
from wardgate.telemetry.tracing import Tracing

log = logging.getLogger("wardgate.telemetry")
CLIENT_CLOSED = 499
EXPORTED = "wardgate_otlp_spans_exported_total"
DROPPED = "wardgate_otlp_spans_dropped_total"
METRICS_EXPORTED = "wardgate_otlp_metrics_exported_total"
METRICS_DROPPED = "wardgate_otlp_metrics_dropped_total"
BATCH = 16  # ended calls that start a batch at once (few: the calls a batch holds stay alive until it runs)
DELAY_S = 0.5  # fewer wait at most this long
STEP = 64  # calls processed per loop step (~1 ms of CPU at most)

# an ended call, as ``after`` leaves it: (call, status, error type, perf_counter and time_ns at its end, the captured
# answer text or None)
Ended = tuple[Call, int, str | None, float, int, str | None]


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


class TelemetryStage:
    name = "telemetry"

    def __init__(
        self,
        metrics: RequestMetrics,
        cost_of: CostOf,
        providers: Mapping[str, str],
        *,
        tracing: Tracing | None = None,
        metric_export: MetricExport | None = None,
        capture_content: bool = False,
        latest: bool = False,
        request_log: RequestLog | None = None,
    ) -> None:
        self.metrics = metrics
        self._cost_of = cost_of
        self._providers = providers  # configured provider name → gen_ai.provider.name
        self.tracing = tracing
        self.metric_export = metric_export
        self.spans = SpanBuilder(providers, metrics.model_label, capture_content, latest)
        # spans straight to wire bytes; captured content (large, never repeated) goes through the records
        self._writer = SpanWriter(self.spans, tracing.encoder) if tracing is not None and not capture_content else None
        self.capture_content = capture_content
        self._log = request_log
        self._ended: list[Ended] = []  # calls ended and not yet processed
        self._timer: asyncio.TimerHandle | None = None
        self._stepping = False  # a step is scheduled or running

    def collector(self) -> Collector:
        """For ``Metrics.add``: the request metrics (brought up to date first), and the span export's own counters."""

        async def collect() -> Iterable[Sample]:
            await self.process()
            out = self.metrics.samples()
            tracing = self.tracing
            if tracing is not None:
                exporter = tracing.exporter
                out.append(Sample(EXPORTED, {}, float(exporter.exported), "spans the OTLP collector took", "counter"))
                out.append(
                    Sample(DROPPED, {}, float(tracing.dropped), "spans dropped: collector down, queue full", "counter")
                )
            export = self.metric_export
            if export is not None:
                exporter = export.exporter
                text = "metric data points the OTLP collector took"
                out.append(Sample(METRICS_EXPORTED, {}, float(exporter.exported), text, "counter"))
                text = "metric data points dropped: collector down"
                out.append(Sample(METRICS_DROPPED, {}, float(exporter.dropped), text, "counter"))
            return out

        return collect

    async def before(self, call: Call) -> Result | None:
        tracing = self.tracing
        if tracing is not None:
            call.trace = CallSpans(tracing, call)
        return None

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        now = perf_counter()
        status, error_type = (200, None) if error is None else outcome(error)
        output = None
        if self.capture_content and result is not None and result.stream is None and error_type is None:
            output = output_messages(result)
        ended = self._ended
        ended.append((call, status, error_type, now, time_ns(), output))
        if self._log is not None:
            trace = call.trace
            span = trace.span_context() if isinstance(trace, CallSpans) else None
            cost = self._mcp_cost(call, error_type) if call.surface == "mcp" else self._cost(call)
            self._log.write(call, status, error_type, cost, now, span)
        n = len(ended)
        if n >= BATCH:
            if not self._stepping:
                self._stepping = True
                asyncio.get_running_loop().call_soon(self._step)
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(DELAY_S, self._due)

    def _cost(self, call: Call) -> int | None:
        if call.usage is not None and call.deployment is not None and call.principal is not None:
            return self._cost_of(call)  # the function and the values the ledger's row gets
        return None

    @staticmethod
    def _mcp_cost(call: Call, error_type: str | None) -> int | None:
        return call.fixed_cost_nanousd if error_type is None else None

    def _due(self) -> None:
        self._timer = None
        if not self._stepping:
            self._stepping = True
            self._step()

    def _step(self) -> None:
        """One loop step of the batch: ``STEP`` calls, then the loop's other callbacks, then the next step."""
        try:
            self._process(STEP)
        finally:
            if self._ended:
                asyncio.get_running_loop().call_soon(self._step)
            else:
                self._stepping = False
                if self.tracing is not None:
                    self.tracing.ready()

    def _process(self, limit: int) -> None:
        ended = self._ended
        batch = ended[:limit]
        del ended[:limit]
        spans, tracing, cost_of, providers = self.spans, self.tracing, self._cost_of, self._providers
        writer = self._writer
        record = self.metrics.record
        for call, status, error_type, now, end_ns, output in batch:
            try:
                trace = call.trace
                if call.surface == "mcp":  # a tool call, a resource read, a prompt: its spans, no gen_ai metric
                    if tracing is not None and isinstance(trace, CallSpans) and trace.sampled:
                        cost = self._mcp_cost(call, error_type)
                        tracing.add(spans.tool_records(call, trace, status, error_type, cost, end_ns, now))
                    continue
                deployment = call.deployment
                if deployment is None:
                    cost, provider = None, "none"
                else:
                    cost = cost_of(call) if call.usage is not None and call.principal is not None else None
                    provider = providers.get(deployment.provider, deployment.provider)
                record(call, provider, status, error_type, cost, now - call.started, now)
                if tracing is not None and isinstance(trace, CallSpans) and trace.sampled:
                    fields = None
                    if writer is not None:
                        try:
                            fields = writer.fields(call, trace, status, error_type, cost, end_ns, now)
                        except Exception:  # a value the writer does not expect: the records encode what they can
                            log.debug("telemetry: request %s: spans through the records", call.id, exc_info=True)
                    if fields is not None:
                        tracing.add_fields(fields)
                    else:
                        tracing.add(spans.records(call, trace, status, error_type, cost, end_ns, now, output))
            except Exception:  # one call's bad value must not stop the others' metrics and spans
                log.exception("telemetry: request %s could not be recorded", call.id)

    async def process(self) -> None:
        """Process every ended call now, ``STEP`` at a time (a reader of the metrics or spans is about to look)."""
        while self._ended:
            self._process(STEP)
            if self._ended:
                await asyncio.sleep(0)
        if self.tracing is not None:
            self.tracing.ready()

    async def flush(self) -> None:
        """Process every ended call and send every span now (tests, shutdown)."""
        await self.process()
        if self.tracing is not None:
            await self.tracing.flush()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await self.process()
        if self.tracing is not None:
            await self.tracing.close()
        if self.metric_export is not None:
            await self.metric_export.close()
