"""The I/O half of the Anthropic provider: one POST to ``/v1/messages``, JSON or SSE back."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UpstreamError, UpstreamUnavailable, WardgateError
from wardgate.core.replay import chunks_of
from wardgate.providers.anthropic.completions import completion_chunk, completion_from_chat, completion_to_chat
from wardgate.providers.anthropic.request import TYPE, to_wire
from wardgate.providers.anthropic.response import from_wire, usage_from_wire
from wardgate.providers.anthropic.stream import StreamState, translate_event
from wardgate.providers.framing.sse import SSEDecoder, SSEEvent
from wardgate.providers.http import UpstreamHTTP, error_from_status, upstream_message
from wardgate.providers.streaming import OnEnd, OnEvent, read_stream
from wardgate.providers.unstreamed import answered_whole, not_an_answer, one_batch, read_answer

OPERATIONS = frozenset({"chat", "completions"})  # Anthropic has no embeddings endpoint


class AnthropicAdapter:
    """One configured Anthropic account. Holds no per-request state."""

    def __init__(
        self,
        name: str,
        http: UpstreamHTTP,
        *,
        base_url: str,
        headers: dict[str, str],
        default_max_tokens: int,
        secrets: tuple[str, ...],
    ) -> None:
        self.name = name
        self.type = TYPE
        self.http = http
        self.url = base_url + "/v1/messages"
        self.headers = headers
        self.default_max_tokens = default_max_tokens
        self.secrets = secrets

    def supports(self, operation: str) -> bool:
        return operation in OPERATIONS

    def wire_body(self, call: Call) -> dict[str, Any]:
        assert call.deployment is not None
        body = call.body if call.operation == "chat" else completion_to_chat(call.body)
        return to_wire(body, call.deployment.upstream_model, default_max_tokens=self.default_max_tokens)

    async def send(self, call: Call) -> Result:
        assert call.deployment is not None
        wire = self.wire_body(call)  # a refused feature fails here, before any I/O
        _, body = await self.http.exchange(call, self.name, self.url, orjson.dumps(wire), self.headers, self.error)
        usage = usage_from_wire(body.get("usage") or {})
        call.usage = usage
        chat = from_wire(body)
        return Result.of(chat if call.operation == "chat" else completion_from_chat(chat, usage))

    async def open_stream(self, call: Call) -> ChunkStream:
        assert call.deployment is not None
        wire = self.wire_body(call)
        wire["stream"] = True
        response = await self.http.open(call, self.name, self.url, orjson.dumps(wire), self.headers, self.error)
        options = call.body.get("stream_options")
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        if answered_whole(response):  # a Message instead of its events: it becomes the stream
            return await self._whole_as_stream(call, response, include_usage)
        state = StreamState(provider=self.name, include_usage=include_usage, secrets=self.secrets)
        return read_stream(call, self.name, response, SSEDecoder(), self._on_event(call, state), self._on_end(state))

    async def _whole_as_stream(self, call: Call, response: aiohttp.ClientResponse, include_usage: bool) -> ChunkStream:
        message = await read_answer(self.name, response, self.secrets)
        if message.get("type") != "message" or not isinstance(message.get("content"), list):
            raise not_an_answer(self.name)
        try:
            usage = usage_from_wire(message.get("usage") or {})
            chat = from_wire(message)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise not_an_answer(self.name) from exc
        call.usage = usage
        answer = chat if call.operation == "chat" else completion_from_chat(chat, usage)
        return one_batch(call, chunks_of(answer, call.operation, include_usage))

    def _on_event(self, call: Call, state: StreamState) -> OnEvent[SSEEvent]:
        name = self.name
        chat = call.operation == "chat"

        def on_event(event: SSEEvent, batch: list[Chunk]) -> None:
            if not event.data:
                return
            try:
                parsed = orjson.loads(event.data)
            except orjson.JSONDecodeError as exc:
                raise UpstreamError(f"{name}: the provider sent an event that is not JSON.") from exc
            if not isinstance(parsed, dict):
                raise UpstreamError(f"{name}: the provider sent an event that is not an object.")
            chunks = translate_event(parsed, state)
            if parsed.get("type") in ("message_start", "message_delta"):
                call.usage = state.current_usage()
            if chat:
                batch.extend(chunks)
            else:
                batch.extend(c for c in map(completion_chunk, chunks) if c is not None)

        return on_event

    def _on_end(self, state: StreamState) -> OnEnd:
        name = self.name

        def on_end(batch: list[Chunk]) -> None:
            if not state.finished:
                raise UpstreamUnavailable(f"{name}: the stream ended before the message did.")

        return on_end

    def error(self, response: aiohttp.ClientResponse, data: bytes) -> WardgateError:
        message, param, code = upstream_message(data)
        return error_from_status(
            self.name, response.status, message, response.headers, param=param, code=code, secrets=self.secrets
        )
