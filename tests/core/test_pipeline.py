"""The pipeline's contract: order, early results, after hooks on every entered stage, chunk hooks."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import InvalidRequest
from wardgate.core.pipeline import Pipeline
from wardgate.routing.router import WeightedChoice


class Recorder:
    def __init__(self, name: str, log: list[str], *, answer: Result | None = None, fail: bool = False) -> None:
        self.name, self.log, self.answer, self.fail = name, log, answer, fail

    async def before(self, call: Call) -> Result | None:
        self.log.append(f"before {self.name}")
        if self.fail:
            raise InvalidRequest("refused")
        return self.answer

    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        self.log.append(f"after {self.name} {'error' if error else 'ok'}")

    def on_chunk(self, call: Call, chunk: Chunk) -> Chunk | None:
        self.log.append(f"chunk {self.name}")
        return None if chunk.data.get("drop") else chunk


def make_call(stream: bool = False) -> Call:
    return Call("id", "openai", "chat", "m", {}, stream, None, 0.0)


async def terminal(call: Call) -> Result:
    if call.stream:

        async def chunks() -> ChunkStream:
            yield [Chunk({"n": 1}), Chunk({"drop": True})]
            yield [Chunk({"n": 2})]

        return Result(stream=chunks())
    return Result.of({"ok": True})


async def test_stages_run_in_order_and_unwind_innermost_first() -> None:
    log: list[str] = []
    pipeline = Pipeline([Recorder("a", log), Recorder("b", log)], terminal)
    result = await pipeline.run(make_call())
    assert result.body == {"ok": True}
    assert log == ["before a", "before b", "after b ok", "after a ok"]


async def test_an_early_result_skips_the_rest_but_unwinds_what_was_entered() -> None:
    log: list[str] = []
    pipeline = Pipeline([Recorder("a", log, answer=Result.of({"cached": 1})), Recorder("b", log)], terminal)
    assert (await pipeline.run(make_call())).body == {"cached": 1}
    assert log == ["before a", "after a ok"]


async def test_a_failing_stage_still_unwinds_with_the_error() -> None:
    log: list[str] = []
    pipeline = Pipeline([Recorder("a", log), Recorder("b", log, fail=True)], terminal)
    with pytest.raises(InvalidRequest):
        await pipeline.run(make_call())
    assert log == ["before a", "before b", "after b error", "after a error"]


async def test_streams_pass_every_chunk_through_the_chunk_hooks_and_unwind_at_the_end() -> None:
    log: list[str] = []
    pipeline = Pipeline([Recorder("a", log)], terminal)
    result = await pipeline.run(make_call(stream=True))
    assert result.stream is not None
    batches: list[list[dict[str, Any]]] = [[c.data for c in batch] async for batch in result.stream]
    assert batches == [[{"n": 1}], [{"n": 2}]]
    assert log[-1] == "after a ok" and log.count("chunk a") == 3


class Selective(Recorder):
    """Wants the chunks of a call only when the call's model says so (as limits and guards decide per call)."""

    def chunk_hook(self, call: Call) -> Any:
        return self.on_chunk if call.model == "watched" else None


async def test_a_selective_chunk_stage_sees_the_chunks_only_of_the_calls_it_asks_for() -> None:
    log: list[str] = []
    pipeline = Pipeline([Recorder("a", log), Selective("s", log)], terminal)
    for model in ("plain", "watched"):
        call = make_call(stream=True)
        call.model = model
        result = await pipeline.run(call)
        assert result.stream is not None
        assert [[c.data for c in batch] async for batch in result.stream] == [[{"n": 1}], [{"n": 2}]]
    assert log.count("chunk a") == 6  # an unselective stage sees every chunk of both calls
    assert log.count("chunk s") == 2  # the selective one only the watched call's (the dropped chunk stops at a)
    assert log.count("after s ok") == 2  # its after hook runs for both


def test_weighted_choice_follows_the_weights() -> None:
    from wardgate.core.deployment import Deployment

    deployments = [Deployment(n, n, n, adapter=None, weight=w) for n, w in (("a", 1.0), ("b", 3.0))]  # type: ignore[arg-type]
    choice = WeightedChoice(deployments)
    counts = Counter(choice.pick().name for _ in range(4000))
    assert 0.2 < counts["a"] / 4000 < 0.3
