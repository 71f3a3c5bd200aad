"""`server.memory_trim_s`: every worker hands freed heap memory back to the system (glibc's malloc_trim) on a timer,
in a thread, so RSS does not creep up with fragmentation (issue 15, point 2); 0 turns it off."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from wardgate.config import ConfigError, load_config
from wardgate.server.memory import MemoryTrimmer, malloc_trim


class FakeTrim:
    def __init__(self, fail: bool = False) -> None:
        self.threads: list[int] = []
        self.fail = fail
        self.called = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    def __call__(self) -> int:
        self.threads.append(threading.get_ident())
        self.loop.call_soon_threadsafe(self.called.set)
        if self.fail:
            raise OSError("no")
        return 1


async def test_the_trim_runs_in_a_thread_not_on_the_event_loop() -> None:
    trim = FakeTrim()
    trimmer = MemoryTrimmer(60, trim)
    await trimmer.trim_once()
    assert trim.threads and trim.threads[0] != threading.get_ident()
    assert trimmer.runs == 1 and trimmer.last_s >= 0


async def test_it_runs_on_its_timer_until_closed() -> None:
    trim = FakeTrim()
    trimmer = MemoryTrimmer(0.001, trim)
    trimmer.start()
    assert trimmer.active
    for _ in range(3):
        await asyncio.wait_for(trim.called.wait(), 10)
        trim.called.clear()
    await trimmer.close()
    assert not trimmer.active and len(trim.threads) >= 3


async def test_zero_never_starts_and_a_failing_trim_is_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    trim = FakeTrim(fail=True)
    off = MemoryTrimmer(0, trim)
    off.start()
    assert not off.active
    await off.trim_once()  # called by hand: logged, not raised
    assert off.runs == 0 and "malloc_trim failed" in caplog.text


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc")
async def test_glibcs_malloc_trim_is_found_and_runs() -> None:
    trim = malloc_trim()
    assert trim is not None
    trimmer = MemoryTrimmer(60)
    await trimmer.trim_once()
    assert trimmer.runs == 1


def test_the_key_is_validated(tmp_path: Path) -> None:
    config = tmp_path / "wardgate.yaml"
    config.write_text("master_key: sk-trim-master-key\nserver: {memory_trim_s: 0}\n")
    assert load_config(config).server.memory_trim_s == 0
    for bad in ("-1", "7200", '"often"'):
        config.write_text(f"master_key: sk-trim-master-key\nserver: {{memory_trim_s: {bad}}}\n")
        with pytest.raises(ConfigError, match="memory_trim_s"):
            load_config(config)
