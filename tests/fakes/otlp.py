"""A real OTLP/HTTP receiver on loopback: decodes each ``POST /v1/traces`` and ``POST /v1/metrics`` protobuf body (the
``opentelemetry-proto`` messages a collector decodes) and keeps the spans and the metric data points, their
attributes as plain values."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.fakes.server import LoopbackServer, RecordedRequest


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int  # the proto's SpanKind: 2 server, 3 client
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    status_code: int  # 0 unset, 1 ok, 2 error


@dataclass(frozen=True, slots=True)
class ReceivedPoint:
    """One metric data point as a collector sees it, with its metric's definition and its resource."""

    export: int  # which POST it came in (counting from 0), per resource instance
    resource: dict[str, Any]
    scope: str
    name: str
    unit: str
    description: str
    kind: str  # "histogram" | "sum" | what else the Metric's data oneof holds
    temporality: int  # 2: cumulative
    monotonic: bool
    attributes: dict[str, Any]
    start_ns: int
    time_ns: int
    count: int  # histograms
    sum: float  # histograms
    bucket_counts: list[int]
    bounds: list[float]
    value: float | int | None  # sums: as_int or as_double

    @property
    def instance(self) -> str:
        return str(self.resource.get("service.instance.id"))


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind) if kind is not None else None


class FakeOTLP(LoopbackServer):
    thread_name = "fake-otlp"

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[ReceivedSpan] = []
        self.points: list[ReceivedPoint] = []
        self.metric_exports: dict[str, int] = {}  # service.instance.id → POSTs of metrics received
        self.bad_bodies = 0
        self._arrived = threading.Condition()

    def _record(self, recorded: RecordedRequest) -> None:  # bodies are protobuf: decoded in _serve
        super()._record(recorded)

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        if request.method != "POST" or request.path not in ("/v1/traces", "/v1/metrics"):
            return web.Response(status=404)
        if request.headers.get("content-type") != "application/x-protobuf":
            return web.Response(status=415)
        if request.path == "/v1/metrics":
            return self._metrics(recorded.body)
        message = ExportTraceServiceRequest()
        try:
            message.ParseFromString(recorded.body)
        except DecodeError:
            self.bad_bodies += 1
            return web.Response(status=400)
        spans = []
        for resource_spans in message.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    spans.append(
                        ReceivedSpan(
                            service=str(resource.get("service.name")),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes={a.key: _value(a.value) for a in span.attributes},
                            status_code=span.status.code,
                        )
                    )
        with self._arrived:
            self.spans.extend(spans)
            self._arrived.notify_all()
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    def _metrics(self, body: bytes) -> web.Response:
        message = ExportMetricsServiceRequest()
        try:
            message.ParseFromString(body)
        except DecodeError:
            self.bad_bodies += 1
            return web.Response(status=400)
        points = []
        with self._arrived:
            for resource_metrics in message.resource_metrics:
                resource = {a.key: _value(a.value) for a in resource_metrics.resource.attributes}
                instance = str(resource.get("service.instance.id"))
                export = self.metric_exports.get(instance, 0)
                self.metric_exports[instance] = export + 1
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        kind = metric.WhichOneof("data") or ""
                        data = getattr(metric, kind) if kind else None
                        for p in getattr(data, "data_points", ()):
                            number = p.WhichOneof("value") if kind in ("sum", "gauge") else None
                            points.append(
                                ReceivedPoint(
                                    export=export,
                                    resource=resource,
                                    scope=scope_metrics.scope.name,
                                    name=metric.name,
                                    unit=metric.unit,
                                    description=metric.description,
                                    kind=kind,
                                    temporality=getattr(data, "aggregation_temporality", 0),
                                    monotonic=getattr(data, "is_monotonic", False),
                                    attributes={a.key: _value(a.value) for a in p.attributes},
                                    start_ns=p.start_time_unix_nano,
                                    time_ns=p.time_unix_nano,
                                    count=getattr(p, "count", 0),
                                    sum=getattr(p, "sum", 0.0),
                                    bucket_counts=list(getattr(p, "bucket_counts", ())),
                                    bounds=list(getattr(p, "explicit_bounds", ())),
                                    value=getattr(p, number) if number else None,
                                )
                            )
            self.points.extend(points)
            self._arrived.notify_all()
        return web.Response(
            body=ExportMetricsServiceResponse().SerializeToString(), content_type="application/x-protobuf"
        )

    def latest(self) -> dict[str, list[ReceivedPoint]]:
        """service.instance.id → the data points of its last metric export (cumulative: the whole state then)."""
        last: dict[str, int] = {}
        for p in self.points:
            last[p.instance] = max(last.get(p.instance, -1), p.export)
        out: dict[str, list[ReceivedPoint]] = {i: [] for i in last}
        for p in self.points:
            if p.export == last[p.instance]:
                out[p.instance].append(p)
        return out

    def wait_until(self, done: Callable[[], bool], timeout: float = 30.0) -> None:
        """Until ``done()`` holds, checked each time something arrives (a condition, not a sleep)."""
        with self._arrived:
            if not self._arrived.wait_for(done, timeout):
                raise TimeoutError("the OTLP receiver did not get what was awaited")
