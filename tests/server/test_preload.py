"""Tokenizer vocabularies never stall the event loop: by default a worker reads one in a thread the first time a
count needs it (idle workers keep ~110 MiB less); ``server.preload_tokenizers: true`` reads the configured models'
ones in a thread at start, so no request waits for them."""

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
    tokens.forget()  # as in a fresh worker
    loaded = preload_vocabularies(frozenset({tokens.O200K, tokens.CL100K}))
    gaps, lasted = await ticks_until(loaded)
    assert loaded.result() is None
    assert tokens.loaded() == {tokens.O200K, tokens.CL100K}
    # the loop kept turning while they loaded (inline, one pause would last the whole load); tiktoken builds each
    # encoding holding the GIL, so some pauses remain: bounded by that step, not by the whole load
    assert len(gaps) >= 10, (gaps, lasted)
    assert max(gaps) < 0.8 * lasted, (max(gaps), lasted)


async def settled(loaded: asyncio.Future[None]) -> None:
    await asyncio.wait_for(asyncio.shield(loaded), 60)


PRELOAD = "server: {preload_tokenizers: true}\n"


def test_a_worker_starts_the_preload_and_its_first_exact_count_reads_no_vocabulary() -> None:
    tokens.forget()
    with gateway_from_yaml(PRELOAD + CONFIG) as gateway:
        loaded = gateway.app.vocabularies
        assert loaded is not None  # started by the lifespan, which does not wait for it
        gateway.run(settled(loaded))
        assert tokens.loaded() == {tokens.O200K, tokens.CL100K}  # gpt-4o-mini and claude, before any request
        began = perf_counter()
        assert tokens.count_text("hello world", "gpt-4o") == 2
        assert tokens.count_text("hello world", "gpt-4") == 2
        assert perf_counter() - began < 0.05  # reading a vocabulary takes 0.2-1 s


def test_only_the_configured_models_vocabularies_are_read_and_none_by_default() -> None:
    tokens.forget()
    only_gpt = CONFIG.replace("  claude: [{provider: mock, model: claude-sonnet-4-5}]\n", "")
    with gateway_from_yaml(PRELOAD + only_gpt) as gateway:
        loaded = gateway.app.vocabularies
        assert loaded is not None
        gateway.run(settled(loaded))
        assert tokens.loaded() == {tokens.O200K}  # cl100k's ~35 MiB are not spent
    tokens.forget()
    with gateway_from_yaml(CONFIG) as gateway:
        assert gateway.app.vocabularies is None
        assert tokens.loaded() == frozenset()


async def test_the_first_count_reads_its_vocabulary_in_a_thread_while_the_loop_keeps_ticking() -> None:
    tokens.forget()
    loaded = asyncio.ensure_future(tokens.ready("gpt-4o"))
    gaps, lasted = await ticks_until(loaded)
    assert tokens.loaded() == {tokens.O200K}
    assert len(gaps) >= 10 and max(gaps) < 0.8 * lasted, (gaps, lasted)
    assert tokens.count_text("hello world", "gpt-4o") == 2
    await tokens.ready("gpt-4o")  # in already: no thread
