"""An ended call's request span and upstream-attempt spans written straight to OTLP wire bytes (decision 066).

``SpanBuilder.records`` then ``WireEncoder.span_field`` build each span as a ``SpanRecord`` with an attribute dict,
then walk both generically. Counted with callgrind on a served worker, that was ~60 % of the instructions tracing
added to a chat request, most of it interpreter work per record field and per attribute. ``SpanWriter.fields``
writes the same bytes (tests/telemetry/test_span_wire.py checks them against the two-step path, call by call) with
what spans of one shape have in common kept ready: the name and kind fields and the shared attributes, and for each
attribute key a prefix per value width, so that a token count is a table lookup and one concatenation. The stages'
child spans (guard, cache, route: rarer, and of many shapes) still go through the records.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

from wardgate.core.call import Call
from wardgate.telemetry import semconv
from wardgate.telemetry.context import CallSpans
from wardgate.telemetry.otlp_wire import (
    FLAGS_LOCAL,
    FLAGS_REMOTE,
    LENGTHS,
    MAX_CACHED,
    SHORT,
    SPAN_TAGS,
    WireEncoder,
    field,
    text,
    varint,
)
from wardgate.telemetry.spans import MAX_SHAPES, SpanBuilder
from wardgate.telemetry.tracing import SpanRecord

_LOW_64 = (1 << 64) - 1
_IDS = struct.Struct(">BBQQBBQ")  # trace_id [1] (16 bytes, big-endian), span_id [2]
_IDS_PARENT = struct.Struct(">BBQQBBQBBQ")  # … and parent_span_id [4]
_TIMES = struct.Struct("<BQBQ")  # start_time_unix_nano [7], end_time_unix_nano [8]
_DOUBLE = struct.Struct("<d")
_SERVER, _CLIENT = 1, 2  # opentelemetry.trace.SpanKind values
_USAGE_KEYS = (
    semconv.INPUT_TOKENS,
    semconv.OUTPUT_TOKENS,
    semconv.CACHE_READ_TOKENS,
    semconv.CACHE_CREATION_TOKENS,
    semconv.REASONING_TOKENS,
)


def int_prefixes(key: str) -> tuple[bytes, ...]:
    """A ``Span.attributes [9]`` field of ``key`` up to its int value's varint, by the varint's width (1-10): only
    the value's bytes are left to add (``KeyValue{key [1], value [2]: AnyValue{int_value [3]}}``)."""
    name = field(b"\x0a", text(key))
    out = [b""]
    for width in range(1, 11):
        pair = len(name) + 2 + 1 + width  # the key field, the value's tag and length, the int's tag, the varint
        out.append(b"\x4a" + varint(pair) + name + b"\x12" + varint(1 + width) + b"\x18")
    return tuple(out)


def float_prefix(key: str) -> bytes:
    """… up to a double's 8 bytes (``AnyValue{double_value [4]}``, fixed64)."""
    name = field(b"\x0a", text(key))
    return b"\x4a" + varint(len(name) + 2 + 9) + name + b"\x12\x09\x21"


def status_field(error_type: str) -> bytes:
    """``Span.status [15]``: code ERROR, the error type as its message."""
    message = field(b"\x12", text(error_type)) if error_type else b""
    return field(b"\x7a", message + b"\x18\x02")


