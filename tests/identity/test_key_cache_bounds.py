"""The key cache's memory: an entry older than both its TTL and stale_s serves no one (not fresh, too old to stand
in for the store in an outage) and is dropped as newer keys are loaded; past MAX_ENTRIES the oldest go first. So a
worker seeing 100,000 keys keeps only those of the last stale_s seconds (issue 15, point 2: RSS flat)."""

from __future__ import annotations

from typing import Any

import pytest

from wardgate.identity import keys as keys_module
from wardgate.identity.keys import KeyCache
from wardgate.store.keys import key_hash


class _NoKeys:
    async def by_hash(self, digest: str) -> None:
        return None


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    c = _Clock()
    monkeypatch.setattr(keys_module.time, "monotonic", c)
    return c


def _cache(**kw: Any) -> KeyCache:
    return KeyCache(_NoKeys(), None, **kw)  # type: ignore[arg-type]


async def test_entries_older_than_stale_s_are_dropped_as_others_load(clock: _Clock) -> None:
    cache = _cache(ttl_s=1.0, stale_s=30.0)
    for i in range(100):
        await cache.lookup(f"sk-old-{i}")
        clock.now += 0.1  # 100 keys over 10 s
    assert len(cache._entries) == 100
    clock.now += 25  # the first keys are now 35 s old, the last 25 s
    await cache.lookup("sk-new")
    kept = list(cache._entries)
    assert key_hash("sk-old-0") not in kept and key_hash("sk-old-99") in kept and kept[-1] == key_hash("sk-new")
    assert all(clock.now - cache._entries[d].validated <= 30.0 for d in kept)


async def test_a_key_looked_up_again_moves_to_the_newest_end(clock: _Clock) -> None:
    cache = _cache(ttl_s=1.0, stale_s=5.0)
    await cache.lookup("sk-a")
    clock.now += 2
    await cache.lookup("sk-b")
    clock.now += 2  # sk-a expired (TTL): reloaded, so validated again now
    await cache.lookup("sk-a")
    assert list(cache._entries) == [key_hash("sk-b"), key_hash("sk-a")]
    clock.now += 4  # sk-b is 6 s old, sk-a 4 s
    await cache.lookup("sk-c")
    assert list(cache._entries) == [key_hash("sk-a"), key_hash("sk-c")]


async def test_past_max_entries_the_oldest_go_first(clock: _Clock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys_module, "MAX_ENTRIES", 10)
    cache = _cache(ttl_s=60.0, stale_s=60.0)
    for i in range(25):
        await cache.lookup(f"sk-{i}")
    assert list(cache._entries) == [key_hash(f"sk-{i}") for i in range(15, 25)]
