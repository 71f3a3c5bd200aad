"""Audio and image calls to OpenAI-family providers: a multipart upload streamed from the spooled files (aiohttp
reads them in a thread, a chunk at a time), or a JSON body; the answer relayed as the provider sent it, whatever its
type (JSON, a text transcript, audio bytes), with its usage (``usage.media``).

An upstream that drops the connection mid-upload is a 502 (``upstream_errors``) with no usage: nothing was answered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import IO, Any

import aiohttp
import orjson

from wardgate.core.call import Call, Result
from wardgate.core.errors import WardgateError
from wardgate.providers.http import UpstreamHTTP
from wardgate.usage.media import media_usage

ErrorOf = Callable[[aiohttp.ClientResponse, bytes], WardgateError]


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
