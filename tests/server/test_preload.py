"""The tokenizer vocabularies load in a thread at worker start: no request pays for them, and the event loop keeps
serving while they load."""

from __future__ import annotations

import asyncio
from time import perf_counter

from tests.support import gateway_from_yaml
from wardgate.app import preload_vocabularies
from wardgate.usage import tokens

CONFIG = """
providers:
  mock: {type: mock}
models:
  gpt-4o-mini: [{provider: mock, model: gpt-4o-mini}]
  claude: [{provider: mock, model: claude-sonnet-4-5}]
"""


async def ticks_until(loaded: asyncio.Future[None]) -> tuple[list[float], float]:
    """The gaps between ticks of a 5 ms ticker on this loop, until the vocabularies are in."""
    gaps: list[float] = []
    began = last = perf_counter()
    while not loaded.done():
        await asyncio.sleep(0.005)
        now = perf_counter()
        gaps.append(now - last)
        last = now
    return gaps, perf_counter() - began


async def test_the_preload_runs_in_a_thread_while_the_event_loop_keeps_ticking() -> None:
    tokens.encoding.cache_clear()  # as in a fresh worker
    loaded = preload_vocabularies(frozenset({tokens.O200K, tokens.CL100K}))
    gaps, lasted = await ticks_until(loaded)
    assert loaded.result() is None
    assert tokens.encoding.cache_info().currsize == 2  # o200k_base and cl100k_base
    # the loop kept turning while they loaded (inline, one pause would last the whole load); tiktoken builds each
    # encoding holding the GIL, so some pauses remain: bounded by that step, not by the whole load
    assert len(gaps) >= 10, (gaps, lasted)
    assert max(gaps) < 0.8 * lasted, (max(gaps), lasted)


async def settled(loaded: asyncio.Future[None]) -> None:
    await asyncio.wait_for(asyncio.shield(loaded), 60)


def test_a_worker_starts_the_preload_and_its_first_exact_count_reads_no_vocabulary() -> None:
    tokens.encoding.cache_clear()
    with gateway_from_yaml(CONFIG) as gateway:
        loaded = gateway.app.vocabularies
        assert loaded is not None  # started by the lifespan, which does not wait for it
        gateway.run(settled(loaded))
        assert tokens.encoding.cache_info().currsize == 2  # o200k (gpt-4o-mini) and cl100k (claude), before any request
        began = perf_counter()
        assert tokens.count_text("hello world", "gpt-4o") == 2
        assert tokens.count_text("hello world", "gpt-4") == 2
        assert perf_counter() - began < 0.05  # reading a vocabulary takes 0.2-1 s


def test_only_the_configured_models_vocabularies_are_read_and_none_when_preload_is_off() -> None:
    tokens.encoding.cache_clear()
    with gateway_from_yaml(CONFIG.replace("  claude: [{provider: mock, model: claude-sonnet-4-5}]\n", "")) as gateway:
        loaded = gateway.app.vocabularies
        assert loaded is not None
        gateway.run(settled(loaded))
        assert tokens.encoding.cache_info().currsize == 1  # o200k only: cl100k's ~35 MiB are not spent
    tokens.encoding.cache_clear()
    with gateway_from_yaml("server: {preload_tokenizers: false}\n" + CONFIG) as gateway:
        assert gateway.app.vocabularies is None
        assert tokens.encoding.cache_info().currsize == 0
