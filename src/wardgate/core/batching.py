"""A queue flushed in batches by one background task: size or interval, whichever comes first.

Used for usage events and audit entries, so no request waits on a database write. A failed flush is retried with
backoff and its items are kept (never dropped silently); stopping drains the queue. A crash loses at most one
interval of items.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("wardgate.batching")


class BatchWriter(Generic[T]):
    def __init__(
        self,
        name: str,
        write: Callable[[Sequence[T]], Awaitable[None]],
        *,
        max_batch: int = 500,
        interval_s: float = 1.0,
        max_backoff_s: float = 30.0,
    ) -> None:
        self.name = name
        self._write = write
        self.max_batch = max_batch
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self._items: list[T] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.written = 0
        self.failures = 0
        self.rejected: list[T] = []  # items that failed on their own while others were written: kept, logged
        self._flushed = asyncio.Event()

    def put(self, item: T) -> None:
        """Queue one item; never blocks, never raises."""
        self._items.append(item)
        if len(self._items) >= self.max_batch:
            self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._items)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"batch-writer:{self.name}")

    async def _run(self) -> None:
        backoff = 0.5
        streak = 0
        while True:
            if len(self._items) < self.max_batch and not self._stopping:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s)
            if not self._items:
                if self._stopping:
                    return
                continue
            batch = self._items[: self.max_batch]
            try:
                await self._write(batch)
            except Exception:  # any store failure: keep the batch, retry after a pause
                self.failures += 1
                streak += 1
                log.exception("%s: flush of %d items failed; retrying in %.1fs", self.name, len(batch), backoff)
                if streak >= 3 and await self._isolate(batch):
                    streak = 0
                    continue
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)
                continue
            streak = 0
            del self._items[: len(batch)]
            self.written += len(batch)
            backoff = 0.5
            self._flushed.set()

    async def _isolate(self, batch: list[T]) -> bool:
        """After repeated failures, find items that can never be written (bad data, not a store outage): write the
        batch one item at a time; an item that fails alone is moved to ``rejected`` and logged whole. Returns
        whether anything was set aside (if every item fails alone, it is the store: keep retrying)."""
        rejected: list[T] = []
        written = 0
        for item in batch:
            try:
                await self._write([item])
                written += 1
            except Exception:  # this item alone fails
                rejected.append(item)
        if not written:
            return False
        for item in rejected:
            log.error("%s: an item cannot be written and is set aside (see `rejected`): %r", self.name, item)
        self.rejected.extend(rejected)
        taken = set(map(id, batch))
        self._items = [i for i in self._items if id(i) not in taken]
        self.written += written
        self._flushed.set()
        return True

    async def flush(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        while self._items:
            self._flushed.clear()
            self._wake.set()
            await self._flushed.wait()

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Drain the queue, then stop. Items still unwritten after ``timeout_s`` are logged, not hidden."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout_s)
        except (TimeoutError, Exception):  # the store stayed down: say how much is lost
            log.error("%s: stopping with %d unwritten items", self.name, len(self._items))
            self._task.cancel()
