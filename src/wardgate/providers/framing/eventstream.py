"""The AWS event-stream binary framing (``application/vnd.amazon.eventstream``), decoded by botocore.

botocore's ``EventStreamBuffer`` checks both CRCs of every message and AWS's size limits (128 KiB of headers, 24 MiB of
payload; the prelude's CRC is checked before anything waits on its lengths), so a corrupted stream fails loudly and a
garbage length cannot make the decoder wait for or allocate gigabytes. This module only adapts it to the decoder
shape ``providers.streaming`` runs and turns its errors into ``FramingError``. Importing it imports botocore: only the
Bedrock adapter does, once a Bedrock provider is configured.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

from botocore.eventstream import EventStreamBuffer, EventStreamHeaderParser, EventStreamMessage, ParserError

from wardgate.providers.framing import FramingError

__all__ = ["EventStreamDecoder", "EventStreamMessage", "string_header"]

_MIN_MESSAGE_LENGTH = 16  # prelude (12) + message CRC (4)
_CACHED_HEADER_BLOCKS = 16
_CACHED_HEADER_BYTES = 512


class _RepeatedHeaders:
    """botocore's header parser, run once per distinct header block of a stream.

    Bedrock sends the same few header blocks (``:event-type`` contentBlockDelta, ``:content-type``,
    ``:message-type``) on every event, and botocore's field-by-field header parsing is most of its cost per message;
    parsed once, a stream's events decode at about the cost of the hand-written decoder this replaced. botocore
    checks a message's CRC, which covers its headers, before it parses them, so only verified blocks are cached; the
    cache is per stream and bounded. Messages of one stream share their headers dict: read it, never change it.
    """

    __slots__ = ("_parse", "_seen")

    def __init__(self, parser: EventStreamHeaderParser) -> None:
        self._parse = parser.parse
        self._seen: dict[bytes, dict[str, Any]] = {}

    def parse(self, data: bytes) -> dict[str, Any]:
        found = self._seen.get(data)
        if found is None:
            found = self._parse(data)
            if len(self._seen) < _CACHED_HEADER_BLOCKS and len(data) <= _CACHED_HEADER_BYTES:
                self._seen[data] = found
        return found


class EventStreamDecoder:
    """Feed it the reads of a body; iterating what ``feed`` returns yields each message as it is decoded and raises
    FramingError at the first bad one, so the messages in front of it are not lost."""

    __slots__ = ("_buffer", "pending")

    def __init__(self) -> None:
        self._buffer = EventStreamBuffer()
        # botocore's buffer parses headers with the parser object it holds; should a release rename that attribute,
        # nothing is replaced and decoding stays correct, only slower
        parser = getattr(self._buffer, "_header_parser", None)
        if isinstance(parser, EventStreamHeaderParser):
            self._buffer._header_parser = _RepeatedHeaders(parser)  # type: ignore[attr-defined]
        self.pending = 0  # bytes of an incomplete message held: non-zero at the end of a body means it was cut off

    def feed(self, data: bytes) -> Iterator[EventStreamMessage]:
        self._buffer.add_data(data)
        self.pending += len(data)
        return self._messages()

    def _messages(self) -> Iterator[EventStreamMessage]:
        try:
            for message in self._buffer:
                length = message.prelude.total_length  # type: ignore[attr-defined]  # botocore-stubs: prelude is "int"
                if length < _MIN_MESSAGE_LENGTH:
                    raise FramingError(f"a message of {length} bytes cannot hold its prelude and checksum")
                self.pending -= length
                yield message
        except ParserError as exc:
            raise FramingError(str(exc) or type(exc).__name__) from exc
        except (struct.error, KeyError, IndexError, UnicodeDecodeError) as exc:  # headers botocore cannot parse
            raise FramingError(f"malformed message ({type(exc).__name__})") from exc

    def flush(self) -> Iterator[EventStreamMessage]:
        return iter(())


def string_header(message: EventStreamMessage, name: str) -> str | None:
    """A string header's value (``:event-type``, ``:message-type`` …), or None when absent or not a string."""
    value = message.headers.get(name)  # type: ignore[attr-defined]  # botocore-stubs: headers is "int"
    return value if isinstance(value, str) else None
