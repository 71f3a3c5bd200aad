"""The in-process tier: an LRU of decoded answers bounded by bytes, so a hit costs a dict lookup."""

from __future__ import annotations

from collections import OrderedDict

from wardgate.cache.entry import CachedAnswer


class LocalLRU:
    """Least-recently-used eviction by total size. Not thread-safe: one event loop owns it.

    Entries are dropped once past ``stale_until``; between ``fresh_until`` and that they are kept for stale serving.
    """

    __slots__ = ("_entries", "bytes", "evictions", "max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.evictions = 0
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> CachedAnswer | None:
        answer = self._entries.get(key)
        if answer is None:
            return None
        if answer.stale_until <= now:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return answer

    def put(self, key: str, answer: CachedAnswer) -> None:
        if answer.size > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = answer
        self.bytes += answer.size
        self._shrink()

    def resize(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._shrink()

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def _shrink(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            _, old = self._entries.popitem(last=False)
            self.bytes -= old.size
            self.evictions += 1

    def _drop(self, key: str) -> None:
        self.bytes -= self._entries.pop(key).size
