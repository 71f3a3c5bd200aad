"""Audio and image calls to OpenAI-family providers: a multipart upload streamed from the spooled files (aiohttp
reads them in a thread, a chunk at a time), or a JSON body; the answer relayed as the provider sent it, whatever its
type (JSON, a text transcript, audio bytes), with its usage (``usage.media``).

An upstream that drops the connection mid-upload is a 502 (``upstream_errors``) with no usage: nothing was answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from time import perf_counter
from typing import IO, Any

import aiohttp
import orjson

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import WardgateError
from wardgate.providers.http import UpstreamHTTP, upstream_errors
from wardgate.usage.media import media_usage

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
            form = aiohttp.FormData(quote_fields=False)
            for name, value in body.items():
                for item in value if isinstance(value, list) else [value]:
                    key = name + "[]" if isinstance(value, list) else name
                    form.add_field(key, item if isinstance(item, str) else orjson.dumps(item).decode())
            for upload in call.uploads:
                handle: IO[bytes] = files.enter_context(await asyncio.to_thread(open, upload.path, "rb"))
                form.add_field(upload.field, handle, filename=upload.filename, content_type=upload.content_type)
            sent: Any = form
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
