"""The Bedrock Runtime adapter: Converse for chat, ConverseStream for streams, InvokeModel for embeddings.

Requests go through the shared exchange (``providers/http.py``), whose ``sign`` hook signs each one with SigV4
(``sigv4.py``) over the exact bytes and URL it is sent with. The URL is passed to aiohttp as an already-encoded
``yarl.URL``: left to itself yarl would decode the ``%3A`` of ``…-v1:0`` back to ``:`` and the path on the wire would
no longer be the one that was signed. Streams are AWS event-stream frames, decoded by botocore
(``framing/eventstream.py``) and read by the shared stream reader (``providers/streaming.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from time import perf_counter
from typing import Any

import aiohttp
import orjson
from yarl import URL

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UnsupportedOperation, UpstreamError, UpstreamUnavailable, WardgateError
from wardgate.providers.bedrock import embeddings, images
from wardgate.providers.bedrock.config import BedrockConfig, secret
from wardgate.providers.bedrock.sigv4 import Signer, model_path, resolve_credentials
from wardgate.providers.bedrock.stream import StreamState, chunks_from_message, upstream_status
from wardgate.providers.bedrock.translate import from_wire, to_wire, usage_from_wire
from wardgate.providers.framing.eventstream import EventStreamDecoder, EventStreamMessage
from wardgate.providers.http import UpstreamHTTP, error_from_status, upstream_message
from wardgate.providers.streaming import OnEnd, OnEvent, read_stream

JSON = "application/json"
EVENT_STREAM = "application/vnd.amazon.eventstream"
ERROR_TYPE_HEADER = "x-amzn-errortype"
MAX_CONCURRENT_INVOKES = 16  # per embeddings request: a batch of Titan texts is one call per text
_JSON_HEADERS = {"Content-Type": JSON, "Accept": JSON}
_STREAM_HEADERS = {"Content-Type": JSON, "Accept": EVENT_STREAM}


class BedrockAdapter:
    """One configured Bedrock account and region. Holds no per-request state."""

    def __init__(self, name: str, http: UpstreamHTTP, *, base_url: str, signer: Signer) -> None:
        self.name = name
        self.type = "bedrock"
        self.http = http
        self.base_url = base_url
        self.signer = signer

    def supports(self, operation: str) -> bool:
        return operation in ("chat", "embeddings", "images")

    def url(self, model: str, action: str) -> URL:
        # encoded, so that the path sent is the path signed
        return URL(self.base_url + model_path(model, action), encoded=True)

    async def sign(self, url: str | URL, body: bytes, headers: Mapping[str, str]) -> Mapping[str, str]:
        """The shared exchange's ``sign`` hook: SigV4 over the exact URL and bytes sent."""
        return await self.signer.sign(str(url), body, headers)

    async def send(self, call: Call) -> Result:
        assert call.deployment is not None
        model = call.deployment.upstream_model
        if call.operation == "embeddings":
            return await self._embeddings(call, model)
        if call.operation == "images":
            return await self._images(call, model)
        body = orjson.dumps(to_wire(call.body, model))
        url = self.url(model, "converse")
        _, answer = await self.http.exchange(call, self.name, url, body, _JSON_HEADERS, self.error, self.sign)
        if not isinstance(answer, dict):
            raise UpstreamError(f"{self.name}: the provider answered with JSON that is not an object.")
        call.usage = usage_from_wire(answer.get("usage") or {})
        return Result.of(from_wire(answer, model=model, response_id=f"chatcmpl-{call.id}", created=int(time.time())))

    async def open_stream(self, call: Call) -> ChunkStream:
        assert call.deployment is not None
        model = call.deployment.upstream_model
        body = orjson.dumps(to_wire(call.body, model))
        options = call.body.get("stream_options")
        state = StreamState(
            response_id=f"chatcmpl-{call.id}",
            model=model,
            created=int(time.time()),
            include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        )
        url = self.url(model, "converse-stream")
        response = await self.http.open(call, self.name, url, body, _STREAM_HEADERS, self.error, self.sign)
        decoder = EventStreamDecoder()
        return read_stream(
            call, self.name, response, decoder, self._on_event(call, state), self._on_end(decoder, state)
        )

    def _on_event(self, call: Call, state: StreamState) -> OnEvent[EventStreamMessage]:
        name, signer = self.name, self.signer

        def on_event(message: EventStreamMessage, batch: list[Chunk]) -> None:
            batch.extend(chunks_from_message(message, state, name, signer.secrets()))
            if state.usage is not None:
                call.usage = state.usage

        return on_event

    def _on_end(self, decoder: EventStreamDecoder, state: StreamState) -> OnEnd:
        name = self.name

        def on_end(batch: list[Chunk]) -> None:
            if decoder.pending or not state.stopped:
                raise UpstreamUnavailable(f"{name}: the provider's stream ended before the answer did.")

        return on_end

    async def _embeddings(self, call: Call, model: str) -> Result:
        family = embeddings.family(model)
        inputs = embeddings.texts(call.body)
        bodies = embeddings.requests(call.body, family, inputs)
        limit = asyncio.Semaphore(MAX_CONCURRENT_INVOKES)
        started = perf_counter()
        tasks = [asyncio.ensure_future(self._invoke(call, model, body, limit)) for body in bodies]
        try:
            answers = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        call.upstream_s = perf_counter() - started
        vectors: list[list[float]] = []
        tokens = 0
        for answer, headers in answers:
            found, counted = embeddings.vectors_and_tokens(family, answer, headers)
            vectors.extend(found)
            tokens += counted
        if len(vectors) != len(inputs):
            raise UpstreamError(
                f"{self.name}: the provider returned {len(vectors)} embeddings for {len(inputs)} inputs."
            )
        out, usage = embeddings.from_wire(
            vectors, tokens, model=model, encoding_format=call.body.get("encoding_format")
        )
        call.usage = usage
        return Result.of(out)

    async def _images(self, call: Call, model: str) -> Result:
        kind = images.family(model)
        if kind is None:
            raise UnsupportedOperation(f"{self.name}: {model} is not an image model of Bedrock.", param="model")
        wire, image_kind = images.request(kind, call.body)
        started = perf_counter()
        answer, _ = await self._invoke(call, model, wire, asyncio.Semaphore(1))
        call.upstream_s = perf_counter() - started
        out, call.usage = images.answer(kind, answer, image_kind, self.name)
        return Result.of(out)

    async def _invoke(
        self, call: Call, model: str, body: dict[str, Any], limit: asyncio.Semaphore
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        """One InvokeModel call of a batch; the batch, not each call, is the call's upstream time."""
        async with limit:
            url = self.url(model, "invoke")
            response, data = await self.http.fetch(call, self.name, url, orjson.dumps(body), _JSON_HEADERS, self.sign)
        if response.status != 200:
            raise self.error(response, data)
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{self.name}: the provider answered with invalid JSON.") from exc
        if not isinstance(parsed, dict):
            raise UpstreamError(f"{self.name}: the provider answered with JSON that is not an object.")
        return parsed, response.headers

    def error(self, response: aiohttp.ClientResponse, data: bytes) -> WardgateError:
        """Bedrock's ``{"message": …}`` (``Message`` from AWS's front door) with the ``x-amzn-ErrorType`` name."""
        message = _aws_message(data)
        kind = response.headers.get(ERROR_TYPE_HEADER, "").split(":", 1)[0]
        return error_from_status(
            self.name,
            upstream_status(response.status),
            f"{kind}: {message}" if kind else message,
            response.headers,
            secrets=self.signer.secrets(),
        )


def _aws_message(data: bytes) -> str:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        for key in ("message", "Message"):
            if isinstance(parsed.get(key), str):
                return str(parsed[key])
    return upstream_message(data)[0]


def build(name: str, config: BedrockConfig, http: UpstreamHTTP) -> BedrockAdapter:
    credentials = resolve_credentials(
        secret(config.access_key_id), secret(config.secret_access_key), secret(config.session_token)
    )
    base_url = config.base_url or f"https://bedrock-runtime.{config.region}.amazonaws.com"
    return BedrockAdapter(name, http, base_url=base_url, signer=Signer(credentials, config.region))
