"""Span export on the worker's event loop: encoded spans wait in a bounded list and leave in batches as OTLP/HTTP
POSTs through the worker's own aiohttp session.

The request path never builds an OpenTelemetry SDK span (decision 025): a call keeps ids and timestamps
(``spans.CallSpans``); once it has ended, the stage's batch (stage.py) builds its spans as ``SpanRecord`` tuples and
hands them to ``add``, which encodes each in protobuf's wire format (``otlp_wire``) at once and keeps the bytes. A batch
leaves as soon as ``MAX_EXPORT_BATCH`` spans wait, or ``SCHEDULE_DELAY_S`` after the first of fewer, as one
``ExportTraceServiceRequest``. There is no export thread (decision 056): a thread had to take the GIL from the busy
event loop for every batch, and each hand-over cost the loop up to the interpreter's switch interval.

Sampling is the SDK's ``ParentBased(TraceIdRatioBased(ratio))``, computed the same way: an incoming ``traceparent``'s
sampled flag decides; otherwise the low 64 bits of the new trace id against ``ratio × 2^64``.

A collector that is down never slows a request: the POST is a task of its own (one at a time); one that fails or takes
longer than ``telemetry.export_timeout_s`` drops its batch, counted in ``dropped``; spans that find
``telemetry.export_queue`` spans already waiting are dropped and counted too.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple

import aiohttp
from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource
from opentelemetry.trace import SpanKind

from wardgate.config.telemetry import TelemetryConfig
from wardgate.telemetry.otlp_wire import WireEncoder

log = logging.getLogger("wardgate.telemetry")
SCHEDULE_DELAY_S = 1.0  # a batch leaves at least this often, or as soon as it is full
MAX_EXPORT_BATCH = 1024  # half the default export_queue: a batch in flight leaves room for the next
_LOW_64 = (1 << 64) - 1
SCOPE = "wardgate"  # the spans' instrumentation scope
Send = Callable[[bytes], Awaitable[bool]]


class SpanRecord(NamedTuple):
    """One finished span, as the stage's batch builds it."""

    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    remote_parent: bool  # the parent came in a `traceparent`
    kind: SpanKind
    start_ns: int
    end_ns: int
    shared: Mapping[str, Any]  # attributes many spans have alike: one dict, cached by the builder, never changed
    attributes: Mapping[str, Any]  # this span's own (request id, token counts, cost); a key in both is not allowed
    error_type: str | None


def worker_resource(config: TelemetryConfig) -> Resource:
    """The resource of a worker's spans and metrics: ``service.name``, and a ``service.instance.id`` of its own (a
    random UUID, as the resource conventions advise), so that the cumulative metric series of two workers, or two
    replicas, are never taken for one series."""
    return Resource.create({SERVICE_NAME: config.service_name, SERVICE_INSTANCE_ID: str(uuid.uuid4())})


class CountingExporter:
    """Sends encoded batches (``send``: the OTLP/HTTP POST), counting the items (spans, metric data points) the
    collector took and those dropped; never raises."""

    def __init__(self, send: Send, what: str = "spans") -> None:
        self.send = send
        self.what = what
        self.exported = 0
        self.dropped = 0
        self.down = False

    async def export(self, data: bytes, items: int) -> bool:
        try:
            ok = await self.send(data)
        except Exception:  # the export must go on whatever happened
            log.debug("telemetry: the OTLP POST raised", exc_info=True)
            ok = False
        if ok:
            self.exported += items
            if self.down:
                self.down = False
                log.warning("telemetry: the OTLP collector is reachable again (%s)", self.what)
        else:
            self.dropped += items
            if not self.down:  # one line per outage, not one per batch
                self.down = True
                log.warning(
                    "telemetry: the OTLP collector did not take a batch; %s are dropped until it does", self.what
                )
        return ok


class OtlpHttp:
    """OTLP/HTTP POSTs through the worker's aiohttp session (its pool keeps the connection to the collector alive).
    A connection the collector closed while idle is tried once more, on a new one; any other failure is False."""

    def __init__(
        self, session: aiohttp.ClientSession, endpoint: str, timeout_s: float, path: str = "/v1/traces"
    ) -> None:
        self._session = session
        self._url = f"{endpoint.rstrip('/')}{path}"
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers = {"Content-Type": "application/x-protobuf"}

    async def send(self, data: bytes) -> bool:
        for _ in range(2):
            try:
                async with self._session.post(
                    self._url, data=data, headers=self._headers, timeout=self._timeout
                ) as response:
                    await response.read()
                    return 200 <= response.status < 300
            except aiohttp.ClientConnectorError as exc:  # no connection at all: the collector is down
                log.debug("telemetry: OTLP POST failed: %r", exc)
                return False
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):  # it closed the kept connection
                continue
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
                log.debug("telemetry: OTLP POST failed: %r", exc)
                return False
        return False


