"""OTLP/HTTP trace requests written straight in protobuf's wire format, for the span export (tracing.py).

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
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind

if TYPE_CHECKING:
    from wardgate.telemetry.tracing import SpanRecord

MAX_CACHED = 512  # encoded values kept per attribute key; a key whose values do not repeat (a request id) churns
_TIMES = struct.Struct("<BQBQ")  # start_time_unix_nano [7] and end_time_unix_nano [8], both fixed64
_IDS = struct.Struct(">BBQQBBQ")  # trace_id [1] (16 bytes, big-endian as the id reads), span_id [2]
_IDS_PARENT = struct.Struct(">BBQQBBQBBQ")  # … and parent_span_id [4]
_LOW_64 = (1 << 64) - 1
FLAGS_LOCAL = b"\x85\x01" + struct.pack("<I", 0x101)  # flags [16], fixed32: has-remote-parent known, local
FLAGS_REMOTE = b"\x85\x01" + struct.pack("<I", 0x301)  # … remote
_DOUBLE = struct.Struct("<d")
_STATUS_ERROR = b"\x18\x02"  # Status.code [3] = STATUS_CODE_ERROR
_KIND_VALUES = {id(kind): kind.value for kind in SpanKind}  # by identity: an enum's own hash is Python code
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


SHORT = 1 << 14  # lengths below this have their varint precomputed
LENGTHS = [varint(n) for n in range(SHORT)]
SPAN_TAGS = [b"\x12" + varint(n) for n in range(SHORT)]  # ScopeSpans.spans [2] and a span's length


def field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: its tag byte(s), the payload's length, the payload."""
    return tag + varint(len(payload)) + payload


def text(value: str) -> bytes:
    return value.encode("utf-8", "replace")  # a lone surrogate would make the whole batch unencodable


def any_value(value: Any) -> bytes:
    """An ``AnyValue``: str, bool, int, float, a list or tuple (of strings), anything else as its ``str``."""
    kind = value.__class__
    if kind is str:
        return field(b"\x0a", text(value))
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        return b"\x18" + varint(value & 0xFFFFFFFFFFFFFFFF if value < 0 else value)  # int64: two's complement
    if kind is float:
        return b"\x21" + _DOUBLE.pack(value)
    if kind is list or kind is tuple:
        return field(b"\x2a", b"".join(field(b"\x0a", field(b"\x0a", text(str(v)))) for v in value))
    return field(b"\x0a", text(str(value)))


def key_value(key: str, value: Any) -> bytes:
    """A ``KeyValue``, as the payload of a repeated ``attributes`` field."""
    return field(b"\x0a", text(key)) + field(b"\x12", any_value(value))


