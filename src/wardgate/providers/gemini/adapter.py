"""The I/O of the Google adapters: one class for the wire format, two subclasses for where it lives and how it
authenticates (AI Studio: an API key header; Vertex AI: a service account's OAuth token)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from time import perf_counter
from typing import Any

import aiohttp
import orjson

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.deployment import Timeouts
from wardgate.core.errors import UnsupportedOperation, UpstreamError, UpstreamUnavailable, WardgateError
from wardgate.core.usage import Usage
from wardgate.providers.framing.sse import SSEDecoder, SSEEvent
from wardgate.providers.gemini import embeddings
from wardgate.providers.gemini.answer import from_wire, usage_from_wire
from wardgate.providers.gemini.errors import google_error
from wardgate.providers.gemini.stream import StreamState, chunks_from_event, usage_chunk
from wardgate.providers.gemini.translate import to_wire
from wardgate.providers.gemini.vertex_auth import AccessTokens, ServiceAccount
from wardgate.providers.http import UpstreamHTTP, upstream_errors

_OPERATIONS = frozenset({"chat", "embeddings"})


class GoogleAdapter:
    """The ``generateContent`` wire format. Holds no per-request state."""

    type = "google"

    def __init__(self, name: str, http: UpstreamHTTP, base_url: str) -> None:
        self.name = name
        self.http = http
        self.base_url = base_url

    def supports(self, operation: str) -> bool:
        return operation in _OPERATIONS

    def model_url(self, model: str, method: str) -> str:
        raise NotImplementedError

    async def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def secrets(self) -> tuple[str, ...]:
        raise NotImplementedError

    async def _post(self, call: Call, url: str, wire: dict[str, Any]) -> aiohttp.ClientResponse:
        assert call.deployment is not None
        return await self.http.post(self.name, url, orjson.dumps(wire), await self.headers(), call.deployment.timeouts)

    async def _json(self, call: Call, url: str, wire: dict[str, Any]) -> Any:
        started = perf_counter()
        response = await self._post(call, url, wire)
        try:
            with upstream_errors(self.name):
                data = await response.read()
        finally:
            response.release()
        call.upstream_s = perf_counter() - started
        if response.status != 200:
            raise google_error(self.name, response.status, data, response.headers, self.secrets())
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{self.name}: the provider answered with invalid JSON.") from exc

    async def send(self, call: Call) -> Result:
        assert call.deployment is not None
        model = call.deployment.upstream_model
        if call.operation == "embeddings":
            return await self.embed(call)
        if call.operation != "chat":
            raise UnsupportedOperation(f"{self.type} does not support {call.operation}", param="model")
        wire = to_wire(call.body, model, provider=self.type)
        body = await self._json(call, self.model_url(model, "generateContent"), wire)
        answer = from_wire(body, model=model, provider=self.type)
        call.usage = usage_from_wire(body.get("usageMetadata") or {})
        return Result.of(answer)

    async def embed(self, call: Call) -> Result:
        raise NotImplementedError

    async def open_stream(self, call: Call) -> ChunkStream:
        assert call.deployment is not None
        if call.operation != "chat":
            raise UnsupportedOperation(f"{self.type} does not stream {call.operation}", param="stream")
        model = call.deployment.upstream_model
        wire = to_wire(call.body, model, provider=self.type)
        options = call.body.get("stream_options")
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        started = perf_counter()
        response = await self._post(call, self.model_url(model, "streamGenerateContent") + "?alt=sse", wire)
        if response.status != 200:
            try:
                with upstream_errors(self.name):
                    data = await response.read()
            finally:
                response.release()
            raise google_error(self.name, response.status, data, response.headers, self.secrets())
        state = StreamState(model=model, provider=self.type)
        events = self._events(response)
        try:
            # Read up to the first event here, so that a refusal Gemini reports inside a 200 stream (a blocked
            # prompt, an error event) is raised before the client's stream starts, with its own status.
            first = await self._first_batch(events, state)
        except BaseException:
            await events.aclose()
            raise
        call.upstream_s = perf_counter() - started
        return self._chunks(call, events, state, first, include_usage)

    async def _events(self, response: aiohttp.ClientResponse) -> AsyncGenerator[list[dict[str, Any]], None]:
        """The decoded events of each read; the connection is dropped if the reader stops early. An error event
        is raised after the events that came before it in the same read have been handed on."""
        decoder = SSEDecoder()
        finished = False
        try:
            with upstream_errors(self.name):
                async for data in response.content.iter_any():
                    batch, error = self._decode(decoder.feed(data))
                    if batch:
                        yield batch
                    if error is not None:
                        raise error
                batch, error = self._decode(decoder.flush())
                if batch:
                    yield batch
                if error is not None:
                    raise error
            finished = True
        finally:
            if finished:
                response.release()
            else:
                response.close()

    def _decode(self, events: list[SSEEvent]) -> tuple[list[dict[str, Any]], WardgateError | None]:
        batch: list[dict[str, Any]] = []
        for event in events:
            if not event.data:
                continue
            try:
                batch.append(self._event(event.data))
            except WardgateError as exc:
                return batch, exc
        return batch, None

    def _event(self, data: bytes) -> dict[str, Any]:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{self.name}: the provider sent an event that is not JSON.") from exc
        if not isinstance(event, dict):
            raise UpstreamError(f"{self.name}: the provider sent an event that is not an object.")
        error = event.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            raise google_error(self.name, code if isinstance(code, int) else 500, event, None, self.secrets())
        return event

    async def _first_batch(
        self, events: AsyncGenerator[list[dict[str, Any]], None], state: StreamState
    ) -> list[dict[str, Any]]:
        async for batch in events:
            chunks = [chunk for event in batch for chunk in chunks_from_event(event, state)]
            if chunks:
                return chunks
        raise UpstreamUnavailable(f"{self.name}: the provider ended the stream without an answer.")

    async def _chunks(
        self,
        call: Call,
        events: AsyncGenerator[list[dict[str, Any]], None],
        state: StreamState,
        first: list[dict[str, Any]],
        include_usage: bool,
    ) -> AsyncIterator[list[Chunk]]:
        try:
            call.first_token_at = perf_counter()
            yield [Chunk(c) for c in first]
            async for batch in events:
                chunks = [Chunk(c) for event in batch for c in chunks_from_event(event, state)]
                if chunks:
                    yield chunks
            if state.started - state.finished:
                raise UpstreamUnavailable(f"{self.name}: the provider's stream ended before the answer did.")
            call.usage = state.usage or Usage()
            if include_usage:
                yield [Chunk(usage_chunk(state), usage=call.usage)]
        finally:
            await events.aclose()


class GeminiAdapter(GoogleAdapter):
    """Google AI Studio (``generativelanguage.googleapis.com``); the key goes in ``x-goog-api-key``, never in the
    URL, where it would end up in access logs."""

    type = "gemini"

    def __init__(self, name: str, http: UpstreamHTTP, base_url: str, api_key: str) -> None:
        super().__init__(name, http, base_url)
        self._api_key = api_key
        self._headers = {"x-goog-api-key": api_key, "content-type": "application/json"}

    def model_url(self, model: str, method: str) -> str:
        path = model if "/" in model else f"models/{model}"  # tunedModels/… is used as given
        return f"{self.base_url}/{path}:{method}"

    async def headers(self) -> dict[str, str]:
        return self._headers

    def secrets(self) -> tuple[str, ...]:
        return (self._api_key,)

    async def embed(self, call: Call) -> Result:
        assert call.deployment is not None
        model = call.deployment.upstream_model
        method, wire = embeddings.gemini_request(call.body, model)
        body = await self._json(call, self.model_url(model, method), wire)
        call.usage = Usage()
        vectors = embeddings.gemini_vectors(body)
        return Result.of(embeddings.openai_embeddings(vectors, model, call.body.get("encoding_format"), 0))


class VertexAdapter(GoogleAdapter):
    """Vertex AI's publisher-model endpoints, authenticated with a service account's access token."""

    type = "vertex"

    def __init__(
        self,
        name: str,
        http: UpstreamHTTP,
        base_url: str,
        *,
        project: str,
        location: str,
        account: ServiceAccount,
        timeouts: Timeouts,
    ) -> None:
        super().__init__(name, http, f"{base_url}/projects/{project}/locations/{location}/publishers/google/models")
        self.tokens = AccessTokens(account, http, name, timeouts)

    def model_url(self, model: str, method: str) -> str:
        return f"{self.base_url}/{model}:{method}"

    async def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {await self.tokens.token()}", "content-type": "application/json"}

    def secrets(self) -> tuple[str, ...]:
        token = self.tokens.current
        return (token,) if token else ()

    async def embed(self, call: Call) -> Result:
        assert call.deployment is not None
        model = call.deployment.upstream_model
        body = await self._json(call, self.model_url(model, "predict"), embeddings.vertex_request(call.body))
        vectors, tokens = embeddings.vertex_vectors(body)
        call.usage = Usage(input_tokens=tokens)
        return Result.of(embeddings.openai_embeddings(vectors, model, call.body.get("encoding_format"), tokens))
