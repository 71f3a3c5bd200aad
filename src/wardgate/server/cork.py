"""A connection's writes within one turn of the event loop leave in one system call.

uvicorn writes a response as it is sent: the status line and headers at ``http.response.start``, then each body
message. A JSON answer is two writes, a stream at least three (headers, the events, ``[DONE]`` with the chunked
terminator), and each write to a TCP socket is a system call that also runs the peer's receive path on loopback.
Held until the end of the current loop turn, they go out as one ``writelines`` (one ``writev``): the response leaves
as soon as the code producing it yields to the loop, so nothing waits on a timer, and a stream's events are never
held past the read that produced them.

Everything else is the real transport's: reads, flow control (its high-water mark sees the bytes once flushed),
``get_extra_info``. ``close``, ``write_eof`` and ``set_protocol`` flush first, so the order of bytes never changes.
"""

from __future__ import annotations

import asyncio
from typing import Any

# A turn that writes more (a large body sent without yielding) writes at once: memory stays bounded by this, and the
# real transport's flow control sees the bytes.
MAX_HELD_BYTES = 65536


class CorkedTransport:
    __slots__ = ("_held", "_held_bytes", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] | None = None
        self._held_bytes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        chunk = data if isinstance(data, bytes) else bytes(data)
        held = self._held
        if held is None:
            self._held = [chunk]
            self._held_bytes = len(chunk)
            self._loop.call_soon(self.flush)
        else:
            held.append(chunk)
            self._held_bytes += len(chunk)
        if self._held_bytes > MAX_HELD_BYTES:
            self.flush()

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        held, self._held = self._held, None
        if held is None or self._transport.is_closing():
            return
        if len(held) == 1:
            self._transport.write(held[0])
        else:
            self._transport.writelines(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.flush()
        self._transport.set_protocol(protocol)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(len(d) for d in self._held or ())

    def __getattr__(self, name: str) -> Any:  # anything else a protocol may use (can_write_eof, is_reading …)
        return getattr(self._transport, name)
