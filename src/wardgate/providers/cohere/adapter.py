"""The Cohere adapter: the I/O around the pure translation in ``translate`` and ``stream``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from time import perf_counter
from typing import Any

import aiohttp
import orjson

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UpstreamError, UpstreamUnavailable, WardgateError
from wardgate.providers.cohere.embed import embed_from_wire, embed_to_wire, embed_usage_from_wire
from wardgate.providers.cohere.stream import StreamState, chunks_from_event
from wardgate.providers.cohere.translate import TYPE, from_wire, to_wire, usage_from_wire
from wardgate.providers.framing.sse import SSEDecoder, SSEEvent
from wardgate.providers.http import UpstreamHTTP, error_from_status, upstream_errors, upstream_message

_OPERATIONS = frozenset({"chat", "embeddings"})
_INVALID_TOKEN = 498  # Cohere's status for a malformed or revoked key: an authentication failure like 401


class CohereAdapter:
    """One configured Cohere provider. Holds no per-request state."""

    def __init__(self, name: str, http: UpstreamHTTP, *, base_url: str, api_key: str) -> None:
        self.name = name
        self.type = TYPE
        self.http = http
        self.base_url = base_url
        self.headers = {"authorization": f"Bearer {api_key}", "content-type": "application/json"}
        self.secrets = (api_key,)

    def supports(self, operation: str) -> bool:
        return operation in _OPERATIONS

    async def send(self, call: Call) -> Result:
        assert call.deployment is not None
        model = call.deployment.upstream_model
        if call.operation == "embeddings":
            body = await self._post_json(call, "/v2/embed", embed_to_wire(call.body, model))
            call.usage = embed_usage_from_wire(body)
            return Result.of(embed_from_wire(body, model, encoding_format=call.body.get("encoding_format") or "float"))
        body = await self._post_json(call, "/v2/chat", to_wire(call.body, model))
        answer = from_wire(body, model, provider=self.name)
        call.usage = usage_from_wire(body.get("usage"))
        return Result.of(answer)

    async def open_stream(self, call: Call) -> ChunkStream:
        assert call.deployment is not None
        model = call.deployment.upstream_model
        wire = to_wire(call.body, model, stream=True)
        response = await self.http.open(
            call, self.name, self.base_url + "/v2/chat", orjson.dumps(wire), self.headers, self.error
        )
        options = call.body.get("stream_options")
        state = StreamState(
            model=model,
            created=int(time.time()),
            include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
            provider=self.name,
        )
        return self._chunks(call, response, state)

    async def _chunks(
        self, call: Call, response: aiohttp.ClientResponse, state: StreamState
    ) -> AsyncIterator[list[Chunk]]:
        decoder = SSEDecoder()
        finished = False
        try:
            with upstream_errors(self.name):
                async for data in response.content.iter_any():
                    batch = self._batch(call, decoder.feed(data), state)
                    if batch:
                        if call.first_token_at is None:
                            call.first_token_at = perf_counter()
                        yield batch
                batch = self._batch(call, decoder.flush(), state)
                if batch:
                    yield batch
            if not state.finished:
                raise UpstreamUnavailable(f"{self.name}: the provider's stream ended before its message-end event.")
            finished = True
        finally:
            if finished:
                response.release()
            else:  # cut short (client gone, error): drop the connection rather than drain it
                response.close()

    def _batch(self, call: Call, events: list[SSEEvent], state: StreamState) -> list[Chunk]:
        batch: list[Chunk] = []
        for event in events:
            if not event.data or event.data == b"[DONE]":
                continue
            try:
                parsed = orjson.loads(event.data)
            except orjson.JSONDecodeError as exc:
                raise UpstreamError(f"{self.name}: the provider sent an event that is not JSON.") from exc
            if not isinstance(parsed, dict):
                continue
            name = event.event.decode("utf-8", "replace") if event.event else None
            batch.extend(chunks_from_event(parsed, state, name))
            if state.usage is not None:
                call.usage = state.usage
        return batch

    async def _post_json(self, call: Call, path: str, wire: dict[str, Any]) -> dict[str, Any]:
        _, body = await self.http.exchange(
            call, self.name, self.base_url + path, orjson.dumps(wire), self.headers, self.error
        )
        if not isinstance(body, dict):
            raise UpstreamError(f"{self.name}: the provider answered with JSON that is not an object.")
        return body

    def error(self, response: aiohttp.ClientResponse, data: bytes) -> WardgateError:
        return error_from_body(self.name, response.status, data, response.headers, self.secrets)


def error_from_body(
    provider: str, status: int, data: bytes, headers: Mapping[str, str], secrets: tuple[str, ...]
) -> WardgateError:
    """Cohere answers errors as ``{"id": …, "message": …}`` (``{"message": …}`` on older paths)."""
    message, param, code = upstream_message(data)
    if status == _INVALID_TOKEN:
        status = 401
    return error_from_status(provider, status, message, headers, param=param, code=code, secrets=secrets)
