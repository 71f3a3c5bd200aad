"""The events of the gateway's downstream SSE streams, kept so that a client that lost a stream can resume it with
``GET`` and ``Last-Event-ID`` on any replica (docs/mcp.md, "Resumable streams").

An event id is ``<stream>:<seq>``: a random 128-bit stream id and the event's position in it (0 is the priming
event, which carries no message). A stream belongs to one caller (virtual server, principal, session): its owner is
stored beside its events and compared before anything is replayed, so an id from another session reads as unknown.
Retention is bounded by count (``max_events``, the oldest trimmed) and time (``ttl_s`` after the last event).
With Redis a stream is a Redis stream (entry ids ``0-<seq>``) plus an owner key, so a follower on another replica
reads what the producing replica writes (``XREAD BLOCK``); without Redis it lives in this process.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("wardgate.mcp")
MAX_EVENT_ID = 64
_EVENT_ID = re.compile(r"([0-9a-f]{32}):(0|[1-9][0-9]{0,8})")
MAX_STREAMS = 10_000  # in-process: streams kept, oldest forgotten first …
MAX_BYTES = 64 * 1024 * 1024  # … and the bytes of their events
END = -1  # the seq a follower sees when the stream is complete
MAX_BLOCKING = 8  # Redis followers of one worker in a blocking read at once (each holds a pool connection) …
POLL_S = 0.2  # … the others poll this often


def new_stream_id() -> str:
    return secrets.token_hex(16)


def event_id(stream: str, seq: int) -> str:
    return f"{stream}:{seq}"


def parse_event_id(value: str) -> tuple[str, int] | None:
    """(stream, seq) of a well-formed id; None for anything else (bounded before the regex sees it)."""
    if len(value) > MAX_EVENT_ID:
        return None
    found = _EVENT_ID.fullmatch(value)
    return (found.group(1), int(found.group(2))) if found is not None else None


class EventsGone(Exception):
    """The events after the id were trimmed: an exact replay is no longer possible."""


class StreamStore(Protocol):
    async def open(self, stream: str, owner: str) -> None: ...
    async def append(self, stream: str, seq: int, data: bytes) -> None: ...
    async def end(self, stream: str, seq: int) -> None: ...
    async def owner(self, stream: str) -> str | None: ...
    async def trimmed(self, stream: str, after: int) -> bool:
        """Events after ``after`` were dropped (retention by count): the replay would not be exact."""
        ...

    def follow(self, stream: str, after: int, idle_s: float) -> AsyncIterator[tuple[int, bytes]]:
        """The events after ``after`` in order, then (END, b"") when the stream is complete; (0, b"") each time
        ``idle_s`` passed without one (the caller sends a keep-alive and may stop). Raises EventsGone."""
        ...


@dataclass(slots=True)
class _Stream:
    owner: str
    expires: float
    events: list[tuple[int, bytes]] = field(default_factory=list)
    size: int = 0
    ended: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryStreams:
    """One process's streams (no Redis): a follower must reach the replica that produced the stream."""

    def __init__(self, ttl_s: float, max_events: int) -> None:
        self._ttl, self._max = ttl_s, max_events
        self._streams: OrderedDict[str, _Stream] = OrderedDict()
        self._bytes = 0

    def _live(self, stream: str) -> _Stream | None:
        found = self._streams.get(stream)
        if found is not None and found.expires < time.monotonic():
            del self._streams[stream]
            self._bytes -= found.size
            return None
        return found

    async def open(self, stream: str, owner: str) -> None:
        self._streams[stream] = _Stream(owner, time.monotonic() + self._ttl)
        self._bound()

    def _bound(self) -> None:
        while len(self._streams) > MAX_STREAMS or self._bytes > MAX_BYTES:
            _, dropped = self._streams.popitem(last=False)
            self._bytes -= dropped.size

    def _touch(self, stream: str) -> _Stream | None:
        found = self._streams.get(stream)
        if found is not None:
            found.expires = time.monotonic() + self._ttl
            found.changed.set()
            found.changed = asyncio.Event()
        return found

    async def append(self, stream: str, seq: int, data: bytes) -> None:
        found = self._streams.get(stream)
        if found is not None:
            found.events.append((seq, data))
            found.size += len(data)
            self._bytes += len(data)
            if len(found.events) > self._max:
                dropped = len(found.events.pop(0)[1])
                found.size -= dropped
                self._bytes -= dropped
            self._touch(stream)
            self._bound()

    async def end(self, stream: str, seq: int) -> None:
        found = self._streams.get(stream)
        if found is not None:
            found.ended = True
            self._touch(stream)

    async def owner(self, stream: str) -> str | None:
        found = self._live(stream)
        return found.owner if found is not None else None

    async def trimmed(self, stream: str, after: int) -> bool:
        found = self._live(stream)
        return found is not None and bool(found.events) and found.events[0][0] > after + 1

    async def follow(self, stream: str, after: int, idle_s: float) -> AsyncIterator[tuple[int, bytes]]:
        found = self._live(stream)
        if found is None:
            return
        if found.events and found.events[0][0] > after + 1:
            raise EventsGone
        while True:
            changed = found.changed
            for seq, data in found.events:
                if seq > after:
                    after = seq
                    yield seq, data
            if found.ended:
                yield END, b""
                return
            try:
                await asyncio.wait_for(changed.wait(), idle_s)
            except TimeoutError:
                yield 0, b""


