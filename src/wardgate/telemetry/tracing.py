"""The OpenTelemetry SDK pieces: one private TracerProvider per worker, exporting OTLP/HTTP in batches from the SDK's
own thread, so the request path only appends a finished span to a bounded queue.

A collector that is down never slows a request: the exporter's failures (after its own short retries, bounded by
``telemetry.export_timeout_s``) drop that batch and count its spans in ``dropped``; a full queue drops spans too (the
SDK keeps at most ``telemetry.export_queue``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Tracer

from wardgate.config.telemetry import TelemetryConfig

log = logging.getLogger("wardgate.telemetry")
SCHEDULE_DELAY_MS = 1000  # a batch leaves at least this often, or as soon as it is full
MAX_EXPORT_BATCH = 512


class CountingExporter(SpanExporter):
    """The OTLP exporter, counting what reached the collector and what was dropped; never raises."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.dropped = 0
        self._down = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception:  # the SDK's thread must go on whatever the exporter did
            result = SpanExportResult.FAILURE
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
            if self._down:
                self._down = False
                log.warning("telemetry: the OTLP collector is reachable again")
        else:
            self.dropped += len(spans)
            if not self._down:  # one line per outage, not one per batch
                self._down = True
                log.warning("telemetry: the OTLP collector did not take a batch; spans are dropped until it does")
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class Tracing:
    """The worker's tracer and its export pipeline; ``close`` flushes what is queued (bounded by the timeout)."""

    def __init__(self, config: TelemetryConfig, exporter: SpanExporter | None = None) -> None:
        assert config.otlp_endpoint is not None or exporter is not None
        if exporter is None:
            exporter = OTLPSpanExporter(endpoint=f"{config.otlp_endpoint}/v1/traces", timeout=config.export_timeout_s)
        self.exporter = CountingExporter(exporter)
        self.provider = TracerProvider(
            resource=Resource.create({SERVICE_NAME: config.service_name}),
            sampler=ParentBased(TraceIdRatioBased(config.sample_ratio)),
        )
        self.processor = BatchSpanProcessor(
            self.exporter,
            max_queue_size=config.export_queue,
            schedule_delay_millis=SCHEDULE_DELAY_MS,
            max_export_batch_size=min(MAX_EXPORT_BATCH, config.export_queue),
            export_timeout_millis=int(config.export_timeout_s * 1000),
        )
        self.provider.add_span_processor(self.processor)
        self.tracer: Tracer = self.provider.get_tracer("wardgate")

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Blocking: call from a thread (tests, shutdown)."""
        return self.provider.force_flush(int(timeout_s * 1000))

    def close(self) -> None:
        """Blocking: call from a thread."""
        self.provider.shutdown()
