"""The one loop that reads a provider's streamed answer: reads → framing events → chunks, one batch per read.

An adapter's stream is ``read_stream`` with its framing's decoder and two functions of its own: ``on_event`` turns one
decoded event into chunks (appending them to the read's batch) and ``on_end`` runs when the body ended, to check that
the answer did too (a stream cut short raises) and to add closing chunks. What every stream gets from here:
- transport errors while reading (a reset, a stall between reads) become WardgateErrors (``upstream_errors``);
- an error event (``on_event`` raising a WardgateError) or a corrupt frame ends the stream after the chunks decoded
  before it in the same read have been handed on: a client sees everything the provider said before it failed;
- ``call.first_token_at`` is set at the first batch;
- the connection goes back to the pool when the body was read to its end, and is dropped otherwise (client gone,
  error) rather than drained.
One generator per stream, one ``yield`` per read that produced chunks: nothing is copied or awaited per chunk.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable
from time import perf_counter
from typing import Protocol, TypeVar

import aiohttp

from wardgate.core.call import Call, Chunk
from wardgate.core.errors import UpstreamError, WardgateError
from wardgate.providers.framing import FramingError
from wardgate.providers.http import upstream_errors

E = TypeVar("E")
E_co = TypeVar("E_co", covariant=True)


class Decoder(Protocol[E_co]):
    """A framing's incremental decoder (``SSEDecoder``, ``EventStreamDecoder``); raises FramingError on bad bytes."""

    def feed(self, data: bytes) -> Iterable[E_co]: ...

    def flush(self) -> Iterable[E_co]: ...


OnEvent = Callable[[E, list[Chunk]], None]
OnEnd = Callable[[list[Chunk]], None]


async def read_stream(
    call: Call,
    provider: str,
    response: aiohttp.ClientResponse,
    decoder: Decoder[E],
    on_event: OnEvent[E],
    on_end: OnEnd | None = None,
    *,
    hold_first: bool = False,
) -> AsyncGenerator[list[Chunk], None]:
    """The chunks of ``response``'s body, a batch per read.

    With ``hold_first`` the generator first yields an empty batch once the first chunks are decoded, and only then
    those chunks: an adapter that awaits that first ``anext`` before handing the stream on raises a refusal the
    provider put at the start of a 200 stream from ``open_stream``, with its own status, before the client's stream
    begins (Gemini's blocked prompts), without a second generator around this one.
    """
    finished = False
    try:
        with upstream_errors(provider):
            async for data in response.content.iter_any():
                batch: list[Chunk] = []
                error = _decode(provider, decoder.feed(data), on_event, batch)
                if batch:
                    if call.first_token_at is None:
                        call.first_token_at = perf_counter()
                    if hold_first:
                        hold_first = False
                        yield []
                    yield batch
                if error is not None:
                    raise error
            batch = []
            error = _decode(provider, decoder.flush(), on_event, batch)
            if error is None and on_end is not None:
                try:
                    on_end(batch)
                except WardgateError as exc:
                    error = exc
            if batch:
                if hold_first:
                    yield []
                yield batch
            if error is not None:
                raise error
        finished = True
    finally:
        if finished:
            response.release()
        else:  # cut short (client gone, error): drop the connection rather than drain it
            response.close()


def _decode(provider: str, events: Iterable[E], on_event: OnEvent[E], batch: list[Chunk]) -> WardgateError | None:
    """Translate one read's events into ``batch``; the error that ended it, if one did, is returned, not raised, so
    that the chunks before it are handed on first."""
    try:
        for event in events:
            on_event(event, batch)
    except WardgateError as exc:
        return exc
    except FramingError as exc:
        error = UpstreamError(f"{provider}: the provider's stream is corrupt ({exc}).")
        error.__cause__ = exc
        return error
    return None