class SpanWriter:
    """The request span and upstream-attempt spans of ended calls as ``ScopeSpans.spans`` fields (what
    ``WireEncoder.span_field`` gives for each of ``SpanBuilder.records``); one per worker, used on its event loop."""

    def __init__(self, builder: SpanBuilder, encoder: WireEncoder) -> None:
        self._builder = builder
        self._encoder = encoder
        # id of a shape's shared attributes → (that dict, kept so its id is not reused while cached; its name and
        # kind fields; its attributes fields)
        self._blocks: dict[int, tuple[Mapping[str, Any], bytes, bytes]] = {}
        self._statuses: dict[str, bytes] = {}
        self._request_id = field(b"\x0a", text("wardgate.request_id"))
        self._id_heads: dict[int, bytes] = {}  # the request id's field up to its bytes, by their length
        self._usage = tuple(int_prefixes(key) for key in _USAGE_KEYS)
        self._max_tokens = (int_prefixes(semconv.REQUEST_MAX_TOKENS), float_prefix(semconv.REQUEST_MAX_TOKENS))
        self._temperature = (int_prefixes(semconv.REQUEST_TEMPERATURE), float_prefix(semconv.REQUEST_TEMPERATURE))
        self._cost = int_prefixes("wardgate.cost_nanousd")
        self._ttft = float_prefix("wardgate.ttft_ms")

    def _block(self, shared: Mapping[str, Any], name: str, kind: int) -> tuple[Mapping[str, Any], bytes, bytes]:
        if len(self._blocks) >= MAX_CACHED:
            self._blocks.clear()
        encoder = self._encoder
        found = self._blocks[id(shared)] = (shared, encoder.head(name, kind), encoder.shared_fields(shared))
        return found

    def _status(self, error_type: str) -> bytes:
        found = self._statuses.get(error_type)
        if found is None:
            if len(self._statuses) >= MAX_SHAPES:
                self._statuses.clear()
            found = self._statuses[error_type] = status_field(error_type)
        return found

    def _id_head(self, n: int) -> bytes:
        """The request id's attribute field up to its ``n`` bytes (``AnyValue{string_value [1]}``)."""
        if len(self._id_heads) >= MAX_CACHED:
            self._id_heads.clear()
        value = b"\x0a" + varint(n)
        pair = len(self._request_id) + 1 + len(varint(len(value) + n)) + len(value) + n
        head = b"\x4a" + varint(pair) + self._request_id + b"\x12" + varint(len(value) + n) + value
        self._id_heads[n] = head
        return head

    def _int(self, index: int, count: Any) -> bytes:
        """A usage count beyond the table (large, negative, not an int)."""
        if count.__class__ is int and count >= 0:
            data = varint(count)
            return self._usage[index][len(data)] + data
        return self._encoder.attribute_field(_USAGE_KEYS[index], count)

    def _number(self, prefixes: tuple[tuple[bytes, ...], bytes], value: Any, key: str) -> bytes:
        """A request's int or float value (max_tokens, temperature)."""
        if value.__class__ is int and value >= 0:
            data = LENGTHS[value] if value < SHORT else varint(value)
            return prefixes[0][len(data)] + data
        if value.__class__ is float:
            return prefixes[1] + _DOUBLE.pack(value)
        return self._encoder.attribute_field(key, value)

    def fields(
        self,
        call: Call,
        trace: CallSpans,
        status: int,
        error_type: str | None,
        cost: int | None,
        end_ns: int,
        now: float,
    ) -> list[bytes]:
        """The call's request span, then one span per upstream attempt, then the stages' child spans (``end_ns`` and
        ``now``: the call's end by both clocks); the order and bytes of ``records`` encoded span by span."""
        builder = self._builder
        principal = call.principal
        usage = call.usage
        counted = usage is not None and principal is not None
        shared, name = builder.root(call, status, error_type, counted)
        blocks = self._blocks
        block = blocks.get(id(shared))
        if block is None or block[0] is not shared:
            block = self._block(shared, name, _SERVER)
        trace_id, span_id, parent_id = trace.trace_id, trace.span_id, trace.parent_id
        high, low = trace_id >> 64, trace_id & _LOW_64
        if parent_id is None:
            ids = _IDS.pack(0x0A, 0x10, high, low, 0x12, 0x08, span_id)
        else:
            ids = _IDS_PARENT.pack(0x0A, 0x10, high, low, 0x12, 0x08, span_id, 0x22, 0x08, parent_id)
        data = call.id.encode("utf-8", "replace")
        head = self._id_heads.get(len(data))
        if head is None:
            head = self._id_head(len(data))
        parts = [ids, block[1], _TIMES.pack(0x39, end_ns - int((now - call.started) * 1e9), 0x41, end_ns), block[2]]
        append = parts.append
        append(head + data)
        if usage is not None and counted:
            ints = self._usage
            count = usage.input_tokens  # the five counts written out: this runs once per call
            if count.__class__ is int and 0 <= count < SHORT:
                append(ints[0][len(LENGTHS[count])] + LENGTHS[count])
            else:
                append(self._int(0, count))
            count = usage.output_tokens
            if count.__class__ is int and 0 <= count < SHORT:
                append(ints[1][len(LENGTHS[count])] + LENGTHS[count])
            else:
                append(self._int(1, count))
            count = usage.cached_tokens
            if count.__class__ is int and 0 <= count < SHORT:
                append(ints[2][len(LENGTHS[count])] + LENGTHS[count])
            else:
                append(self._int(2, count))
            count = usage.cache_write_tokens
            if count.__class__ is int and 0 <= count < SHORT:
                append(ints[3][len(LENGTHS[count])] + LENGTHS[count])
            else:
                append(self._int(3, count))
            count = usage.reasoning_tokens
            if count.__class__ is int and 0 <= count < SHORT:
                append(ints[4][len(LENGTHS[count])] + LENGTHS[count])
            else:
                append(self._int(4, count))
        body = call.body
        number = body.get("max_tokens")
        if number is not None and (number.__class__ is int or number.__class__ is float):
            append(self._number(self._max_tokens, number, semconv.REQUEST_MAX_TOKENS))
        number = body.get("temperature")
        if number is not None and (number.__class__ is int or number.__class__ is float):
            append(self._number(self._temperature, number, semconv.REQUEST_TEMPERATURE))
        if cost is not None:
            if cost.__class__ is int and cost >= 0:
                data = LENGTHS[cost] if cost < SHORT else varint(cost)
                append(self._cost[len(data)] + data)
            else:
                append(self._encoder.attribute_field("wardgate.cost_nanousd", cost))
        first = call.first_token_at
        if first is not None:
            append(self._ttft + _DOUBLE.pack(round((first - call.started) * 1000, 3)))
        if error_type is not None:
            append(self._status(error_type))
        append(FLAGS_REMOTE if trace.remote else FLAGS_LOCAL)
        data = b"".join(parts)  # then its tag and length: one more copy of the span costs less than summing lengths
        n = len(data)
        out = [(SPAN_TAGS[n] if n < SHORT else b"\x12" + varint(n)) + data]
        attempts = trace.attempts
        if attempts is not None:
            for span, start_ns, attempted, ended_ns, failure in attempts:
                shared, name = builder.attempt_shape(call.operation, attempted, None, failure)
                out.append(self._attempt(shared, name, high, low, span, span_id, start_ns, ended_ns, failure))
        opened = trace.open
        if opened is not None:  # the attempt that answered (or failed the call)
            span, start_ns, attempted = opened
            deployment = call.deployment
            model = deployment.upstream_model if error_type is None and deployment is not None else None
            shared, name = builder.attempt_shape(call.operation, attempted, model, error_type)
            out.append(self._attempt(shared, name, high, low, span, span_id, start_ns, end_ns, error_type))
        if trace.steps is not None:
            steps: list[SpanRecord] = []
            builder.add_steps(steps, trace, end_ns, now)
            out.extend(map(self._encoder.span_field, steps))
        return out

    def _attempt(
        self,
        shared: Mapping[str, Any],
        name: str,
        high: int,
        low: int,
        span_id: int,
        parent_id: int,
        start_ns: int,
        end_ns: int,
        error_type: str | None,
    ) -> bytes:
        """An upstream attempt's CLIENT span: everything but its ids and times is its shape's."""
        block = self._blocks.get(id(shared))
        if block is None or block[0] is not shared:
            block = self._block(shared, name, _CLIENT)
        ids = _IDS_PARENT.pack(0x0A, 0x10, high, low, 0x12, 0x08, span_id, 0x22, 0x08, parent_id)
        times = _TIMES.pack(0x39, start_ns, 0x41, end_ns)
        if error_type is None:
            data = b"".join((ids, block[1], times, block[2], FLAGS_LOCAL))
        else:
            data = b"".join((ids, block[1], times, block[2], self._status(error_type), FLAGS_LOCAL))
        n = len(data)
        return (SPAN_TAGS[n] if n < SHORT else b"\x12" + varint(n)) + data
