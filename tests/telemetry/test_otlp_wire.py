"""The wire-format encoder against the opentelemetry-proto messages: for any records, a collector parses the same
``ExportTraceServiceRequest`` from both (and the bytes are the same), and a batch encodes the same whatever the
attribute caches hold."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Status
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.trace import SpanKind

from wardgate.telemetry import otlp_wire
from wardgate.telemetry.otlp_wire import WireEncoder
from wardgate.telemetry.tracing import SpanRecord


def _set(target: AnyValue, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, list | tuple):
        target.array_value.values.extend(AnyValue(string_value=str(v)) for v in value)
    else:
        target.string_value = str(value)


def reference(records: Sequence[SpanRecord], resource: Mapping[str, Any], scope: str) -> ExportTraceServiceRequest:
    """The request built field by field with the message classes (as the SDK's encoder lays spans out)."""
    request = ExportTraceServiceRequest()
    spans_of = request.resource_spans.add()
    for key, value in resource.items():
        _set(spans_of.resource.attributes.add(key=key).value, value)
    scoped = spans_of.scope_spans.add()
    scoped.scope.name = scope
    for r in records:
        span = scoped.spans.add(
            trace_id=r.trace_id.to_bytes(16, "big"),
            span_id=r.span_id.to_bytes(8, "big"),
            name=r.name,
            kind=r.kind.value + 1,
            start_time_unix_nano=r.start_ns,
            end_time_unix_nano=r.end_ns,
            flags=0x301 if r.remote_parent else 0x101,
        )
        if r.parent_id is not None:
            span.parent_span_id = r.parent_id.to_bytes(8, "big")
        for key, value in [*r.shared.items(), *r.attributes.items()]:
            _set(span.attributes.add(key=key).value, value)
        if r.error_type is not None:
            span.status.code = Status.STATUS_CODE_ERROR
            span.status.message = r.error_type
    return request


VALUES: list[Any] = [
    "",
    "chat",
    "gpt-4o-mini",
    "ü€𝄞 and a long one " + "x" * 300,
    True,
    False,
    0,
    1,
    127,
    128,
    300,
    2**40,
    2**63 - 1,
    -1,
    -(2**63),
    0.0,
    1.5,
    -2.25,
    1e300,
    ["openai/a:timeout", "b:rate_limited"],
    [],
    ("x",),
]


def records(rng: random.Random, n: int) -> list[SpanRecord]:
    keys = [f"gen_ai.k{i}" for i in range(12)] + ["wardgate.request_id"]
    shapes = [{}, *({f"shared.k{i}": rng.choice(VALUES) for i in range(rng.randint(1, 9))} for _ in range(5))]
    out = []
    for i in range(n):
        attributes = {k: rng.choice(VALUES) for k in rng.sample(keys, rng.randint(0, len(keys) - 1))}
        attributes["wardgate.request_id"] = f"{rng.getrandbits(96):024x}"
        shared = rng.choice(shapes)  # the same dict object for many spans, as the stage keeps them
        parent = rng.choice([None, rng.getrandbits(64) or 1])
        start = rng.getrandbits(63)
        out.append(
            SpanRecord(
                rng.choice(["chat small", "chat unknown", "embeddings vec", f"chat gpt-{i % 7}", ""]),
                rng.getrandbits(128) or 1,
                rng.getrandbits(64) or 1,
                parent,
                parent is not None and rng.random() < 0.5,
                rng.choice([SpanKind.SERVER, SpanKind.CLIENT, SpanKind.INTERNAL]),
                start,
                start + rng.getrandbits(30),
                shared,
                attributes,
                rng.choice([None, None, "timeout", "invalid_request_error", ""]),
            )
        )
    return out


def test_the_wire_bytes_are_the_messages_bytes_for_any_records() -> None:
    rng = random.Random(15)
    resource = Resource.create({SERVICE_NAME: "wardgate-test"}).attributes
    encoder = WireEncoder(resource, "wardgate")
    for size in (0, 1, 2, 7, 200):
        batch = records(rng, size)
        expected = reference(batch, resource, "wardgate")
        data = encoder.encode(batch)
        parsed = ExportTraceServiceRequest()
        parsed.ParseFromString(data)
        assert parsed == expected
        assert data == expected.SerializeToString()


def test_full_caches_are_emptied_and_encode_the_same(monkeypatch: Any) -> None:
    monkeypatch.setattr(otlp_wire, "MAX_CACHED", 3)
    rng = random.Random(7)
    resource = {SERVICE_NAME: "w"}
    encoder = WireEncoder(resource, "wardgate")
    for _ in range(5):
        batch = records(rng, 40)
        assert encoder.encode(batch) == reference(batch, resource, "wardgate").SerializeToString()
    assert all(len(cached) <= 3 for cached in encoder._attributes.values())
    assert "wardgate.request_id" in encoder._unique  # its values never repeat: written directly, the same bytes


def test_a_string_no_utf8_can_hold_is_replaced_not_raised() -> None:
    encoder = WireEncoder({SERVICE_NAME: "w"}, "wardgate")
    record = SpanRecord("chat x", 1, 2, None, False, SpanKind.SERVER, 1, 2, {}, {"k": "a\ud800b"}, None)
    parsed = ExportTraceServiceRequest()
    parsed.ParseFromString(encoder.encode([record]))
    assert parsed.resource_spans[0].scope_spans[0].spans[0].attributes[0].value.string_value == "a?b"
