"""Span export: records queued by the request path, turned into spans and sent as OTLP/HTTP in batches by one thread.

The request path never builds an OpenTelemetry SDK span: the SDK's live spans (attribute validation, locks, span
processors) cost ~100 µs a request, a fifth of the full path's CPU. A call keeps its ids and timestamps
(``stage.CallSpans``) and, when it ends, hands the finished spans to ``submit`` as plain ``SpanRecord`` tuples: a
bounded deque append. The export thread wakes every ``SCHEDULE_DELAY_S`` (or when a batch is full), encodes the
batch as an OTLP ``ExportTraceServiceRequest`` (written in protobuf's wire format by ``otlp_wire``) and POSTs it
(OTLP/HTTP, protobuf).

Sampling is the SDK's ``ParentBased(TraceIdRatioBased(ratio))``, computed the same way: an incoming ``traceparent``'s
sampled flag decides; otherwise the low 64 bits of the new trace id against ``ratio × 2^64``.

A collector that is down never slows a request: a POST that fails or takes longer than ``telemetry.export_timeout_s``
drops that batch and count its spans in ``dropped``; a full queue (at most
``telemetry.export_queue`` spans) drops spans too, counted as well.
"""

from __future__ import annotations

import http.client
import logging
import threading
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.trace import SpanKind

from wardgate.config.telemetry import TelemetryConfig
from wardgate.telemetry.otlp_wire import WireEncoder

log = logging.getLogger("wardgate.telemetry")
SCHEDULE_DELAY_S = 1.0  # a batch leaves at least this often, or as soon as it is full
MAX_EXPORT_BATCH = 512
_LOW_64 = (1 << 64) - 1
SCOPE = "wardgate"  # the spans' instrumentation scope


class SpanRecord(NamedTuple):
    """One finished span, as the request path leaves it."""

    name: str
    trace_id: int
    span_id: int
    parent_id: int | None
    remote_parent: bool  # the parent came in a `traceparent`
    kind: SpanKind
    start_ns: int
    end_ns: int
    shared: Mapping[str, Any]  # attributes many spans have alike: one dict, cached by the stage, never changed
    attributes: Mapping[str, Any]  # this span's own (request id, token counts, cost); a key in both is not allowed
    error_type: str | None


class CountingExporter:
    """Sends encoded batches (``send``: the OTLP/HTTP POST), counting the spans the collector took and those dropped;
    never raises."""

    def __init__(self, send: Callable[[bytes], bool]) -> None:
        self.send = send
        self.exported = 0
        self.dropped = 0
        self._down = False

    def export(self, data: bytes, spans: int) -> bool:
        try:
            ok = self.send(data)
        except Exception:  # the export thread must go on whatever happened
            ok = False
        if ok:
            self.exported += spans
            if self._down:
                self._down = False
                log.warning("telemetry: the OTLP collector is reachable again")
        else:
            self.dropped += spans
            if not self._down:  # one line per outage, not one per batch
                self._down = True
                log.warning("telemetry: the OTLP collector did not take a batch; spans are dropped until it does")
        return ok


class OtlpHttp:
    """The export thread's OTLP/HTTP client: one kept-alive connection to the collector (``http.client``; urllib
    opened a connection per batch and rebuilt its opener, proxy lookup included, ~2 ms of the export thread's CPU a
    batch). A connection the collector closed while idle is re-opened once for the same batch; any other failure
    drops the connection and the batch (counted by the caller). Used by one thread only."""

    def __init__(self, endpoint: str, timeout_s: float) -> None:
        url = urllib.parse.urlsplit(f"{endpoint.rstrip('/')}/v1/traces")
        self._https = url.scheme == "https"
        self._host = url.hostname or "127.0.0.1"
        self._port = url.port
        self._path = url.path + (f"?{url.query}" if url.query else "")
        self._timeout = timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self._headers = {"Content-Type": "application/x-protobuf"}

    def _connect(self) -> http.client.HTTPConnection:
        if self._https:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)

    def send(self, data: bytes) -> bool:
        for _ in range(2):
            reused = self._conn is not None
            conn = self._conn if self._conn is not None else self._connect()
            self._conn = None
            try:
                conn.request("POST", self._path, body=data, headers=self._headers)
                response = conn.getresponse()
                response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                conn.close()
                if reused:  # the collector closed the idle connection: once more on a new one
                    continue
                log.debug("telemetry: OTLP POST failed: %s", exc)
                return False
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()
                return False
            if response.will_close:
                conn.close()
            else:
                self._conn = conn
            return 200 <= response.status < 300
        return False

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Tracing:
    """The worker's span queue and its export thread; ``close`` exports what is queued (bounded by the timeout)."""

    def __init__(self, config: TelemetryConfig, send: Callable[[bytes], bool] | None = None) -> None:
        assert config.otlp_endpoint is not None or send is not None
        self._client: OtlpHttp | None = None
        if send is None:
            assert config.otlp_endpoint is not None
            self._client = OtlpHttp(config.otlp_endpoint, config.export_timeout_s)
            send = self._client.send
        self.exporter = CountingExporter(send)
        self.resource = Resource.create({SERVICE_NAME: config.service_name})
        self.encoder = WireEncoder(self.resource.attributes, SCOPE)  # used by the export thread only (or flush)
        self._bound = round(config.sample_ratio * (1 << 64))
        self._capacity = config.export_queue
        self._queue: deque[SpanRecord] = deque()
        self.queue_dropped = 0  # spans dropped because the queue was full (the request path's thread only)
        self._wake = threading.Event()
        self._export_lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="wardgate-otlp-export", daemon=True)
        self._thread.start()

    @property
    def dropped(self) -> int:
        return self.exporter.dropped + self.queue_dropped

    def sampled(self, trace_id: int) -> bool:
        """``TraceIdRatioBased``'s decision for a new trace."""
        return (trace_id & _LOW_64) < self._bound

    def submit(self, records: Sequence[SpanRecord]) -> None:
        """Queue a call's finished spans (never blocks; a full queue drops them, counted)."""
        queue = self._queue
        if len(queue) + len(records) > self._capacity:
            self.queue_dropped += len(records)
            return
        queue.extend(records)
        if len(queue) >= MAX_EXPORT_BATCH and not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(SCHEDULE_DELAY_S)
            self._wake.clear()
            self._drain()

    def _drain(self) -> None:
        with self._export_lock:
            queue = self._queue
            while queue:
                batch = [queue.popleft() for _ in range(min(MAX_EXPORT_BATCH, len(queue)))]
                try:
                    data = self.encoder.encode(batch)
                except Exception:  # a value no span can hold: drop the batch, keep the thread
                    log.exception("telemetry: a batch of spans could not be encoded")
                    self.exporter.dropped += len(batch)
                    continue
                self.exporter.export(data, len(batch))

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Blocking (call from a thread: tests, shutdown): export everything queued now."""
        self._drain()
        return True

    def close(self) -> None:
        """Blocking: call from a thread."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)
        self._drain()
        if self._client is not None:
            self._client.close()
