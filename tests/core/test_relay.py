"""The relay: one owner of a stream's end, whichever way it ends."""

from __future__ import annotations

import asyncio

import pytest

from wardgate.core.call import Call, Chunk, ChunkStream
from wardgate.core.errors import UpstreamError
from wardgate.core.relay import OnEnd, Relay, StopStream


def new_call() -> Call:
    return Call("id", "openai", "chat", "m", {}, True, None, 0.0)


class Source:
    """A provider stream that records whether it was closed."""

    def __init__(self, batches: int, fail_at: int | None = None) -> None:
        self.batches, self.fail_at, self.closed = batches, fail_at, False

    async def stream(self) -> ChunkStream:
        try:
            for n in range(self.batches):
                if n == self.fail_at:
                    raise UpstreamError("reset mid-stream")
                yield [Chunk({"n": n})]
        finally:
            self.closed = True


def recorder(log: list[object], name: str) -> OnEnd:
    async def ended(error: BaseException | None) -> None:
        log.append((name, type(error).__name__ if error is not None else None))

    return ended


async def test_a_stream_that_ends_closes_its_source_and_runs_the_end_callbacks_once_latest_first() -> None:
    source, log = Source(3), []
    relay = Relay(new_call(), source.stream())
    relay.on_end(recorder(log, "router"))
    relay.on_end(recorder(log, "pipeline"))
    got = [batch[0].data["n"] async for batch in relay]
    await relay.aclose()  # a consumer's finally: harmless after the end
    assert got == [0, 1, 2]
    assert source.closed
    assert log == [("pipeline", None), ("router", None)]


async def test_a_failing_source_hands_its_error_to_every_end_callback_and_to_the_consumer() -> None:
    source, log = Source(3, fail_at=1), []
    relay = Relay(new_call(), source.stream())
    relay.on_end(recorder(log, "router"))
    with pytest.raises(UpstreamError):
        async for _ in relay:
            pass
    assert log == [("router", "UpstreamError")]


async def test_a_consumer_that_stops_early_closes_the_source_with_its_reason() -> None:
    source, log = Source(10), []
    relay = Relay(new_call(), source.stream())
    relay.on_end(recorder(log, "router"))
    await anext(relay)
    await relay.aclose(asyncio.CancelledError())
    assert source.closed and log == [("router", "CancelledError")]


async def test_a_hook_can_cut_the_stream_cleanly_with_a_last_chunk() -> None:
    source, log = Source(10), []
    call = new_call()

    def cut_at_two(call: Call, chunk: Chunk) -> Chunk | None:
        if chunk.data["n"] == 2:
            raise StopStream(Chunk({"n": "last"}))
        return chunk

    relay = Relay(call, source.stream())
    relay.set_hooks([cut_at_two])
    relay.on_end(recorder(log, "pipeline"))
    got = [batch[0].data["n"] async for batch in relay]
    assert got == [0, 1, "last"]
    assert source.closed and log == [("pipeline", None)]
    assert call.streamed_chunks == 3


async def test_a_batch_read_ahead_is_relayed_first() -> None:
    source = Source(2)
    relay = Relay(new_call(), source.stream(), first=[Chunk({"n": "first"})])
    assert [batch[0].data["n"] async for batch in relay] == ["first", 0, 1]