class RedisStreams:
    """Streams in Redis, shared by every replica: appended by the one producing the stream, replayed and followed
    by whichever replica the client's GET reaches."""

    def __init__(self, redis: aioredis.Redis, prefix: str, ttl_s: float, max_events: int, block_s: float) -> None:
        self._redis: Any = redis  # redis-py's stream replies are typed loosely; their shape is checked where read
        self._prefix = prefix + "mcp:stream:"
        self._ttl, self._max = max(1, int(ttl_s)), max_events
        self._block_ms = max(10, int(block_s * 1000))
        self._blocking = 0  # followers in a blocking XREAD now

    async def open(self, stream: str, owner: str) -> None:
        await self._redis.set(self._prefix + stream + ":o", owner.encode(), ex=self._ttl)

    async def _add(self, stream: str, seq: int, fields: dict[str, bytes]) -> None:
        key = self._prefix + stream
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, fields, id=f"0-{seq}", maxlen=self._max, approximate=False)
            pipe.expire(key, self._ttl)
            pipe.expire(key + ":o", self._ttl)
            await pipe.execute()

    async def append(self, stream: str, seq: int, data: bytes) -> None:
        await self._add(stream, seq, {"d": data})

    async def end(self, stream: str, seq: int) -> None:
        await self._add(stream, seq, {"e": b"1"})

    async def owner(self, stream: str) -> str | None:
        value = await self._redis.get(self._prefix + stream + ":o")
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else None

    async def trimmed(self, stream: str, after: int) -> bool:
        first = await self._redis.xrange(self._prefix + stream, count=1)
        return bool(first) and _seq(first[0][0]) > after + 1

    async def follow(self, stream: str, after: int, idle_s: float) -> AsyncIterator[tuple[int, bytes]]:
        key = self._prefix + stream
        if await self.trimmed(stream, after):
            raise EventsGone
        idle_since = time.monotonic()
        while True:
            # a blocking read holds one of the pool's connections: past MAX_BLOCKING followers, poll instead
            blocking = self._blocking < MAX_BLOCKING
            self._blocking += blocking
            try:
                answer = await self._redis.xread(
                    {key: f"0-{after}"}, count=100, block=self._block_ms if blocking else None
                )
            finally:
                self._blocking -= blocking
            if not answer and not blocking:
                await asyncio.sleep(POLL_S)
            entries: list[tuple[bytes, dict[bytes, bytes]]] = answer[0][1] if answer else []
            for entry_id, fields in entries:
                after = _seq(entry_id)
                if b"e" in fields:
                    yield END, b""
                    return
                data = fields.get(b"d", b"")
                yield after, data if isinstance(data, bytes) else b""
            if entries:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= idle_s:
                idle_since = time.monotonic()
                yield 0, b""


def _seq(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[2])
