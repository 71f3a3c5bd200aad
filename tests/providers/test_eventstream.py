"""The AWS event-stream decoder: framing, every header type, both checksums, incremental feeding.

Frames are built by the fake's encoder (tests/fakes/bedrock_logic.py, written from the format description) and, as a
cross-check that encoder and decoder do not share one misreading, decoded by botocore's own parser too.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import UTC, datetime

import pytest
from botocore.eventstream import EventStreamBuffer

from tests.fakes.bedrock import encode_frame, encode_header, event_frame, exception_frame
from wardgate.providers.framing.eventstream import (
    MAX_HEADERS_LENGTH,
    EventStreamDecoder,
    EventStreamError,
    EventStreamMessage,
    decode_message,
)

WHEN = datetime(2024, 5, 17, 12, 30, 45, 123000, tzinfo=UTC)
ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
ALL_TYPES = (
    encode_header("yes", True)
    + encode_header("no", False)
    + encode_header("byte", -7, kind=2)
    + encode_header("short", -1234, kind=3)
    + encode_header("int", 2_000_000_000, kind=4)
    + encode_header("long", -(2**40), kind=5)
    + encode_header("bytes", b"\x00\xffraw")
    + encode_header("string", "héllo")
    + encode_header("time", WHEN)
    + encode_header("uuid", ID)
)


def test_every_header_type_decodes_to_its_value() -> None:
    message = decode_message(encode_frame(ALL_TYPES, b'{"a":1}'))
    assert message.headers == {
        "yes": True,
        "no": False,
        "byte": -7,
        "short": -1234,
        "int": 2_000_000_000,
        "long": -(2**40),
        "bytes": b"\x00\xffraw",
        "string": "héllo",
        "time": WHEN,
        "uuid": ID,
    }
    assert message.payload == b'{"a":1}'


def test_the_decoder_agrees_with_botocore_on_the_same_frames() -> None:
    frames = [
        encode_frame(ALL_TYPES, b"payload"),
        event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}}),
        exception_frame("throttlingException", "slow down"),
        encode_frame(b"", b""),
    ]
    theirs = EventStreamBuffer()
    theirs.add_data(b"".join(frames))
    ours = EventStreamDecoder().feed(b"".join(frames))
    # botocore keeps timestamps as epoch milliseconds and UUIDs as their 16 bytes
    as_botocore = [{k: _botocore_value(v) for k, v in message.headers.items()} for message in ours]
    assert as_botocore == [message.headers for message in theirs]
    assert [m.payload for m in ours] == [m.payload for m in _botocore_payloads(frames)]


def _botocore_value(value: object) -> object:
    if isinstance(value, datetime):
        return round((value - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds() * 1000)
    if isinstance(value, uuid.UUID):
        return value.bytes
    return value


def _botocore_payloads(frames: list[bytes]) -> list[EventStreamMessage]:
    buffer = EventStreamBuffer()
    buffer.add_data(b"".join(frames))
    return [EventStreamMessage({}, message.payload) for message in buffer]


def test_a_frame_fed_one_byte_at_a_time_comes_out_once_and_whole() -> None:
    frame = event_frame("messageStop", {"stopReason": "end_turn"})
    decoder = EventStreamDecoder()
    out: list[EventStreamMessage] = []
    for i in range(len(frame)):
        out.extend(decoder.feed(frame[i : i + 1]))
        if i < len(frame) - 1:
            assert out == []
    assert len(out) == 1
    assert out[0].header(":event-type") == "messageStop"
    assert out[0].payload == b'{"stopReason":"end_turn"}'
    assert decoder.pending == 0


def test_several_frames_in_one_read_and_a_partial_tail_are_split_correctly() -> None:
    frames = [event_frame("contentBlockDelta", {"delta": {"text": word}}) for word in ("a", "bb", "ccc")]
    data = b"".join(frames)
    decoder = EventStreamDecoder()
    first = decoder.feed(data[:-3])
    assert [m.payload for m in first] == [b'{"delta":{"text":"a"}}', b'{"delta":{"text":"bb"}}']
    assert decoder.pending == len(frames[2]) - 3
    last = decoder.feed(data[-3:])
    assert [m.payload for m in last] == [b'{"delta":{"text":"ccc"}}']
    assert decoder.pending == 0


def test_header_accessor_reads_string_headers_only() -> None:
    message = decode_message(encode_frame(encode_header(":event-type", "metadata") + encode_header("n", 3), b""))
    assert message.header(":event-type") == "metadata"
    assert message.header("n") is None
    assert message.header("absent") is None


def test_a_corrupted_prelude_fails_its_checksum() -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[9] ^= 0x01  # inside the prelude CRC itself
    with pytest.raises(EventStreamError, match="prelude checksum"):
        EventStreamDecoder().feed(bytes(frame))


def test_a_corrupted_length_fails_the_prelude_checksum_before_anything_waits_on_it() -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[0] = 0x7F  # a huge total length: must not be buffered for
    with pytest.raises(EventStreamError, match="prelude checksum"):
        EventStreamDecoder().feed(bytes(frame[:12]))


def test_a_corrupted_payload_fails_the_message_checksum() -> None:
    frame = bytearray(event_frame("contentBlockDelta", {"delta": {"text": "secret"}}))
    frame[-6] ^= 0xFF
    with pytest.raises(EventStreamError, match="message checksum"):
        EventStreamDecoder().feed(bytes(frame))


def test_a_corrupted_header_byte_fails_the_message_checksum() -> None:
    frame = bytearray(event_frame("contentBlockDelta", {"delta": {}}))
    frame[14] ^= 0x20
    with pytest.raises(EventStreamError, match="message checksum"):
        decode_message(bytes(frame))


def _frame_with_raw_prelude(total: int, headers_length: int, rest: bytes) -> bytes:
    prelude = struct.pack(">II", total, headers_length)
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + rest
    return body + struct.pack(">I", zlib.crc32(body))


def test_lengths_that_cannot_hold_the_headers_are_refused() -> None:
    with pytest.raises(EventStreamError, match="too small"):
        EventStreamDecoder().feed(_frame_with_raw_prelude(16, 8, b""))


def test_headers_longer_than_the_aws_limit_are_refused() -> None:
    with pytest.raises(EventStreamError, match="headers length"):
        EventStreamDecoder().feed(_frame_with_raw_prelude(16 + MAX_HEADERS_LENGTH + 1, MAX_HEADERS_LENGTH + 1, b""))


def test_an_unknown_header_type_is_refused() -> None:
    bad = struct.pack(">B", 1) + b"x" + struct.pack(">B", 42)
    with pytest.raises(EventStreamError, match="unknown value type 42"):
        decode_message(encode_frame(bad, b""))


def test_a_header_value_running_past_the_headers_section_is_refused() -> None:
    header = encode_header("s", "abcdef")
    cut = header[:-3]  # the string says 6 bytes; the section ends 3 bytes early, the payload follows
    with pytest.raises(EventStreamError, match="runs past"):
        decode_message(encode_frame(cut, b"xyz"))


def test_decode_message_needs_exactly_one_whole_message() -> None:
    frame = event_frame("messageStart", {})
    with pytest.raises(EventStreamError, match="announces"):
        decode_message(frame + b"extra")
    with pytest.raises(EventStreamError, match="at least"):
        decode_message(frame[:5])
