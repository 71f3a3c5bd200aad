"""The Bedrock Runtime adapter: Converse for chat, ConverseStream for streams, InvokeModel for embeddings.

Every request is signed with SigV4 (``sigv4.py``) over the exact bytes and URL it is sent with. The URL is passed to
aiohttp as an already-encoded ``yarl.URL``: left to itself yarl would decode the ``%3A`` of ``…-v1:0`` back to ``:``
and the path on the wire would no longer be the one that was signed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from time import perf_counter
from typing import Any

import aiohttp
import orjson
from yarl import URL

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UpstreamError, UpstreamUnavailable, WardgateError
from wardgate.providers.bedrock import embeddings
from wardgate.providers.bedrock.config import BedrockConfig, secret
from wardgate.providers.bedrock.sigv4 import Signer, model_path, resolve_credentials
from wardgate.providers.bedrock.stream import StreamState, chunks_from_message, upstream_status
from wardgate.providers.bedrock.translate import from_wire, to_wire, usage_from_wire
from wardgate.providers.framing.eventstream import EventStreamDecoder, EventStreamError
from wardgate.providers.http import UpstreamHTTP, error_from_status, upstream_errors, upstream_message

JSON = "application/json"
EVENT_STREAM = "application/vnd.amazon.eventstream"
ERROR_TYPE_HEADER = "x-amzn-errortype"
MAX_CONCURRENT_INVOKES = 16  # per embeddings request: a batch of Titan texts is one call per text


class BedrockAdapter:
    """One configured Bedrock account and region. Holds no per-request state."""

    def __init__(self, name: str, http: UpstreamHTTP, *, base_url: str, signer: Signer) -> None:
        self.name = name
        self.type = "bedrock"
        self.http = http
        self.base_url = base_url
        self.signer = signer

    def supports(self, operation: str) -> bool:
        return operation in ("chat", "embeddings")

    async def send(self, call: Call) -> Result:
        assert call.deployment is not None
        model = call.deployment.upstream_model
        if call.operation == "embeddings":
            return await self._embeddings(call, model)
        body = orjson.dumps(to_wire(call.body, model))
        started = perf_counter()
        response = await self._post(call, model_path(model, "converse"), body, JSON)
        data = await self._read(response)
        call.upstream_s = perf_counter() - started
        if response.status != 200:
            raise self.error(response, data)
        answer = self._json(data)
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
        started = perf_counter()
        response = await self._post(call, model_path(model, "converse-stream"), body, EVENT_STREAM)
        call.upstream_s = perf_counter() - started
        if response.status != 200:
            raise self.error(response, await self._read(response))
        return self._chunks(call, response, state)

    async def _chunks(
        self, call: Call, response: aiohttp.ClientResponse, state: StreamState
    ) -> AsyncIterator[list[Chunk]]:
        decoder = EventStreamDecoder()
        finished = False
        try:
            with upstream_errors(self.name):
                async for data in response.content.iter_any():
                    decoder.add(data)
                    batch: list[Chunk] = []
                    try:
                        for message in decoder.messages():
                            batch.extend(chunks_from_message(message, state, self.name, self.signer.secrets()))
                    except WardgateError:
                        if batch:  # what came before the failure still reaches the client, then the error
                            yield self._seen(call, state, batch)
                        raise
                    except EventStreamError as exc:
                        if batch:
                            yield self._seen(call, state, batch)
                        raise UpstreamError(f"{self.name}: the provider's event stream is corrupt ({exc}).") from exc
                    if batch:
                        yield self._seen(call, state, batch)
                    elif state.usage is not None:
                        call.usage = state.usage
            if decoder.pending or not state.stopped:
                raise UpstreamUnavailable(f"{self.name}: the provider's stream ended before the answer did.")
            finished = True
        finally:
            if finished:
                response.release()
            else:  # cut short (client gone, error): drop the connection rather than drain it
                response.close()

    @staticmethod
    def _seen(call: Call, state: StreamState, batch: list[Chunk]) -> list[Chunk]:
        if state.usage is not None:
            call.usage = state.usage
        if call.first_token_at is None:
            call.first_token_at = perf_counter()
        return batch

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

    async def _invoke(
        self, call: Call, model: str, body: dict[str, Any], limit: asyncio.Semaphore
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        async with limit:
            response = await self._post(call, model_path(model, "invoke"), orjson.dumps(body), JSON)
            data = await self._read(response)
        if response.status != 200:
            raise self.error(response, data)
        return self._json(data), response.headers

    async def _post(self, call: Call, path: str, body: bytes, accept: str) -> aiohttp.ClientResponse:
        assert call.deployment is not None
        url = self.base_url + path
        headers = await self.signer.sign(url, body, {"Content-Type": JSON, "Accept": accept})
        # an encoded URL, so that the path sent is the path signed; UpstreamHTTP.post is typed for str only
        wire_url = URL(url, encoded=True)
        timeouts = call.deployment.timeouts
        return await self.http.post(self.name, wire_url, body, headers, timeouts)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        try:
            with upstream_errors(self.name):
                return await response.read()
        finally:
            response.release()

    def _json(self, data: bytes) -> dict[str, Any]:
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"{self.name}: the provider answered with invalid JSON.") from exc
        if not isinstance(parsed, dict):
            raise UpstreamError(f"{self.name}: the provider answered with JSON that is not an object.")
        return parsed

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
