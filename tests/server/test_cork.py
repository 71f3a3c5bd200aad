"""A connection's writes within one loop turn leave together, in order, and nothing is held past the turn."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from wardgate.server.cork import MAX_HELD_BYTES, CorkedTransport


class Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def writelines(self, list_of_data: Any) -> None:
        self.calls.append(("writelines", [bytes(d) for d in list_of_data]))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def can_write_eof(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0


async def test_writes_of_one_turn_leave_in_one_call_at_its_end() -> None:
    real = Recorder()
    cork = CorkedTransport(real, asyncio.get_running_loop())
    cork.write(b"HTTP/1.1 200 OK\r\n\r\n")
    cork.write(bytearray(b"body"))
    assert real.calls == []  # still this turn
    await asyncio.sleep(0)
    assert real.calls == [("writelines", [b"HTTP/1.1 200 OK\r\n\r\n", b"body"])]
    cork.write(b"next")
    await asyncio.sleep(0)
    assert real.calls[-1] == ("write", b"next")
    assert cork.can_write_eof() is True  # anything else is the real transport's


async def test_close_and_write_eof_send_what_is_held_first() -> None:
    real = Recorder()
    cork = CorkedTransport(real, asyncio.get_running_loop())
    cork.write(b"a")
    cork.write_eof()
    cork.write(b"b")
    cork.close()
    await asyncio.sleep(0)
    assert real.calls == [("write", b"a"), ("write_eof", None), ("write", b"b"), ("close", None)]


async def test_a_large_turn_is_written_as_it_grows() -> None:
    real = Recorder()
    cork = CorkedTransport(real, asyncio.get_running_loop())
    piece = b"x" * (MAX_HELD_BYTES // 4)
    for _ in range(10):
        cork.write(piece)
    assert sum(len(b"".join(d)) if name == "writelines" else len(d) for name, d in real.calls) >= 8 * len(piece)
    assert cork.get_write_buffer_size() <= MAX_HELD_BYTES + len(piece)


async def test_the_bytes_reach_the_peer_whole_and_in_order() -> None:
    """End to end on a socket pair: what two writes of one turn sent arrives complete and in order."""
    loop = asyncio.get_running_loop()
    left, right = socket.socketpair()
    transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, left)
    cork = CorkedTransport(transport, loop)
    cork.write(b"head;")
    cork.write(b"body")
    received = await loop.run_in_executor(None, right.recv, 100)
    assert received == b"head;body"
    cork.close()
    right.close()
