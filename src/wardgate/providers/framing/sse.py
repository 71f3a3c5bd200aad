"""Incremental Server-Sent Events decoding (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SSEEvent:
    event: bytes | None
    data: bytes


class _SSEFraming:
    """The framing shared by the decoders: lines normalised, the input split into complete blocks, the tail kept.

    Events end at a blank line. Lines end in ``\\r\\n``, ``\\n`` or ``\\r``, normalised to ``\\n`` once per read, not
    per line; a read that ends in ``\\r`` may be the first half of a ``\\r\\n``, so a ``\\n`` that starts the next read
    is dropped rather than read as a second line break (which would end the event early).
    """

    __slots__ = ("_buf", "_cr")

    def __init__(self) -> None:
        self._buf = b""
        self._cr = False  # the last read ended in \r

    def _blocks(self, data: bytes) -> list[bytes]:
        """The blocks ``data`` completes (empty ones included), in order."""
        if self._cr:
            self._cr = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:
            self._cr = data[-1:] == b"\r"
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        buf = self._buf + data if self._buf else data
        end = buf.rfind(b"\n\n")
        if end < 0:
            self._buf = buf
            return []
        self._buf = buf[end + 2 :]
        return buf[:end].split(b"\n\n")

    def _tail(self) -> bytes:
        block, self._buf, self._cr = self._buf.strip(b"\n"), b"", False
        return block


class SSEDecoder(_SSEFraming):
    """Feed it bytes as they arrive; it returns the events completed so far and keeps the partial tail."""

    __slots__ = ()

    def feed(self, data: bytes) -> list[SSEEvent]:
        events: list[SSEEvent] = []
        for block in self._blocks(data):
            if block:
                event = _parse_block(block)
                if event is not None:
                    events.append(event)
        return events

    def flush(self) -> list[SSEEvent]:
        """The last event when a stream ends without a trailing blank line."""
        block = self._tail()
        event = _parse_block(block) if block else None
        return [event] if event is not None else []


class SSEDataDecoder(_SSEFraming):
    """``SSEDecoder`` for a reader that needs only each event's data (OpenAI-family streams): the same events, in the
    same order, each as its ``data`` bytes, without an object per event. The common block, one ``data:`` line, is
    cut out where it lies."""

    __slots__ = ()

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for block in self._blocks(data):
            if block[:6] == b"data: " and b"\n" not in block:
                out.append(block[6:])
            elif block:
                event = _parse_block(block)
                if event is not None:
                    out.append(event.data)
        return out

    def flush(self) -> list[bytes]:
        block = self._tail()
        event = _parse_block(block) if block else None
        return [event.data] if event is not None else []


def _parse_block(block: bytes) -> SSEEvent | None:
    if block.startswith(b"data: ") and b"\n" not in block:  # the common case: one data line
        return SSEEvent(None, block[6:])
    name: bytes | None = None
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if not line or line.startswith(b":"):
            continue
        field, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if field == b"data":
            data.append(value)
        elif field == b"event":
            name = value
    if not data and name is None:
        return None
    return SSEEvent(name, b"\n".join(data))


def encode_event(data: bytes, event: bytes | None = None) -> bytes:
    if event is None:
        return b"data: " + data + b"\n\n"
    return b"event: " + event + b"\ndata: " + data + b"\n\n"
