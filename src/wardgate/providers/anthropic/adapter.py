"""The I/O half of the Anthropic provider: one POST to ``/v1/messages``, JSON or SSE back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from time import perf_counter
from typing import Any

import aiohttp
import orjson

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UpstreamError, UpstreamUnavailable, WardgateError
from wardgate.providers.anthropic.completions import completion_chunk, completion_from_chat, completion_to_chat
from wardgate.providers.anthropic.request import TYPE, to_wire
from wardgate.providers.anthropic.response import from_wire, usage_from_wire
from wardgate.providers.anthropic.stream import StreamState, translate_event
from wardgate.providers.framing.sse import SSEDecoder, SSEEvent
from wardgate.providers.http import UpstreamHTTP, error_from_status, upstream_errors, upstream_message

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
        state = StreamState(
            provider=self.name,
            include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
            secrets=self.secrets,
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
                    batch, error = self._batch(call, decoder.feed(data), state)
                    if batch:
                        if call.first_token_at is None:
                            call.first_token_at = perf_counter()
                        yield batch
                    if error is not None:
                        raise error
                batch, error = self._batch(call, decoder.flush(), state)
                if batch:
                    yield batch
                if error is not None:
                    raise error
            if not state.finished:
                raise UpstreamUnavailable(f"{self.name}: the stream ended before the message did.")
            finished = True
        finally:
            if finished:
                response.release()
            else:  # cut short (client gone, error): drop the connection rather than drain it
                response.close()

    def _batch(
        self, call: Call, events: list[SSEEvent], state: StreamState
    ) -> tuple[list[Chunk], WardgateError | None]:
        """The chunks of one read, and the error that ended it if one did: what came before an error event
        still reaches the client, then the error."""
        batch: list[Chunk] = []
        for event in events:
            if not event.data:
                continue
            try:
                parsed = orjson.loads(event.data)
                chunks = translate_event(parsed, state)
            except orjson.JSONDecodeError:
                return batch, UpstreamError(f"{self.name}: the provider sent an event that is not JSON.")
            except WardgateError as exc:
                return batch, exc
            if parsed.get("type") in ("message_start", "message_delta"):
                call.usage = state.current_usage()
            if call.operation == "chat":
                batch.extend(chunks)
            else:
                batch.extend(c for c in map(completion_chunk, chunks) if c is not None)
        return batch, None

    def error(self, response: aiohttp.ClientResponse, data: bytes) -> WardgateError:
        message, param, code = upstream_message(data)
        return error_from_status(
            self.name, response.status, message, response.headers, param=param, code=code, secrets=self.secrets
        )
