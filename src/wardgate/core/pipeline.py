"""The pipeline: an ordered list of stages, assembled once at start-up, run for every call.

Forward pass: each stage's ``before(call)`` in order; the first one that returns a Result ends the forward pass (a
cache hit, a refusal); otherwise the terminal step (the provider call) produces it. Backward pass: the ``after`` of
every stage that was entered, innermost first, so accounting, audit and metrics see every call, failed ones included
(``after`` receives the error then). For a stream, ``on_chunk`` of each stage sees every chunk and the backward pass
runs when the stream ends, is cut, or the client goes away.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from wardgate.core.call import Call, Chunk, Result
from wardgate.core.drain import drain_expired, shutting_down
from wardgate.core.relay import ChunkHook, Relay, StopStream

__all__ = ["AfterStage", "ChunkStage", "Pipeline", "Stage", "StopStream", "Terminal"]


@runtime_checkable
class Stage(Protocol):
    name: str

    async def before(self, call: Call) -> Result | None: ...


@runtime_checkable
class AfterStage(Protocol):
    async def after(self, call: Call, result: Result | None, error: BaseException | None) -> None:
        """Runs once per entered call; ``error`` is set when the call failed. Must not raise."""
        ...


@runtime_checkable
class ChunkStage(Protocol):
    def on_chunk(self, call: Call, chunk: Chunk) -> Chunk | None:
        """See (and possibly replace) one streamed chunk; return None to hold it back."""
        ...


@runtime_checkable
class SelectiveChunkStage(Protocol):
    """A chunk stage that says per call, once the stream starts, whether it needs to see the chunks at all (limits:
    only a hard cap without ``max_tokens``; guards: only when an answer guard applies). The others pay nothing per
    chunk."""

    def chunk_hook(self, call: Call) -> ChunkHook | None: ...


Terminal = Callable[[Call], Awaitable[Result]]


class Pipeline:
    """Built once from config; immutable. ``run`` is the hot path: keep it allocation-light."""

    __slots__ = ("_afters", "_hooks", "_selectors", "_stages", "_terminal", "stages")

    def __init__(self, stages: Sequence[Stage], terminal: Terminal) -> None:
        self.stages = tuple(stages)
        self._stages = self.stages
        self._terminal = terminal
        # per stage index: its after hook, if it has one
        self._afters = tuple(s if isinstance(s, AfterStage) else None for s in self.stages)
        chunked = [s for s in self.stages if isinstance(s, ChunkStage)]
        self._hooks = tuple(s.on_chunk for s in chunked)
        # per chunk stage: how it picks its hook for a call (None: always its on_chunk)
        self._selectors = tuple(s.chunk_hook if isinstance(s, SelectiveChunkStage) else None for s in chunked)

    async def run(self, call: Call) -> Result:
        entered = 0
        result: Result | None = None
        try:
            for stage in self._stages:
                entered += 1
                result = await stage.before(call)
                if result is not None:
                    break
            else:
                result = await self._terminal(call)
        except BaseException as exc:
            if drain_expired(exc):  # the server's drain timeout passed: a 503 the client can retry elsewhere
                exc = shutting_down()
                await self._unwind(call, entered, None, exc)
                raise exc from None
            await self._unwind(call, entered, None, exc)
            raise
        if result.stream is not None:
            relay = result.stream if isinstance(result.stream, Relay) else Relay(call, result.stream)
            relay.set_hooks(self._hooks_for(call))
            streamed = result

            async def unwind(error: BaseException | None) -> None:
                await self._unwind(call, entered, streamed, error)

            relay.on_end(unwind)
            result.stream = relay
        else:
            await self._unwind(call, entered, result, None)
        return result

    def _hooks_for(self, call: Call) -> tuple[ChunkHook, ...]:
        hooks: list[ChunkHook] = []
        for hook, select in zip(self._hooks, self._selectors, strict=True):
            chosen = hook if select is None else select(call)
            if chosen is not None:
                hooks.append(chosen)
        return tuple(hooks)

    async def _unwind(self, call: Call, entered: int, result: Result | None, error: BaseException | None) -> None:
        afters = self._afters
        for i in range(entered - 1, -1, -1):
            stage = afters[i]
            if stage is not None:
                await stage.after(call, result, error)
