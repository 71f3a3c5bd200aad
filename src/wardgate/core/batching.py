"""A queue flushed in batches by one background task: size or interval, whichever comes first.

Used for usage events and audit entries, so no request waits on a database write. Nothing is dropped silently:

- a batch that fails is bisected at once, so the items that can be written are written in the same flush and an item
  that cannot (bad data a store rejects) is found in about log2(batch) extra writes;
- an item that failed alone is set aside (``rejected``, with one bounded log line) when another write of the same
  flush succeeded, which proves the store is up, and its error does not say the store is unreachable; otherwise it
  stays queued (a lone item is judged once later items are queued behind it);
- when nothing at all can be written (the store is down) the queue is kept and retried with a backoff that returns
  to its start after the next success; stopping drains the queue. A crash loses at most one interval of items.

Sources (``add_source``) hand over items coalesced between flushes (a count of uses, say): each is drained at the
start of every flush cycle, so what they summarise is written with the rest of the batch.

Log lines are bounded (≤ 1 KB): an item is described by ``describe``, an error by its first line, both cut short.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger("wardgate.batching")
MAX_REJECTED_KEPT = 1000  # set-aside items kept in memory for inspection; every one is logged
_MAX_ERROR = 300
_MAX_ITEM = 500
_PENDING, _WRITTEN, _SUSPECT, _REJECTED = 0, 1, 2, 3  # an item's state while its batch is bisected


def short_repr(item: object) -> str:
    text = repr(item)
    return text if len(text) <= _MAX_ITEM else f"{text[:_MAX_ITEM]}… ({len(text)} chars)"


def error_summary(exc: BaseException) -> str:
    """``Type: first line of the message``, at most 300 characters (drivers append the SQL and its parameters)."""
    text = f"{type(exc).__name__}: {str(exc).partition(chr(10))[0]}"
    return text if len(text) <= _MAX_ERROR else text[:_MAX_ERROR] + "…"


def unreachable(exc: BaseException) -> bool:
    """Whether an error says the store could not be reached (a socket, a timeout, a dropped connection), rather than
    that the data was refused. Looks through the chain a driver wraps it in."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, OSError | TimeoutError) or getattr(seen, "connection_invalidated", False):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class BatchWriter(Generic[T]):
    def __init__(
        self,
        name: str,
        write: Callable[[Sequence[T]], Awaitable[None]],
        *,
        max_batch: int = 500,
        interval_s: float = 1.0,
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        describe: Callable[[T], str] = short_repr,
    ) -> None:
        self.name = name
        self._write = write
        self._describe = describe
        self.max_batch = max_batch
        self.interval_s = interval_s
        self.min_backoff_s = min_backoff_s
        self.max_backoff_s = max_backoff_s
        self._items: list[T] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.written = 0
        self.failures = 0  # flushes that wrote nothing at all
        self.rejected: list[T] = []  # items that failed on their own while others were written: kept, logged
        self.rejected_total = 0
        self.backoff_s = min_backoff_s  # the pause after the next flush that writes nothing
        self._flushed = asyncio.Event()
        self._sources: list[Callable[[], list[T]]] = []

    def add_source(self, drain: Callable[[], list[T]]) -> None:
        """``drain()`` returns (and forgets) the items it has coalesced since it was last called."""
        self._sources.append(drain)

    def _gather(self) -> None:
        for drain in self._sources:
            self._items.extend(drain())

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
        while True:
            if len(self._items) < self.max_batch and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.interval_s)
                self._wake.clear()  # after the wait, not before: a flush() asked before this task ran is kept
            self._gather()
            if not self._items:
                if self._stopping:
                    return
                continue
            batch = self._items[: self.max_batch]
            error = await self._flush_batch(batch)
            if error is None:
                continue
            self.failures += 1
            log.error(
                "%s: writing %d items failed (%s); %d queued, retrying in %.1fs",
                self.name,
                len(batch),
                error_summary(error),
                len(self._items),
                self.backoff_s,
            )
            log.debug("%s: the failed write", self.name, exc_info=error)
            await asyncio.sleep(self.backoff_s)
            self.backoff_s = min(self.backoff_s * 2, self.max_backoff_s)

    async def _flush_batch(self, batch: list[T]) -> BaseException | None:
        """Write ``batch`` (the head of the queue), bisecting it when it fails. Removes from the queue what was
        written or set aside; returns the error when nothing could be written (the store looks down)."""
        try:
            await self._write(batch)
        except Exception as exc:  # any store failure or bad item: find out which, below
            if len(batch) == 1:
                return exc
            error: BaseException = exc
        else:
            self._settled(batch, [_WRITTEN] * len(batch))
            return None
        if unreachable(error):
            return error
        states = [_PENDING] * len(batch)
        suspects: list[tuple[int, BaseException]] = []  # items that failed alone
        # a store that is down fails every write: give up after this many failures in a row without a success
        budget = 2 * len(batch).bit_length() + 16
        misses = 0
        progress = False
        stack = [(len(batch) // 2, len(batch)), (0, len(batch) // 2)]  # leftmost first: the queue keeps its order
        while stack:
            low, high = stack.pop()
            try:
                await self._write(batch[low:high])
            except Exception as exc:  # as above
                error, misses = exc, misses + 1
                if unreachable(exc) or misses > budget:
                    break
                if high - low == 1:
                    states[low] = _SUSPECT
                    suspects.append((low, exc))
                else:
                    middle = (low + high) // 2
                    stack += [(middle, high), (low, middle)]
                continue
            states[low:high] = [_WRITTEN] * (high - low)
            misses, progress = 0, True
        if not progress:
            return error
        for index, reason in suspects:  # the store is up and refused these alone: bad data
            states[index] = _REJECTED
            self._set_aside(batch[index], reason)
        self._settled(batch, states)
        return None

    def _settled(self, batch: list[T], states: list[int]) -> None:
        """Take what was written or set aside off the head of the queue; what is left keeps its place and order."""
        written = states.count(_WRITTEN)
        keep = [item for item, state in zip(batch, states, strict=True) if state == _PENDING]
        self._items[: len(batch)] = keep
        self.written += written
        self.backoff_s = self.min_backoff_s
        self._flushed.set()

    def _set_aside(self, item: T, reason: BaseException) -> None:
        self.rejected_total += 1
        self.rejected.append(item)
        if len(self.rejected) > MAX_REJECTED_KEPT:
            del self.rejected[0]
        log.error(
            "%s: an item cannot be written and is set aside (%s): %s",
            self.name,
            error_summary(reason),
            self._describe(item)[:_MAX_ITEM],
        )

    async def flush(self) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        self._gather()
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
