"""Audio and image calls to OpenAI-family providers: a multipart upload streamed from the spooled files (aiohttp
reads them in a thread, a chunk at a time), or a JSON body; the answer relayed as the provider sent it, whatever its
type (JSON, a text transcript, audio bytes), with its usage (``usage.media``).

An upstream that drops the connection mid-upload is a 502 (``upstream_errors``) with no usage: nothing was answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from time import perf_counter
from typing import IO, Any

import aiohttp
import orjson

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UpstreamError, WardgateError
from wardgate.core.usage import Usage
from wardgate.providers.framing.sse import SSEDecoder, SSEEvent
from wardgate.providers.http import UpstreamHTTP, upstream_errors
from wardgate.providers.streaming import read_stream
from wardgate.usage.media import IMAGE_OPERATIONS, media_usage, streamed_media_usage

ErrorOf = Callable[[aiohttp.ClientResponse, bytes], WardgateError]


SPEECH_CHUNK = 64 * 1024


async def open_speech(
    call: Call,
    http: UpstreamHTTP,
    provider: str,
    url: str,
    body: dict[str, Any],
    headers: Mapping[str, str],
    error_of: ErrorOf,
) -> ChunkStream:
    """Speech relayed as the provider streams it: each read of its body is one chunk of raw audio bytes (never
    parsed). The content type goes on the call's response headers; the usage (characters) is known from the
    request, so it is set before the first byte."""
    response = await http.open(call, provider, url, orjson.dumps(body), headers, error_of)
    call.response_headers.append(
        (b"content-type", response.headers.get("content-type", "application/octet-stream").encode("latin-1"))
    )
    call.usage = media_usage(call.operation, call.body, b"", "")
    return _audio(response, provider)


async def _audio(response: aiohttp.ClientResponse, provider: str) -> AsyncIterator[list[Chunk]]:
    try:
        with upstream_errors(provider):
            async for data in response.content.iter_chunked(SPEECH_CHUNK):
                yield [Chunk(raw=data)]
    finally:
        response.release()


def _form(call: Call, body: dict[str, Any], handles: Sequence[IO[bytes]]) -> Any:
    form = aiohttp.FormData(quote_fields=False)
    for name, value in body.items():
        for item in value if isinstance(value, list) else [value]:
            key = name + "[]" if isinstance(value, list) else name
            form.add_field(key, item if isinstance(item, str) else orjson.dumps(item).decode())
    for upload, handle in zip(call.uploads, handles, strict=True):
        form.add_field(upload.field, handle, filename=upload.filename, content_type=upload.content_type)
    return form


async def open_media_events(
    call: Call,
    http: UpstreamHTTP,
    provider: str,
    url: str,
    body: dict[str, Any],
    headers: Mapping[str, str],
    error_of: ErrorOf,
) -> ChunkStream:
    """A streamed transcription, image or speech (``stream: true``, ``stream_format: sse``): the provider's SSE
    events relayed as they come (each chunk the event's JSON), its usage read from the event that carries it
    (``transcript.text.done``, ``image_generation.completed``/``image_edit.completed``, ``speech.audio.done``)."""
    with contextlib.ExitStack() as files:
        if call.uploads:
            handles = [files.enter_context(await asyncio.to_thread(open, u.path, "rb")) for u in call.uploads]
            sent: Any = _form(call, body, handles)
            sent_headers = {k: v for k, v in headers.items() if k != "content-type"}
        else:
            sent, sent_headers = orjson.dumps(body), dict(headers)
        response = await http.open(call, provider, url, sent, sent_headers, error_of)
    images: list[Usage] = []  # each completed image's usage: a stream of several is billed their sum

    def on_event(event: SSEEvent, batch: list[Chunk]) -> None:
        data = event.data
        if not data or data == b"[DONE]":
            return
        if b'"usage"' in data or b"completed" in data:
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise UpstreamError(f"{provider}: the provider sent an event that is not JSON.") from exc
            if isinstance(obj, dict):
                kind = str(obj.get("type") or "")
                if call.operation in IMAGE_OPERATIONS:
                    if kind.endswith(".completed"):
                        images.append(streamed_media_usage(call.operation, call.body, obj, 1) or Usage())
                        call.usage = _summed(images)
                elif isinstance(obj.get("usage"), dict):
                    call.usage = streamed_media_usage(call.operation, call.body, obj, 0)
        batch.append(Chunk(raw=data))

    return read_stream(call, provider, response, SSEDecoder(), on_event)


def _summed(images: list[Usage]) -> Usage:
    total = Usage(images=len(images), image_kind=images[-1].image_kind)
    for usage in images:
        total.input_tokens += usage.input_tokens
        total.output_tokens += usage.output_tokens
        total.cached_tokens += usage.cached_tokens
    return total


async def send_media(
    call: Call,
    http: UpstreamHTTP,
    provider: str,
    url: str,
    body: dict[str, Any],
    headers: Mapping[str, str],
    error_of: ErrorOf,
) -> Result:
    started = perf_counter()
    with contextlib.ExitStack() as files:
        if call.uploads:
            handles = [files.enter_context(await asyncio.to_thread(open, u.path, "rb")) for u in call.uploads]
            sent: Any = _form(call, body, handles)
            sent_headers = {k: v for k, v in headers.items() if k != "content-type"}  # aiohttp sets the boundary
        else:
            sent, sent_headers = orjson.dumps(body), dict(headers)
        response, raw = await http.fetch(call, provider, url, sent, sent_headers, None)
    call.upstream_s = perf_counter() - started
    if response.status != 200:
        raise error_of(response, raw)
    content_type = response.headers.get("content-type", "application/octet-stream")
    call.usage = media_usage(call.operation, call.body, raw, content_type)
    return Result(raw=raw, content_type=content_type.encode("latin-1"))
