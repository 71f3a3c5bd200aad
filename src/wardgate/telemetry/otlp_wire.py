"""OTLP/HTTP trace requests written straight in protobuf's wire format, for the export thread (tracing.py).

Building the same ``ExportTraceServiceRequest`` through the opentelemetry-proto message classes costs ~20 µs a span
(an object and a setter call per attribute); the spans of a gateway repeat the same attribute values (operation,
provider, models, deployment, project, status), so this encoder keeps each attribute's encoded ``KeyValue`` bytes by
value, and the attributes a span shares with others of its shape (``SpanRecord.shared``, one dict per shape) as one
block, so a span is a handful of byte joins. The bytes are those of the messages'
``SerializeToString`` (fields in field-number order), and tests/telemetry/test_otlp_wire.py checks that a collector
parses the same message from both, whatever the records.

The messages written (opentelemetry/proto/{collector/trace,trace,common,resource}/v1, field numbers in brackets):
``ExportTraceServiceRequest{resource_spans[1]: ResourceSpans{resource[1]: Resource{attributes[1]},
scope_spans[2]: ScopeSpans{scope[1]: InstrumentationScope{name[1]}, spans[2]: Span}}}``; ``Span{trace_id[1],
span_id[2], parent_span_id[4], name[5], kind[6], start_time_unix_nano[7] fixed64, end_time_unix_nano[8] fixed64,
attributes[9]: KeyValue{key[1], value[2]: AnyValue}, status[15]: Status{message[2], code[3]}, flags[16] fixed32}``;
``AnyValue{string_value[1], bool_value[2], int_value[3], double_value[4], array_value[5]: ArrayValue{values[1]}}``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wardgate.telemetry.tracing import SpanRecord

MAX_CACHED = 512  # encoded values kept per attribute key; a key whose values do not repeat (a request id) churns
_TIMES = struct.Struct("<BQBQ")  # start_time_unix_nano [7] and end_time_unix_nano [8], both fixed64
_FLAGS = struct.Struct("<I")
_DOUBLE = struct.Struct("<d")
_STATUS_ERROR = b"\x18\x02"  # Status.code [3] = STATUS_CODE_ERROR
_KINDS = {2: b"\x30\x02", 3: b"\x30\x03", 1: b"\x30\x01", 4: b"\x30\x04", 5: b"\x30\x05"}  # proto SpanKind [6]


def varint(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte(s), the payload's length, the payload."""
    return tag + varint(len(payload)) + payload


def _text(value: str) -> bytes:
    return value.encode("utf-8", "replace")  # a lone surrogate would make the whole batch unencodable


def any_value(value: Any) -> bytes:
    """An ``AnyValue``: str, bool, int, float, a list or tuple (of strings), anything else as its ``str``."""
    kind = value.__class__
    if kind is str:
        return field(b"\x0a", _text(value))
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        return b"\x18" + varint(value & 0xFFFFFFFFFFFFFFFF if value < 0 else value)  # int64: two's complement
    if kind is float:
        return b"\x21" + _DOUBLE.pack(value)
    if kind is list or kind is tuple:
        return field(b"\x2a", b"".join(field(b"\x0a", field(b"\x0a", _text(str(v)))) for v in value))
    return field(b"\x0a", _text(str(value)))


def key_value(key: str, value: Any) -> bytes:
    """A ``KeyValue``, as the payload of a repeated ``attributes`` field."""
    return field(b"\x0a", _text(key)) + field(b"\x12", any_value(value))


class WireEncoder:
    """Encodes batches of ``SpanRecord`` for one resource and instrumentation scope; one per export thread (its
    caches are not shared between threads)."""

    def __init__(self, resource: Mapping[str, Any], scope_name: str) -> None:
        self._resource = field(b"\x0a", b"".join(field(b"\x0a", key_value(k, v)) for k, v in resource.items()))
        self._scope = field(b"\x0a", field(b"\x0a", _text(scope_name)))
        self._attributes: dict[str, dict[Any, bytes]] = {}  # key → value (or (type, value)) → its attributes field
        self._names: dict[str, bytes] = {}  # span names (low-cardinality) → their name field
        # id of a span's ``shared`` attributes → (that dict, kept so its id is not reused while cached; its fields)
        self._shared: dict[int, tuple[Mapping[str, Any], bytes]] = {}

    def _attribute(self, key: str, value: Any) -> bytes:
        kind = value.__class__
        if kind is list or kind is tuple:
            return field(b"\x4a", key_value(key, value))
        by_value = self._attributes.get(key)
        if by_value is None:
            by_value = self._attributes[key] = {}
        index = value if kind is str else (kind, value)  # True == 1, but they encode differently
        found = by_value.get(index)
        if found is None:
            if len(by_value) >= MAX_CACHED:
                by_value.clear()
            found = by_value[index] = field(b"\x4a", key_value(key, value))
        return found

    def _name(self, name: str) -> bytes:
        found = self._names.get(name)
        if found is None:
            if len(self._names) >= MAX_CACHED:
                self._names.clear()
            found = self._names[name] = field(b"\x2a", _text(name)) if name else b""  # proto3: "" is not written
        return found

    def span(self, r: SpanRecord) -> bytes:
        """One ``Span`` message (without its enclosing field)."""
        parts = [b"\x0a\x10", r.trace_id.to_bytes(16, "big"), b"\x12\x08", r.span_id.to_bytes(8, "big")]
        if r.parent_id is not None:
            parts.append(b"\x22\x08")
            parts.append(r.parent_id.to_bytes(8, "big"))
        parts.append(self._name(r.name))
        parts.append(_KINDS[r.kind.value + 1])  # the proto's SpanKind counts UNSPECIFIED first
        parts.append(_TIMES.pack(0x39, r.start_ns, 0x41, r.end_ns))
        shared = r.shared  # encoded once per dict (the stage keeps one per shape of span)
        cached = self._shared.get(id(shared))
        if cached is None or cached[0] is not shared:
            if len(self._shared) >= MAX_CACHED:
                self._shared.clear()
            cached = self._shared[id(shared)] = (shared, b"".join(self._attribute(k, v) for k, v in shared.items()))
        parts.append(cached[1])
        cache = self._attributes
        append = parts.append
        for key, value in r.attributes.items():  # the cache inlined: this loop is most of the encoder's time
            kind = value.__class__
            by_value = cache.get(key)
            if by_value is not None and kind is not list and kind is not tuple:
                found = by_value.get(value if kind is str else (kind, value))
                if found is not None:
                    append(found)
                    continue
            append(self._attribute(key, value))
        if r.error_type is not None:
            message = field(b"\x12", _text(r.error_type)) if r.error_type else b""
            parts.append(field(b"\x7a", message + _STATUS_ERROR))
        parts.append(b"\x85\x01")  # flags [16], fixed32
        parts.append(_FLAGS.pack(0x301 if r.remote_parent else 0x101))
        return b"".join(parts)

    def encode(self, records: Iterable[SpanRecord]) -> bytes:
        """The ``ExportTraceServiceRequest`` of ``records``, ready to POST."""
        span = self.span
        spans = b"".join([field(b"\x12", span(r)) for r in records])
        scope_spans = field(b"\x12", self._scope + spans)
        return field(b"\x0a", self._resource + scope_spans)
