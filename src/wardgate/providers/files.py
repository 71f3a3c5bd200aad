"""Files and batches at an OpenAI-family provider: uploads streamed from the spooled files, downloads relayed as they
arrive, and a batch's output metered line by line.

Nothing here holds a whole file: an upload is read from disk by aiohttp a chunk at a time, a download is handed
over as the open response for the surface to relay, and ``meter_output`` reads the output file in pieces, keeping
at most one line (``MAX_LINE_BYTES``) to parse it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import IO, Any

import aiohttp
import orjson

from wardgate.core.call import Call, Result
from wardgate.core.errors import UpstreamError
from wardgate.core.upload import Upload
from wardgate.core.usage import Usage
from wardgate.providers.http import ErrorOf, UpstreamHTTP, upstream_errors

READ_CHUNK = 1024 * 1024
MAX_LINE_BYTES = 32 * 1024 * 1024  # one output line (a request's answer) parsed at a time
# uploads and downloads of hundreds of megabytes: no total bound, but the provider must keep data flowing
TRANSFER_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=300)


@dataclass(frozen=True, slots=True)
class FileHost:
    """The provider that holds files and runs batches (``files.provider``): its base URL, headers and errors."""

    name: str
    http: UpstreamHTTP
    base_url: str
    headers: Mapping[str, str]
    error_of: ErrorOf

    def _headers(self, call_headers: Mapping[str, str] | None = None) -> dict[str, str]:
        out = {k: v for k, v in self.headers.items() if k != "content-type"}
        out.update(call_headers or {})
        return out

    async def upload(self, fields: list[tuple[str, str]], upload: Upload) -> bytes:
        """POST /files as multipart, the file streamed from its spooled copy; the provider's JSON answer."""
        form = aiohttp.FormData(quote_fields=False)
        for name, value in fields:
            form.add_field(name, value)
        with contextlib.ExitStack() as files:
            handle: IO[bytes] = files.enter_context(await asyncio.to_thread(open, upload.path, "rb"))
            form.add_field("file", handle, filename=upload.filename, content_type=upload.content_type)
            with upstream_errors(self.name):
                response = await self.http.session.post(
                    self.base_url + "/files", data=form, headers=self._headers(), timeout=TRANSFER_TIMEOUT
                )
                try:
                    raw = await response.read()
                finally:
                    response.release()
        if response.status != 200:
            raise self.error_of(response, raw)
        return raw

    async def request(self, method: str, path: str, query: Mapping[str, str] | None = None) -> bytes:
        """A small JSON exchange (list, retrieve, delete, cancel); the provider's answer, a refusal raised."""
        with upstream_errors(self.name):
            response = await self.http.session.request(
                method,
                self.base_url + path,
                params=dict(query or {}),
                headers=self._headers({"content-type": "application/json"} if method == "POST" else None),
                timeout=aiohttp.ClientTimeout(total=120, sock_connect=10),
            )
            try:
                raw = await response.read()
            finally:
                response.release()
        if response.status != 200:
            raise self.error_of(response, raw)
        return raw

    async def open_content(self, path: str, query: Mapping[str, str] | None = None) -> aiohttp.ClientResponse:
        """GET a download (``/files/{id}/content``, ``/videos/{id}/content``), its headers in; the body is read by
        the caller (``relay``)."""
        with upstream_errors(self.name):
            response = await self.http.session.get(
                self.base_url + path, params=dict(query or {}), headers=self._headers(), timeout=TRANSFER_TIMEOUT
            )
        if response.status != 200:
            try:
                with upstream_errors(self.name):
                    raw = await response.read()
            finally:
                response.release()
            raise self.error_of(response, raw)
        return response

    async def relay(self, response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        try:
            with upstream_errors(self.name):
                async for data in response.content.iter_chunked(READ_CHUNK):
                    yield data
        finally:
            response.release()

    # --- the pipeline's operations (the adapter's send for "batches" and "batch_output") ---------------------

    async def create_batch(self, call: Call) -> Result:
        started = perf_counter()
        raw = await self._post_json("/batches", call.body)
        call.upstream_s = perf_counter() - started
        return Result(raw=raw)

    async def _post_json(self, path: str, body: dict[str, Any]) -> bytes:
        with upstream_errors(self.name):
            response = await self.http.session.post(
                self.base_url + path,
                data=orjson.dumps(body),
                headers=self._headers({"content-type": "application/json"}),
                timeout=aiohttp.ClientTimeout(total=120, sock_connect=10),
            )
            try:
                raw = await response.read()
            finally:
                response.release()
        if response.status != 200:
            raise self.error_of(response, raw)
        return raw

    async def meter_output(self, call: Call) -> Result:
        """Read a finished batch's output file, line by line, and set the call's usage to the sum of every answer's
        usage (the call is priced with the batch discount, ``Call.batch``). The answer is a summary, not the file:
        clients download that themselves."""
        file_id = call.body["output_file_id"]
        started = perf_counter()
        response = await self.open_content(f"/files/{file_id}/content")
        call.upstream_s = perf_counter() - started
        total = Usage()
        requests = failed = 0
        async for line in _lines(self.relay(response), self.name):
            requests += 1
            usage = _line_usage(line)
            if usage is None:
                failed += 1
                continue
            total.input_tokens += usage.input_tokens
            total.output_tokens += usage.output_tokens
            total.cached_tokens += usage.cached_tokens
            total.cache_write_tokens += usage.cache_write_tokens
            total.reasoning_tokens += usage.reasoning_tokens
        call.usage = total
        call.ledger_details = {"batch": {"id": call.body["batch_id"], "requests": requests, "failed": failed}}
        return Result.of({"object": "batch.settlement", "requests": requests, "failed": failed,
                          "usage": total.to_openai()})  # fmt: skip


async def _lines(chunks: AsyncIterator[bytes], provider: str) -> AsyncIterator[bytes]:
    pending = bytearray()
    async for data in chunks:
        start = 0
        while (end := data.find(b"\n", start)) >= 0:
            pending += data[start:end]
            if pending.strip():
                yield bytes(pending)
            pending.clear()
            start = end + 1
        pending += data[start:]
        if len(pending) > MAX_LINE_BYTES:
            raise UpstreamError(f"{provider}: a line of the batch output is longer than {MAX_LINE_BYTES} bytes.")
    if pending.strip():
        yield bytes(pending)


def _line_usage(line: bytes) -> Usage | None:
    """The usage of one output line (``{"response": {"status_code", "body": {… "usage"}}}``); None for a failed
    request or a line without usage."""
    try:
        parsed = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    response = parsed.get("response") if isinstance(parsed, dict) else None
    body = response.get("body") if isinstance(response, dict) else None
    usage = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(usage, dict):
        return None
    try:
        return Usage.from_openai(usage)
    except (TypeError, ValueError, AttributeError):
        return None
