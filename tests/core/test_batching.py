"""The batch writer keeps every item: failures are retried, a poison item is set aside, stop drains the queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

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


async def test_a_batch_with_one_poison_item_writes_the_others_in_the_same_flush() -> None:
    writes: list[list[int]] = []
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        writes.append(list(batch))
        if 13 in batch:
            raise ValueError("cannot encode 13")
        written.extend(batch)

    # a pause of a minute after any failed flush: the test only finishes if nothing waited for one
    writer = BatchWriter("t", write, max_batch=100, interval_s=60, min_backoff_s=60)
    writer.start()
    for i in range(100):
        writer.put(i)
    await asyncio.wait_for(writer.flush(), 10)
    assert written == [i for i in range(100) if i != 13] and writer.rejected == [13]
    assert [len(w) for w in writes].count(100) == 1  # one flush: the rest came from bisecting it
    assert len(writes) <= 2 * (100).bit_length() + 1 and writer.failures == 0
    await writer.stop()


async def test_several_poison_items_are_all_set_aside_in_one_flush_and_order_is_kept() -> None:
    bad = {0, 1, 2, 40, 41, 99}
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        if bad & set(batch):
            raise ValueError("bad data")
        written.extend(batch)

    writer = BatchWriter("t", write, max_batch=100, interval_s=60, min_backoff_s=60)
    writer.start()
    for i in range(100):
        writer.put(i)
    await asyncio.wait_for(writer.flush(), 10)
    assert written == [i for i in range(100) if i not in bad] and writer.rejected == sorted(bad)
    await writer.stop()


async def test_the_backoff_returns_to_its_start_after_a_success() -> None:
    down = 3
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        nonlocal down
        if down:
            down -= 1
            raise ConnectionError("store down")
        if 13 in batch:
            raise ValueError("cannot encode 13")
        written.extend(batch)

    writer = BatchWriter("t", write, max_batch=10, interval_s=0.01, min_backoff_s=0.01, max_backoff_s=10)
    writer.start()
    for i in (12, 13, 14):
        writer.put(i)
    await asyncio.wait_for(writer.flush(), 10)
    assert writer.failures == 3 and written == [12, 14] and writer.rejected == [13]
    assert writer.backoff_s == 0.01  # grew to 0.08 during the outage; the bisected flush that wrote reset it
    await writer.stop()


async def test_an_unreachable_store_keeps_every_item_and_is_not_bisected() -> None:
    attempts: list[int] = []
    written: list[int] = []
    up = False

    async def write(batch: Sequence[int]) -> None:
        attempts.append(len(batch))
        if not up:
            raise ConnectionRefusedError(111, "Connect call failed")
        written.extend(batch)

    writer = BatchWriter("t", write, max_batch=50, interval_s=0.01, min_backoff_s=0.001, max_backoff_s=0.005)
    writer.start()
    for i in range(50):
        writer.put(i)
    deadline = asyncio.get_running_loop().time() + 10
    while len(attempts) < 5:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)
    assert set(attempts) == {50}  # the whole batch is retried, never split while the store cannot be reached
    up = True
    await asyncio.wait_for(writer.flush(), 10)
    assert written == list(range(50)) and writer.rejected == []
    await writer.stop()


async def test_when_every_write_fails_nothing_is_set_aside() -> None:
    written: list[int] = []
    refusing = True

    async def write(batch: Sequence[int]) -> None:
        if refusing:
            raise RuntimeError("database is locked")  # not a socket error, but it refuses everything
        written.extend(batch)

    writer = BatchWriter("t", write, max_batch=20, interval_s=0.01, min_backoff_s=0.001, max_backoff_s=0.005)
    writer.start()
    for i in range(20):
        writer.put(i)
    deadline = asyncio.get_running_loop().time() + 10
    while writer.failures < 3:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)
    assert writer.rejected == [] and writer.pending == 20
    refusing = False
    await asyncio.wait_for(writer.flush(), 10)
    assert written == list(range(20))
    await writer.stop()


async def test_a_lone_failing_item_waits_for_proof_that_the_store_is_up() -> None:
    written: list[int] = []

    async def write(batch: Sequence[int]) -> None:
        if 13 in batch:
            raise ValueError("cannot encode 13")
        written.extend(batch)

    writer = BatchWriter("t", write, max_batch=10, interval_s=0.01, min_backoff_s=0.001, max_backoff_s=0.005)
    writer.start()
    writer.put(13)
    deadline = asyncio.get_running_loop().time() + 10
    while writer.failures < 3:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)
    assert writer.rejected == [] and writer.pending == 1  # alone, it could be the store: kept
    writer.put(14)
    await asyncio.wait_for(writer.flush(), 10)
    assert written == [14] and writer.rejected == [13]
    await writer.stop()


async def test_log_lines_about_an_item_are_bounded(caplog: pytest.LogCaptureFixture) -> None:
    huge = "m" * 1_000_000

    async def write(batch: Sequence[str]) -> None:
        for item in batch:
            if item == huge:  # drivers quote the value they refuse, whole
                raise ValueError(f"invalid input for query argument $11: {item!r} (value too long)")

    writer = BatchWriter("t", write, max_batch=10, interval_s=0.01, min_backoff_s=0.001)
    writer.start()
    writer.put(huge)
    deadline = asyncio.get_running_loop().time() + 10
    while writer.failures < 2:  # failed flushes of the lone item are logged too
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.005)
    writer.put("ok")
    await asyncio.wait_for(writer.flush(), 10)
    await writer.stop()
    records = [r for r in caplog.records if r.name == "wardgate.batching"]
    assert writer.rejected == [huge] and any("set aside" in r.getMessage() for r in records)
    for record in records:
        assert len(record.getMessage()) <= 1024 and (record.exc_info is None or record.levelno < logging.INFO)
