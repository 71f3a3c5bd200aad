"""A key lookup shared by concurrent requests survives the request that started it going away."""

from __future__ import annotations

import asyncio
from typing import Any

from wardgate.identity.keys import KeyCache


class SlowKeys:
    """A key store whose read waits until the test lets it answer (no such key)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.reading = asyncio.Event()
        self.reads = 0

    async def by_hash(self, digest: str) -> Any:
        self.reads += 1
        self.reading.set()
        await self.release.wait()
        return None


async def test_a_cancelled_first_caller_neither_cancels_the_read_nor_the_callers_waiting_on_it() -> None:
    keys = SlowKeys()
    cache = KeyCache(keys, tenancy=None, ttl_s=60)  # type: ignore[arg-type]
    first = asyncio.ensure_future(cache.lookup("sk-wg-shared"))
    second = asyncio.ensure_future(cache.lookup("sk-wg-shared"))
    await keys.reading.wait()
    first.cancel()  # its client left
    keys.release.set()
    entry = await second
    assert entry.record is None and keys.reads == 1
    assert first.cancelled()