class Tracing:
    """The worker's encoded spans and their export; ``flush`` and ``close`` send what waits (on the event loop)."""

    def __init__(self, config: TelemetryConfig, send: Send, resource: Resource | None = None) -> None:
        self.exporter = CountingExporter(send)
        self.resource = resource if resource is not None else worker_resource(config)
        self.encoder = WireEncoder(self.resource.attributes, SCOPE)
        self._bound = round(config.sample_ratio * (1 << 64))
        self._capacity = config.export_queue
        self._spans: list[bytes] = []  # encoded spans (each a ScopeSpans.spans field) waiting to leave
        self.queue_dropped = 0  # spans dropped because export_queue spans were waiting
        self._timer: asyncio.TimerHandle | None = None
        self._sending: asyncio.Task[None] | None = None
        self._everything = False  # the running send also sends a last batch of fewer than MAX_EXPORT_BATCH

    @property
    def dropped(self) -> int:
        return self.exporter.dropped + self.queue_dropped

    @property
    def waiting(self) -> int:
        return len(self._spans)

    def sampled(self, trace_id: int) -> bool:
        """``TraceIdRatioBased``'s decision for a new trace."""
        return (trace_id & _LOW_64) < self._bound

    def add(self, records: Sequence[SpanRecord]) -> None:
        """Encode a call's finished spans and keep them for export (a full queue drops them, counted)."""
        spans = self._spans
        if len(spans) + len(records) > self._capacity:
            self.queue_dropped += len(records)
            return
        field = self.encoder.span_field
        kept = len(spans)
        try:
            spans.extend(map(field, records))
        except Exception:  # a value no span can hold: drop that span, keep the others
            log.exception("telemetry: a span could not be encoded")
            del spans[kept:]
            for record in records:
                try:
                    spans.append(field(record))
                except Exception:  # that span again
                    self.exporter.dropped += 1

    def add_fields(self, fields: Sequence[bytes]) -> None:
        """Keep a call's spans, already encoded (``span_wire.SpanWriter``), for export (a full queue drops them,
        counted)."""
        spans = self._spans
        if len(spans) + len(fields) > self._capacity:
            self.queue_dropped += len(fields)
            return
        spans.extend(fields)

    def ready(self) -> None:
        """Spans were added (the stage's batch is done): send a full batch now, fewer within ``SCHEDULE_DELAY_S``."""
        n = len(self._spans)
        if n >= MAX_EXPORT_BATCH:
            self._send_soon(everything=False)
        elif n and self._timer is None and self._sending is None:
            self._timer = asyncio.get_running_loop().call_later(SCHEDULE_DELAY_S, self._due)

    def _due(self) -> None:
        self._timer = None
        self._send_soon(everything=True)

    def _send_soon(self, everything: bool) -> asyncio.Task[None]:
        self._everything = self._everything or everything
        if self._sending is None:
            self._sending = asyncio.get_running_loop().create_task(self._send())
        return self._sending

    async def _send(self) -> None:
        spans = self._spans
        try:
            while spans and (self._everything or len(spans) >= MAX_EXPORT_BATCH):
                batch = spans[:MAX_EXPORT_BATCH]
                del spans[:MAX_EXPORT_BATCH]
                await self.exporter.export(self.encoder.request(batch), len(batch))
        finally:
            self._sending = None
            self._everything = False
        if spans and self._timer is None:  # fewer than a batch: they leave within SCHEDULE_DELAY_S
            self._timer = asyncio.get_running_loop().call_later(SCHEDULE_DELAY_S, self._due)

    async def flush(self) -> None:
        """Send every span waiting now (and wait for a send under way)."""
        while self._spans or self._sending is not None:
            await self._send_soon(everything=True)

    async def close(self) -> None:
        """Send what waits, unless the collector is down: then what waits is dropped (counted) at once."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._sending is not None:
            await self._sending
        if self.exporter.down:
            self.exporter.dropped += len(self._spans)
            self._spans.clear()
            return
        await self.flush()
