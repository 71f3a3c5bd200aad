"""The I/O of the Google adapters: one class for the wire format, two subclasses for where it lives and how it
authenticates (AI Studio: an API key header; Vertex AI: an OAuth access token of Google credentials)."""

from __future__ import annotations

from collections.abc import Mapping
from time import perf_counter
from typing import Any, Protocol

import aiohttp
import orjson
from yarl import URL

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UnsupportedOperation, UpstreamError, UpstreamUnavailable, WardgateError
from wardgate.core.usage import Usage
from wardgate.providers.framing.sse import SSEDecoder, SSEEvent
from wardgate.providers.gemini import embeddings, images
from wardgate.providers.gemini.answer import from_wire, usage_from_wire
from wardgate.providers.gemini.errors import google_error
from wardgate.providers.gemini.stream import StreamState, chunks_from_event, usage_chunk
from wardgate.providers.gemini.translate import to_wire
from wardgate.providers.http import Sign, UpstreamHTTP
from wardgate.providers.streaming import OnEnd, OnEvent, read_stream

_OPERATIONS = frozenset({"chat", "embeddings", "images"})  # images: Imagen models (gemini/images.py)


class Tokens(Protocol):
    """An access-token source (``credentials.AccessTokens``, which imports google-auth: not imported here)."""

    @property
    def current(self) -> str | None: ...

    async def token(self) -> str: ...


class GoogleAdapter:
    """The ``generateContent`` wire format. Holds no per-request state."""

    type = "google"
    sign: Sign | None = None  # per-request authentication, if any (Vertex: the current access token)

    def __init__(self, name: str, http: UpstreamHTTP, base_url: str, headers: dict[str, str]) -> None:
        self.name = name
        self.http = http
        self.base_url = base_url
        self.headers = headers

    def supports(self, operation: str) -> bool:
        return operation in _OPERATIONS

    def model_url(self, model: str, method: str) -> str:
        raise NotImplementedError

    def secrets(self) -> tuple[str, ...]:
        raise NotImplementedError

    def error(self, response: aiohttp.ClientResponse, data: bytes) -> WardgateError:
        return google_error(self.name, response.status, data, response.headers, self.secrets())

    async def _json(self, call: Call, url: str, wire: dict[str, Any]) -> Any:
        _, body = await self.http.exchange(
            call, self.name, url, orjson.dumps(wire), self.headers, self.error, self.sign
        )
        return body

    async def send(self, call: Call) -> Result:
        assert call.deployment is not None
        model = call.deployment.upstream_model
        if call.operation == "embeddings":
            return await self.embed(call)
        if call.operation == "images":
            wire = images.imagen_request(call.body)
            body = await self._json(call, self.model_url(model, "predict"), wire)
            answer, call.usage = images.openai_images(body, wire, self.name)
            return Result.of(answer)
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
        url = self.model_url(model, "streamGenerateContent") + "?alt=sse"
        response = await self.http.open(call, self.name, url, orjson.dumps(wire), self.headers, self.error, self.sign)
        state = StreamState(model=model, provider=self.type)
        on_end = self._on_end(call, state, include_usage)
        stream = read_stream(call, self.name, response, SSEDecoder(), self._on_event(state), on_end, hold_first=True)
        try:
            # Read up to the first chunks here, so that a refusal Gemini reports inside a 200 stream (a blocked
            # prompt, an error event) is raised before the client's stream starts, with its own status.
            await anext(stream)
        except StopAsyncIteration:
            raise UpstreamUnavailable(f"{self.name}: the provider ended the stream without an answer.") from None
        except BaseException:
            await stream.aclose()
            raise
        call.upstream_s = perf_counter() - started
        return stream

    def _on_event(self, state: StreamState) -> OnEvent[SSEEvent]:
        name = self.name

        def on_event(event: SSEEvent, batch: list[Chunk]) -> None:
            if not event.data:
                return
            try:
                parsed = orjson.loads(event.data)
            except orjson.JSONDecodeError as exc:
                raise UpstreamError(f"{name}: the provider sent an event that is not JSON.") from exc
            if not isinstance(parsed, dict):
                raise UpstreamError(f"{name}: the provider sent an event that is not an object.")
            error = parsed.get("error")
            if isinstance(error, dict):
                code = error.get("code")
                raise google_error(name, code if isinstance(code, int) else 500, parsed, None, self.secrets())
            batch.extend(map(Chunk, chunks_from_event(parsed, state)))

        return on_event

    def _on_end(self, call: Call, state: StreamState, include_usage: bool) -> OnEnd:
        name = self.name

        def on_end(batch: list[Chunk]) -> None:
            if not state.started:
                raise UpstreamUnavailable(f"{name}: the provider ended the stream without an answer.")
            if state.started - state.finished:
                raise UpstreamUnavailable(f"{name}: the provider's stream ended before the answer did.")
            call.usage = state.usage or Usage()
            if include_usage:
                batch.append(Chunk(usage_chunk(state), usage=call.usage))

        return on_end


class GeminiAdapter(GoogleAdapter):
    """Google AI Studio (``generativelanguage.googleapis.com``); the key goes in ``x-goog-api-key``, never in the
    URL, where it would end up in access logs."""

    type = "gemini"

    def __init__(self, name: str, http: UpstreamHTTP, base_url: str, api_key: str) -> None:
        super().__init__(name, http, base_url, {"x-goog-api-key": api_key, "content-type": "application/json"})
        self._api_key = api_key

    def model_url(self, model: str, method: str) -> str:
        path = model if "/" in model else f"models/{model}"  # tunedModels/… is used as given
        return f"{self.base_url}/{path}:{method}"

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
    """Vertex AI's publisher-model endpoints, authenticated with an OAuth access token of Google credentials
    (``credentials.py``), added to each request by the shared exchange's ``sign`` hook."""

    type = "vertex"

    def __init__(
        self, name: str, http: UpstreamHTTP, base_url: str, *, project: str, location: str, tokens: Tokens
    ) -> None:
        root = f"{base_url}/projects/{project}/locations/{location}/publishers/google/models"
        super().__init__(name, http, root, {"content-type": "application/json"})
        self.tokens = tokens
        self.sign = self.authorize

    async def authorize(self, url: str | URL, data: bytes, headers: Mapping[str, str]) -> Mapping[str, str]:
        return {**headers, "authorization": f"Bearer {await self.tokens.token()}"}

    def model_url(self, model: str, method: str) -> str:
        return f"{self.base_url}/{model}:{method}"

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
