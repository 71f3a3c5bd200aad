"""The AWS event-stream framing, decoded by botocore's ``EventStreamBuffer`` behind ``EventStreamDecoder``: both
checksums, AWS's size limits, incremental feeding, and the messages in front of a corrupt one.

Frames are built by the fake's encoder (tests/fakes/bedrock_logic.py, written from the format description), so these
tests also check that the fake speaks the framing botocore reads.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.eventstream import EventStreamHeaderParser

from tests.fakes.bedrock import encode_frame, encode_header, event_frame, exception_frame
from wardgate.providers.framing import FramingError
from wardgate.providers.framing.eventstream import EventStreamDecoder, EventStreamMessage, string_header

WHEN = datetime(2024, 5, 17, 12, 30, 45, 123000, tzinfo=UTC)
ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
MAX_HEADERS_LENGTH = 128 * 1024


def decode(data: bytes) -> list[EventStreamMessage]:
    return list(EventStreamDecoder().feed(data))


def test_every_header_type_the_fake_encodes_decodes_to_its_value() -> None:
    headers = (
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
    [message] = decode(encode_frame(headers, b'{"a":1}'))
    assert message.headers == {  # botocore keeps timestamps as epoch milliseconds and UUIDs as their 16 bytes
        "yes": True,
        "no": False,
        "byte": -7,
        "short": -1234,
        "int": 2_000_000_000,
        "long": -(2**40),
        "bytes": b"\x00\xffraw",
        "string": "héllo",
        "time": round(WHEN.timestamp() * 1000),
        "uuid": ID.bytes,
    }
    assert message.payload == b'{"a":1}'


def test_string_header_reads_string_headers_only() -> None:
    [message] = decode(encode_frame(encode_header(":event-type", "metadata") + encode_header("n", 3, kind=4), b""))
    assert string_header(message, ":event-type") == "metadata"
    assert string_header(message, "n") is None
    assert string_header(message, "absent") is None


def test_a_frame_fed_one_byte_at_a_time_comes_out_once_and_whole() -> None:
    frame = event_frame("messageStop", {"stopReason": "end_turn"})
    decoder = EventStreamDecoder()
    out: list[EventStreamMessage] = []
    for i in range(len(frame)):
        out.extend(decoder.feed(frame[i : i + 1]))
        if i < len(frame) - 1:
            assert out == [] and decoder.pending == i + 1
    [message] = out
    assert string_header(message, ":event-type") == "messageStop"
    assert message.payload == b'{"stopReason":"end_turn"}'
    assert decoder.pending == 0


def test_several_frames_in_one_read_and_a_partial_tail_are_split_correctly() -> None:
    frames = [event_frame("contentBlockDelta", {"delta": {"text": word}}) for word in ("a", "bb", "ccc")]
    data = b"".join(frames)
    decoder = EventStreamDecoder()
    first = list(decoder.feed(data[:-3]))
    assert [m.payload for m in first] == [b'{"delta":{"text":"a"}}', b'{"delta":{"text":"bb"}}']
    assert decoder.pending == len(frames[2]) - 3
    last = list(decoder.feed(data[-3:]))
    assert [m.payload for m in last] == [b'{"delta":{"text":"ccc"}}']
    assert decoder.pending == 0


def test_the_messages_before_a_corrupt_one_come_out_before_the_error() -> None:
    bad = bytearray(exception_frame("throttlingException", "slow down"))
    bad[-6] ^= 0xFF
    messages = EventStreamDecoder().feed(event_frame("messageStart", {"role": "assistant"}) + bytes(bad))
    assert string_header(next(messages), ":event-type") == "messageStart"
    with pytest.raises(FramingError, match="[Cc]hecksum"):
        next(messages)


def test_a_corrupted_prelude_fails_its_checksum() -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[9] ^= 0x01  # inside the prelude CRC itself
    with pytest.raises(FramingError, match="[Cc]hecksum"):
        decode(bytes(frame))


def test_a_corrupted_length_fails_the_prelude_checksum_before_anything_waits_on_it() -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[0] = 0x7F  # a huge total length: must not be buffered for
    with pytest.raises(FramingError, match="[Cc]hecksum"):
        decode(bytes(frame[:12]))


def test_a_corrupted_payload_fails_the_message_checksum() -> None:
    frame = bytearray(event_frame("contentBlockDelta", {"delta": {"text": "secret"}}))
    frame[-6] ^= 0xFF
    with pytest.raises(FramingError, match="[Cc]hecksum"):
        decode(bytes(frame))


def test_a_corrupted_header_byte_fails_the_message_checksum() -> None:
    frame = bytearray(event_frame("contentBlockDelta", {"delta": {}}))
    frame[14] ^= 0x20
    with pytest.raises(FramingError, match="[Cc]hecksum"):
        decode(bytes(frame))


def _frame_with_raw_prelude(total: int, headers_length: int, rest: bytes) -> bytes:
    prelude = struct.pack(">II", total, headers_length)
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + rest
    return body + struct.pack(">I", zlib.crc32(body))


def test_headers_longer_than_the_aws_limit_are_refused() -> None:
    with pytest.raises(FramingError, match="[Hh]eader length"):
        decode(_frame_with_raw_prelude(16 + MAX_HEADERS_LENGTH + 1, MAX_HEADERS_LENGTH + 1, b""))


def test_a_payload_longer_than_the_aws_limit_is_refused_before_it_is_buffered() -> None:
    with pytest.raises(FramingError, match="[Pp]ayload length"):
        decode(_frame_with_raw_prelude(16 + 25 * 1024 * 1024, 0, b"")[:12])


def test_a_length_too_small_for_a_message_is_refused() -> None:
    with pytest.raises(FramingError):
        decode(_frame_with_raw_prelude(8, 0, b""))


def test_a_streams_repeated_header_blocks_are_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Bedrock repeats the same headers on every event; botocore's header parsing is most of its cost per message."""
    parsed: list[bytes] = []
    original = EventStreamHeaderParser.parse

    def counting(self: EventStreamHeaderParser, data: bytes) -> dict[str, Any]:
        parsed.append(data)
        return original(self, data)

    monkeypatch.setattr(EventStreamHeaderParser, "parse", counting)
    frames = [event_frame("contentBlockDelta", {"delta": {"text": str(i)}}) for i in range(50)]
    frames.append(exception_frame("throttlingException", "slow down"))
    messages = decode(b"".join(frames))
    assert [string_header(m, ":event-type") for m in messages[:50]] == ["contentBlockDelta"] * 50
    assert string_header(messages[50], ":exception-type") == "throttlingException"
    assert [m.payload for m in messages[:2]] == [b'{"delta":{"text":"0"}}', b'{"delta":{"text":"1"}}']
    assert len(parsed) == 2  # one block for the 50 events, one for the exception
