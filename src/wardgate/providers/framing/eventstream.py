"""Incremental decoding of the AWS event-stream binary framing (``application/vnd.amazon.eventstream``).

Bedrock's ConverseStream (and every other AWS streaming operation) sends its events as binary messages:

    prelude   total length (uint32) | headers length (uint32) | CRC32 of those 8 bytes (uint32)
    headers   repeated: name length (uint8) | name (UTF-8) | value type (uint8) | value
    payload   total length - headers length - 16 bytes
    trailer   CRC32 of everything before it (uint32)

All integers are big-endian. Both checksums are verified: a corrupted stream must fail loudly, never yield a
half-message. Limits are the ones AWS SDKs enforce (128 KiB of headers, 24 MiB of payload), so a garbage length
cannot make the decoder wait for, or allocate, gigabytes.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HeaderValue = bool | int | bytes | str | datetime | uuid.UUID

PRELUDE_LENGTH = 12
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024
_MIN_MESSAGE_LENGTH = PRELUDE_LENGTH + 4
_PRELUDE = struct.Struct(">III")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class EventStreamError(ValueError):
    """The bytes are not a valid event stream (bad length, checksum or header)."""


@dataclass(frozen=True, slots=True)
class EventStreamMessage:
    headers: dict[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str | None:
        """A string header's value (``:event-type``, ``:message-type`` …), or None when absent or not a string."""
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


class EventStreamDecoder:
    """Feed it bytes as they arrive; it returns the messages completed so far and keeps the partial tail.

    ``feed`` is ``add`` then ``messages``; a caller that must not lose the good messages in front of a corrupt one
    (a stream relays them before it fails) calls the two itself: ``messages`` yields each message as it is
    decoded and raises at the first bad one.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message still held (non-zero when a stream ends means it was cut off)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        self.add(data)
        return list(self.messages())

    def add(self, data: bytes) -> None:
        self._buf = self._buf + data if self._buf else data

    def messages(self) -> Iterator[EventStreamMessage]:
        buf = self._buf
        offset = 0
        try:
            while len(buf) - offset >= PRELUDE_LENGTH:
                total, headers_length = _check_prelude(buf, offset)
                if len(buf) - offset < total:
                    break
                message = _decode(buf, offset, total, headers_length)
                offset += total
                yield message
        finally:
            self._buf = buf[offset:]


def decode_message(data: bytes) -> EventStreamMessage:
    """Decode exactly one message (the whole of ``data``)."""
    if len(data) < PRELUDE_LENGTH:
        raise EventStreamError(f"an event-stream message needs at least {_MIN_MESSAGE_LENGTH} bytes")
    total, headers_length = _check_prelude(data, 0)
    if total != len(data):
        raise EventStreamError(f"the prelude announces {total} bytes, the data has {len(data)}")
    return _decode(data, 0, total, headers_length)


def _check_prelude(buf: bytes, offset: int) -> tuple[int, int]:
    total, headers_length, crc = _PRELUDE.unpack_from(buf, offset)
    if zlib.crc32(buf[offset : offset + 8]) != crc:
        raise EventStreamError("prelude checksum mismatch")
    if headers_length > MAX_HEADERS_LENGTH:
        raise EventStreamError(f"headers length {headers_length} exceeds {MAX_HEADERS_LENGTH}")
    payload_length = total - headers_length - _MIN_MESSAGE_LENGTH
    if payload_length < 0:
        raise EventStreamError(f"total length {total} is too small for {headers_length} bytes of headers")
    if payload_length > MAX_PAYLOAD_LENGTH:
        raise EventStreamError(f"payload length {payload_length} exceeds {MAX_PAYLOAD_LENGTH}")
    return total, headers_length


def _decode(buf: bytes, offset: int, total: int, headers_length: int) -> EventStreamMessage:
    end = offset + total
    (crc,) = struct.unpack_from(">I", buf, end - 4)
    if zlib.crc32(buf[offset : end - 4]) != crc:
        raise EventStreamError("message checksum mismatch")
    headers_start = offset + PRELUDE_LENGTH
    headers_end = headers_start + headers_length
    return EventStreamMessage(_headers(buf, headers_start, headers_end), bytes(buf[headers_end : end - 4]))


def _headers(buf: bytes, pos: int, end: int) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    try:
        while pos < end:
            name_length = buf[pos]
            pos += 1
            name = buf[pos : pos + name_length].decode("utf-8")
            pos += name_length
            kind = buf[pos]
            pos += 1
            value: HeaderValue
            if kind == 0:
                value = True
            elif kind == 1:
                value = False
            elif kind == 2:
                (value,) = struct.unpack_from(">b", buf, pos)
                pos += 1
            elif kind == 3:
                (value,) = struct.unpack_from(">h", buf, pos)
                pos += 2
            elif kind == 4:
                (value,) = struct.unpack_from(">i", buf, pos)
                pos += 4
            elif kind == 5:
                (value,) = struct.unpack_from(">q", buf, pos)
                pos += 8
            elif kind in (6, 7):
                (length,) = struct.unpack_from(">H", buf, pos)
                pos += 2
                raw = bytes(buf[pos : pos + length])
                if len(raw) != length:
                    raise EventStreamError(f"header {name!r} runs past the headers")
                value = raw.decode("utf-8") if kind == 7 else raw
                pos += length
            elif kind == 8:
                (millis,) = struct.unpack_from(">q", buf, pos)
                value = _EPOCH + timedelta(milliseconds=millis)
                pos += 8
            elif kind == 9:
                raw = bytes(buf[pos : pos + 16])
                if len(raw) != 16:
                    raise EventStreamError(f"header {name!r} runs past the headers")
                value = uuid.UUID(bytes=raw)
                pos += 16
            else:
                raise EventStreamError(f"header {name!r} has unknown value type {kind}")
            headers[name] = value
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed headers ({exc})") from None
    if pos != end:
        raise EventStreamError("a header runs past the headers section")
    return headers
