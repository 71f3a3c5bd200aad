"""A streamed request the provider answered with one JSON document: the stream it stands for, or a clear error.

Some servers that speak a provider's wire format ignore ``stream: true`` and send the whole answer as
``application/json`` (mocks such as Prism, small local servers, proxies that buffer). Read as an event stream, such
a body holds no event: the client would get an empty stream (OpenAI: only ``data: [DONE]``) and the call no usage.
Instead the adapter notices the content type once the headers are in, before the client's stream has started, and

- reads the document whole (it is one answer, as a non-streamed call's is);
- raises the provider's error when the document is one (``{"error": …}``, Anthropic's ``{"type": "error"}``), and
  an UpstreamError when it is not an answer at all: both reach the client as an HTTP error in its surface's shape,
  and the router may still fall back;
- otherwise turns the answer into the chunks a stream of it would have carried (``core/replay.chunks_of``), with
  the call's usage taken from the answer, so the call is metered and settled like any other.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from time import perf_counter
from typing import Any

import aiohttp
import orjson

from wardgate.core.call import Call, Chunk
from wardgate.core.errors import UpstreamError
from wardgate.providers.http import scrub, upstream_errors, upstream_message

JSON = "application/json"


def answered_whole(response: aiohttp.ClientResponse) -> bool:
    """The provider sent one JSON document, not an event stream."""
    return response.content_type == JSON


async def read_answer(provider: str, response: aiohttp.ClientResponse, secrets: tuple[str, ...] = ()) -> dict[str, Any]:
    """The document, read whole and released; an error document is raised as the provider's error."""
    try:
        with upstream_errors(provider):
            raw = await response.read()
    finally:
        response.release()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"{provider}: the provider answered a streamed request with invalid JSON.") from exc
    if not isinstance(body, dict):
        raise UpstreamError(f"{provider}: the provider answered a streamed request with JSON that is not an object.")
    if body.get("error") or body.get("type") == "error":
        message, param, code = upstream_message(raw)
        raise UpstreamError(f"{provider}: {scrub(message, secrets)}", param=param, code=code)
    return body


def not_an_answer(provider: str) -> UpstreamError:
    return UpstreamError(f"{provider}: the provider answered a streamed request with JSON that is not a completion.")


def is_completion(body: dict[str, Any], operation: str) -> bool:
    """``body`` has at least one choice of the operation's shape (chat: a ``message`` object; completions: ``text``)."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices:
        return False
    field, kind = ("message", dict) if operation == "chat" else ("text", str)
    return all(isinstance(c, dict) and isinstance(c.get(field), kind) for c in choices)


async def one_batch(call: Call, chunks: list[Chunk]) -> AsyncGenerator[list[Chunk], None]:
    """The whole answer as the stream's one batch (first-token time: when it is handed on)."""
    if call.first_token_at is None:
        call.first_token_at = perf_counter()
    yield chunks
