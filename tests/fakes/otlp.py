"""A real OTLP/HTTP receiver on loopback: decodes each ``POST /v1/traces`` protobuf body (the
``opentelemetry-proto`` messages a collector decodes) and keeps the spans, their attributes as plain values."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError
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
        self.bad_bodies = 0
        self._arrived = threading.Condition()

    def _record(self, recorded: RecordedRequest) -> None:  # bodies are protobuf: decoded in _serve
        super()._record(recorded)

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        if request.method != "POST" or request.path != "/v1/traces":
            return web.Response(status=404)
        if request.headers.get("content-type") != "application/x-protobuf":
            return web.Response(status=415)
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
