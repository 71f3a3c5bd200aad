"""One relay per streamed call: the provider's stream, the stages' chunk hooks, and one place that closes it all.

The relay is a plain async iterator (not a generator stacked on generators): each ``__anext__`` reads one batch from
the source and passes its chunks through the hooks. Whoever wrote a layer that needs to know how the stream ended
(the router records the deployment's outcome, the pipeline runs the stages' ``after`` hooks) registers an end
callback instead of wrapping the stream. ``aclose`` runs exactly once, on every way out (the stream ended, failed,
was cut by a stage, or the client left): it closes the source, then runs the end callbacks, latest registered first,
each with the error that ended the stream (None when it ended normally). The relay closes itself when the stream
ends or fails; a consumer that stops early (the client left) calls ``aclose`` with the reason.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from wardgate.core.call import Call, Chunk, ChunkStream
from wardgate.core.drain import drain_expired, shutting_down

ChunkHook = Callable[[Call, Chunk], "Chunk | None"]
OnEnd = Callable[[BaseException | None], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class BatchHook:
    """A chunk hook that can also take, at once, several chunks that arrived together (one read from the provider):
    ``many`` returns what the client receives of them, in order; it may merge them. Used only as the first hook (the
    others then see its output, chunk by chunk, as they would see its output for each chunk)."""

    one: ChunkHook
    many: Callable[[Call, list[Chunk]], list[Chunk]]

    def __call__(self, call: Call, chunk: Chunk) -> Chunk | None:
        return self.one(call, chunk)


class StopStream(Exception):  # noqa: N818 - a signal, not an error
    """Raised by an ``on_chunk`` hook to end a stream cleanly (e.g. at a hard budget cap): ``chunk``, if any, is the
    last one the client receives, and the stream then ends as if the provider had finished it."""

    def __init__(self, chunk: Chunk | None = None) -> None:
        super().__init__("stream stopped by a stage")
        self.chunk = chunk


class Relay:
    """The stream as the client receives it. Iterate it; in a ``finally``, ``await relay.aclose(error)``."""

    __slots__ = ("_call", "_closed", "_ends", "_error", "_first", "_hooks", "_many", "_source", "_stopped")

    def __init__(self, call: Call, source: ChunkStream, first: list[Chunk] | None = None) -> None:
        self._call = call
        self._source = source
        self._first = first  # a batch already read (the router reads the first one to know the provider answered)
        self._hooks: Sequence[ChunkHook] = ()
        self._many: Callable[[Call, list[Chunk]], list[Chunk]] | None = None
        self._ends: list[OnEnd] = []
        self._closed = False
        self._stopped = False
        self._error: BaseException | None = None

    def on_end(self, callback: OnEnd) -> None:
        self._ends.append(callback)

    def set_hooks(self, hooks: Sequence[ChunkHook]) -> None:
        """Each chunk goes through ``hooks`` in order; a first hook that is a ``BatchHook`` takes a batch at once."""
        first = hooks[0] if hooks else None
        if isinstance(first, BatchHook):
            self._many = first.many
            hooks = (first.one, *hooks[1:])
        else:
            self._many = None
        self._hooks = hooks

    def __aiter__(self) -> AsyncIterator[list[Chunk]]:
        return self

    async def __anext__(self) -> list[Chunk]:
        while True:
            if self._stopped:
                await self.aclose()
                raise StopAsyncIteration
            batch = self._first
            if batch is not None:
                self._first = None
            else:
                try:
                    batch = await anext(self._source)
                except StopAsyncIteration:
                    await self.aclose()
                    raise
                except BaseException as exc:
                    if drain_expired(exc):  # the server's drain timeout passed: end with an error event, not a reset
                        exc = shutting_down()
                        self._error = exc
                        await self.aclose(exc)
                        raise exc from None
                    self._error = exc
                    await self.aclose(exc)
                    raise
            out = self._apply(batch) if self._hooks else batch
            if out:
                self._call.streamed_chunks += len(out)
                return out

    def _apply(self, batch: list[Chunk]) -> list[Chunk]:
        call, out, hooks = self._call, [], self._hooks
        try:
            if self._many is not None and len(batch) > 1:
                batch = self._many(call, batch)
                hooks = hooks[1:]
            for chunk in batch:
                seen: Chunk | None = chunk
                for hook in hooks:
                    seen = hook(call, chunk)
                    if seen is None:
                        break
                    chunk = seen
                if seen is not None:
                    out.append(seen)
        except StopStream as stop:
            if stop.chunk is not None:
                out.append(stop.chunk)
            self._stopped = True
        return out

    async def aclose(self, error: BaseException | None = None) -> None:
        """Close the source and run the end callbacks once; ``error`` is what ended the stream early, if anything
        (a failure the relay itself saw takes precedence)."""
        if self._closed:
            return
        self._closed = True
        error = self._error or error
        try:
            aclose = getattr(self._source, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            for callback in reversed(self._ends):
                await callback(error)
