"""The batch writer keeps every item: failures are retried, a poison item is set aside, stop drains the queue."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from wardgate.core.batching import BatchWriter


async def test_items_are_written_in_batches_and_stop_drains() -> None:
    written: list[list[int]] = []

    async def write(batch: Sequence[int]) -> None:
        written.append(list(batch))

    writer = BatchWriter("t", write, max_batch=3, interval_s=60)
    writer.start()
    for i in range(7):
        writer.put(i)
    await writer.stop()
    assert [i for b in written for i in b] == list(range(7)) and max(map(len, written)) <= 3


async def test_a_failed_flush_is_retried_without_losing_items() -> None:
    attempts = 0
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            raise ConnectionError("store down")
        written.extend(batch)

    writer = BatchWriter("t", write, max_batch=10, interval_s=0.01)
    writer.start()
    writer.put(1)
    writer.put(2)
    await asyncio.wait_for(writer.flush(), 10)
    await writer.stop()
    assert written == [1, 2] and writer.failures == 1


async def test_a_poison_item_is_set_aside_and_the_rest_is_written() -> None:
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        if 13 in batch:
            raise ValueError("cannot encode 13")
        written.extend(batch)

    writer = BatchWriter("t", write, max_batch=10, interval_s=0.01, max_backoff_s=0.01)
    writer.start()
    for i in (12, 13, 14):
        writer.put(i)
    await asyncio.wait_for(writer.flush(), 10)
    await writer.stop()
    assert written == [12, 14] and writer.rejected == [13]
