"""The Cohere adapter: the I/O around the pure translation in ``translate`` and ``stream``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UpstreamError, UpstreamUnavailable, WardgateError
from wardgate.providers.cohere.embed import embed_from_wire, embed_to_wire, embed_usage_from_wire
from wardgate.providers.cohere.rerank import rerank_answer, rerank_to_wire, rerank_usage
from wardgate.providers.cohere.stream import StreamState, chunks_from_event
from wardgate.providers.cohere.translate import TYPE, from_wire, to_wire, usage_from_wire
from wardgate.providers.framing.sse import SSEDecoder, SSEEvent
from wardgate.providers.http import UpstreamHTTP, error_from_status, upstream_message
from wardgate.providers.streaming import OnEnd, OnEvent, read_stream

_OPERATIONS = frozenset({"chat", "embeddings", "rerank"})
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
        if call.operation == "rerank":
            body = await self._post_json(call, "/v2/rerank", rerank_to_wire(call.body, model))
            call.usage = rerank_usage(body)
            return Result.of(rerank_answer(dict(body), call.body))
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
        return read_stream(call, self.name, response, SSEDecoder(), self._on_event(call, state), self._on_end(state))

    def _on_event(self, call: Call, state: StreamState) -> OnEvent[SSEEvent]:
        name = self.name

        def on_event(event: SSEEvent, batch: list[Chunk]) -> None:
            if not event.data or event.data == b"[DONE]":
                return
            try:
                parsed = orjson.loads(event.data)
            except orjson.JSONDecodeError as exc:
                raise UpstreamError(f"{name}: the provider sent an event that is not JSON.") from exc
            if not isinstance(parsed, dict):
                return
            kind = event.event.decode("utf-8", "replace") if event.event else None
            batch.extend(chunks_from_event(parsed, state, kind))
            if state.usage is not None:
                call.usage = state.usage

        return on_event

    def _on_end(self, state: StreamState) -> OnEnd:
        name = self.name

        def on_end(batch: list[Chunk]) -> None:
            if not state.finished:
                raise UpstreamUnavailable(f"{name}: the provider's stream ended before its message-end event.")

        return on_end

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