class WireEncoder:
    """Encodes batches of ``SpanRecord`` for one resource and instrumentation scope; one per worker, used on its event
    loop only (its caches are not shared between threads)."""

    def __init__(self, resource: Mapping[str, Any], scope_name: str) -> None:
        self._resource = field(b"\x0a", b"".join(field(b"\x0a", key_value(k, v)) for k, v in resource.items()))
        self._scope = field(b"\x0a", field(b"\x0a", text(scope_name)))
        self._attributes: dict[str, dict[Any, bytes]] = {}  # key → value (or (type, value)) → its attributes field
        # keys whose values did not repeat (a request id, a TTFT): their cache filled up once, so they are encoded
        # each time (their key's bytes kept) rather than cached and emptied over and over
        self._unique: dict[str, bytes] = {}
        self._heads: dict[tuple[str, int], bytes] = {}  # (span name, kind) → its name [5] and kind [6] fields
        # id of a span's ``shared`` attributes → (that dict, kept so its id is not reused while cached; its fields)
        self._shared: dict[int, tuple[Mapping[str, Any], bytes]] = {}

    def _attribute(self, key: str, value: Any) -> bytes:
        kind = value.__class__
        if kind is list or kind is tuple:
            return field(b"\x4a", key_value(key, value))
        prefix = self._unique.get(key)
        if prefix is not None:
            return field(b"\x4a", prefix + field(b"\x12", any_value(value)))
        by_value = self._attributes.get(key)
        if by_value is None:
            by_value = self._attributes[key] = {}
        # True == 1 == 1.0, but they encode differently: only str and int values are their own index
        index = value if kind is str or kind is int else (kind, value)
        found = by_value.get(index)
        if found is None:
            if len(by_value) >= MAX_CACHED:  # a key whose values do not repeat: no more caching for it
                del self._attributes[key]
                self._unique[key] = field(b"\x0a", text(key))
                return field(b"\x4a", key_value(key, value))
            found = by_value[index] = field(b"\x4a", key_value(key, value))
        return found

    def head(self, name: str, kind: int) -> bytes:
        """A span's name [5] and kind [6] fields (``kind``: the ``SpanKind`` value)."""
        found = self._heads.get((name, kind))
        if found is None:
            if len(self._heads) >= MAX_CACHED:
                self._heads.clear()
            named = field(b"\x2a", text(name)) if name else b""  # proto3: "" is not written
            found = self._heads[(name, kind)] = (
                named + _KINDS[kind + 1]
            )  # the proto's SpanKind counts UNSPECIFIED first
        return found

    def attribute_field(self, key: str, value: Any) -> bytes:
        """One ``Span.attributes`` field, as ``span_field`` writes it."""
        return self._attribute(key, value)

    def shared_fields(self, shared: Mapping[str, Any]) -> bytes:
        """The ``Span.attributes`` fields of a span's shared attributes, in their order."""
        return b"".join(self._attribute(k, v) for k, v in shared.items())

    def span_field(self, r: SpanRecord) -> bytes:
        """One ``Span`` message as a ``ScopeSpans.spans`` field (its tag and length first), ready for ``request``."""
        trace_id = r.trace_id
        if r.parent_id is None:
            ids = _IDS.pack(0x0A, 0x10, trace_id >> 64, trace_id & _LOW_64, 0x12, 0x08, r.span_id)
        else:
            ids = _IDS_PARENT.pack(
                0x0A, 0x10, trace_id >> 64, trace_id & _LOW_64, 0x12, 0x08, r.span_id, 0x22, 0x08, r.parent_id
            )
        kind = _KIND_VALUES[id(r.kind)]
        head = self._heads.get((r.name, kind))
        if head is None:
            head = self.head(r.name, kind)
        shared = r.shared  # encoded once per dict (the stage keeps one per shape of span)
        cached = self._shared.get(id(shared))
        if cached is None or cached[0] is not shared:
            if len(self._shared) >= MAX_CACHED:
                self._shared.clear()
            cached = self._shared[id(shared)] = (shared, self.shared_fields(shared))
        parts = [ids, head, _TIMES.pack(0x39, r.start_ns, 0x41, r.end_ns), cached[1]]
        cache = self._attributes
        unique = self._unique
        append = parts.append
        for key, value in r.attributes.items():  # the caches inlined: this loop is most of the encoder's time
            kind = value.__class__
            by_value = cache.get(key)
            if by_value is not None and kind is not list and kind is not tuple:
                found = by_value.get(value if kind is str or kind is int else (kind, value))
                if found is not None:
                    append(found)
                    continue
            elif kind is str or (kind is int and value >= 0):
                prefix = unique.get(key)  # a key whose values do not repeat (a request id): written directly
                if prefix is not None:
                    data = text(value) if kind is str else varint(value)
                    n = len(data)
                    if n < SHORT:  # AnyValue{string_value [1] | int_value [3]} in KeyValue.value [2]
                        any_of = (b"\x0a" + LENGTHS[n] if kind is str else b"\x18") + data
                        pair = prefix + b"\x12" + LENGTHS[len(any_of)] + any_of
                        append(b"\x4a" + LENGTHS[len(pair)] + pair)  # Span.attributes [9]
                        continue
            append(self._attribute(key, value))
        if r.error_type is not None:
            message = field(b"\x12", text(r.error_type)) if r.error_type else b""
            append(field(b"\x7a", message + _STATUS_ERROR))
        append(FLAGS_REMOTE if r.remote_parent else FLAGS_LOCAL)
        n = sum(map(len, parts))
        parts[0] = (SPAN_TAGS[n] if n < SHORT else b"\x12" + varint(n)) + ids  # spans [2], length-delimited
        return b"".join(parts)

    def request(self, span_fields: Sequence[bytes]) -> bytes:
        """The ``ExportTraceServiceRequest`` of spans encoded by ``span_field``, ready to POST (one copy of the
        spans' bytes: the enclosing fields' lengths are summed, not measured on joined bytes)."""
        scope_n = len(self._scope) + sum(map(len, span_fields))
        scope_head = b"\x12" + varint(scope_n)  # ResourceSpans.scope_spans [2]
        resource_n = len(self._resource) + len(scope_head) + scope_n
        head = b"\x0a" + varint(resource_n) + self._resource + scope_head + self._scope  # resource_spans [1]
        return b"".join((head, *span_fields))

    def encode(self, records: Iterable[SpanRecord]) -> bytes:
        """The ``ExportTraceServiceRequest`` of ``records``, ready to POST."""
        return self.request([self.span_field(r) for r in records])
