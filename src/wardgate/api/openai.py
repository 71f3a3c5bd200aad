"""The OpenAI surface: /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/models.

Parses and checks the request into a Call, runs the pipeline, writes the answer. JSON answers from OpenAI-family
providers are relayed as the bytes they sent; streams are relayed chunk batch by chunk batch as they arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson

from wardgate.api import validate
from wardgate.api.asgi import (
    DISCONNECT,
    Disconnected,
    DisconnectSlot,
    Receive,
    Scope,
    Send,
    read_body,
    send_bytes,
    send_error,
    send_json,
)
from wardgate.api.body import parse_object
from wardgate.api.models import model_object
from wardgate.core.call import CacheOptions, Call, Operation, Result, end_user_of
from wardgate.core.errors import InternalError, InvalidRequest, ModelNotFound, WardgateError
from wardgate.core.ids import new_request_id
from wardgate.core.relay import Relay

if TYPE_CHECKING:
    from wardgate.core.runtime import Runtime

log = logging.getLogger("wardgate.api")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
DONE = b"data: [DONE]\n\n"
Headers = list[tuple[bytes, bytes]]
ErrorReply = Callable[[Send, WardgateError, Headers], Awaitable[None]]
_MAX_REQUEST_ID = 128
# where a client's own request id may come from, first match wins: ours, OpenAI's documented one, the common one
_CLIENT_ID_HEADERS = {b"x-wardgate-request-id": 0, b"x-client-request-id": 1, b"x-request-id": 2}


def request_meta(scope: Scope) -> tuple[str | None, str, str | None, int | None]:
    """(bearer credential, the gateway's request id, the client's request id, content length), in one pass.

    The request id is always generated here, never taken from the client: it keys the ledger row, budget holds and
    concurrency slots, so a client must not be able to choose (or collide with) it. The client's id is only kept.
    """
    credential = client_id = None
    rank = len(_CLIENT_ID_HEADERS)
    length = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            text = value.decode("latin-1")
            credential = text[7:].strip() if text[:7].lower() == "bearer " else text.strip()
        elif name == b"x-api-key" and credential is None:
            credential = value.decode("latin-1").strip()
        elif name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                length = None
        elif (order := _CLIENT_ID_HEADERS.get(name, rank)) < rank and (kept := client_request_id(value)) is not None:
            client_id, rank = kept, order
    return credential or None, new_request_id(), client_id, length


def client_request_id(value: bytes) -> str | None:
    """A client's request id if it is 1–128 visible ASCII characters; anything else is ignored (not an error)."""
    if 0 < len(value) <= _MAX_REQUEST_ID and value.isascii():
        text = value.decode("ascii")
        if text.isprintable() and " " not in text:
            return text
    return None


def id_headers(request_id: str, client_id: str | None) -> list[tuple[bytes, bytes]]:
    """The gateway's id under both names (``x-request-id`` is what the OpenAI SDKs read), and the client's echoed."""
    encoded = request_id.encode()
    headers = [(b"x-wardgate-request-id", encoded), (b"x-request-id", encoded)]
    if client_id is not None:
        headers.append((b"x-wardgate-client-request-id", client_id.encode()))
    return headers


def cache_headers(scope: Scope) -> CacheOptions | None:
    """x-wardgate-cache, x-wardgate-cache-ttl and x-wardgate-prompt-template as sent (the cache stage checks them)."""
    control = ttl = template = None
    for name, value in scope["headers"]:
        if name[:11] == b"x-wardgate-":
            if name == b"x-wardgate-cache":
                control = value.decode("latin-1")
            elif name == b"x-wardgate-cache-ttl":
                ttl = value.decode("latin-1")
            elif name == b"x-wardgate-prompt-template":
                template = value.decode("latin-1")[:_MAX_REQUEST_ID]
    if control is None and ttl is None and template is None:
        return None
    return CacheOptions(control, ttl, template)


def response_headers(call: Call, now: float) -> list[tuple[bytes, bytes]]:
    headers = id_headers(call.id, call.client_request_id)
    deployment = call.deployment
    if deployment is not None:
        headers.append((b"x-wardgate-deployment", deployment.name.encode()))
        headers.append((b"x-wardgate-provider", deployment.provider.encode()))
    overhead = max(0.0, (now - call.started) - call.upstream_s) * 1000
    headers.append((b"x-wardgate-overhead-ms", f"{overhead:.3f}".encode()))
    headers.extend(call.response_headers)
    return headers


class OpenAISurface:
    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        self._runtime = runtime

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "chat")

    async def completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "completions")

    async def embeddings(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "embeddings")

    async def moderations(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "moderations")

    async def rerank(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Cohere's rerank shape (there is no OpenAI rerank API), on the same governed path."""
        await self._handle(scope, receive, send, "rerank")

    async def realtime_secret(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /v1/realtime/client_secrets``: an ephemeral key minted at the provider, on the governed path."""
        await self._handle(scope, receive, send, "realtime_secret")

    async def translate_secret(self, scope: Scope, receive: Receive, send: Send) -> None:
        """``POST /v1/realtime/translations/client_secrets``."""
        await self._handle(scope, receive, send, "translate_secret")

    async def _handle(self, scope: Scope, receive: Receive, send: Send, operation: Operation) -> None:
        started = perf_counter()
        runtime = self._runtime()
        credential, request_id, client_id, length = request_meta(scope)
        try:
            raw = await read_body(receive, runtime.max_body_bytes, length)
        except Disconnected:
            return
        except WardgateError as exc:
            await send_error(send, exc, id_headers(request_id, client_id))
            return
        watch = DisconnectWatch(receive, scope)
        call: Call | None = None
        try:
            body = _parse(raw)
            if operation == "chat":
                model, stream = validate.chat(body)
                if not runtime.prompts and "wardgate_prompt" in body:
                    raise InvalidRequest(
                        "This gateway has no managed prompts (`prompts:` is not configured): send the messages.",
                        param="wardgate_prompt",
                        code="invalid_prompt_reference",
                    )
            elif operation == "completions":
                model, stream = validate.completions(body)
            elif operation == "embeddings":
                model, stream = validate.embeddings(body), False
            elif operation == "rerank":
                model, stream = validate.rerank(body), False
            elif operation in ("realtime_secret", "translate_secret"):
                model, stream = validate.realtime_secret(body, operation), False
            else:
                model, stream = validate.moderations(body), False
                body.setdefault("model", model)
            call = Call(request_id, "openai", operation, model, body, stream, credential, started)
            call.client_request_id = client_id
            call.end_user = end_user_of(body.get("user"))
            call.cache_options = cache_headers(scope)
            call.request_headers = scope["headers"]
            if runtime.read_client_cert is not None:
                call.client_cert = runtime.read_client_cert(scope)
            scope["wardgate.call"] = call  # for the access log (server/access.py)
            result = await runtime.pipeline.run(call)
            if result.stream is not None:
                await _send_stream(send, call, result, watch)
            else:
                watch.done = True
                await send_bytes(send, result.status, result.to_bytes(), response_headers(call, perf_counter()))
        except BaseException as exc:
            await answer_failure(exc, send, watch, call, request_id, client_id)
        finally:
            watch.close()

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._models(scope, send, None)

    async def model(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._models(scope, send, scope["path"].rsplit("/models/", 1)[1])

    async def _models(self, scope: Scope, send: Send, model_id: str | None) -> None:
        runtime = self._runtime()
        credential, request_id, client_id, _ = request_meta(scope)
        headers = id_headers(request_id, client_id)
        try:
            cert = runtime.read_client_cert(scope) if runtime.read_client_cert is not None else None
            principal = await runtime.authenticate(credential, client_cert=cert)
            names = [m for m in runtime.model_names if principal.may_use(m)]
            if model_id is None:
                data = [model_object(m, runtime.deployments.get(m, ())) for m in names]
                await send_json(send, 200, {"object": "list", "data": data}, headers)
            elif model_id in names:
                await send_json(send, 200, model_object(model_id, runtime.deployments.get(model_id, ())), headers)
            else:
                raise ModelNotFound(
                    f"The model `{model_id}` does not exist or you do not have access to it.", param="model"
                )
        except WardgateError as exc:
            await send_error(send, exc, headers)


def _parse(raw: bytes) -> dict[str, Any]:
    return parse_object(
        raw,
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
        "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
    )


async def start_sse(send: Send, result: Result, headers: Headers) -> Relay:
    """Start a streamed answer: a 200 with ``headers`` and the SSE headers; the stream to relay."""
    relay = result.stream
    assert isinstance(relay, Relay), "the pipeline hands every stream over as a Relay"
    await send({"type": "http.response.start", "status": 200, "headers": headers + SSE_HEADERS})
    return relay


def stream_failure(exc: Exception, call: Call) -> WardgateError:
    """The error a stream under way ends with, as an event: a refusal as it is, anything else (a bug) logged."""
    if isinstance(exc, WardgateError):
        return exc
    log.exception("stream %s failed", call.id)
    return InternalError(f"The gateway failed while streaming (request id {call.id}).")


async def _send_stream(send: Send, call: Call, result: Result, watch: DisconnectWatch) -> None:
    relay = await start_sse(send, result, response_headers(call, perf_counter()))
    ended: BaseException | None = None
    try:
        async for batch in relay:
            # one frame per chunk, ``data: <json>\n\n``, joined in one pass (a batch is what one upstream read held)
            payload = b"data: " + b"\n\ndata: ".join([c.raw or c.to_bytes() for c in batch]) + b"\n\n"
            await send({"type": "http.response.body", "body": payload, "more_body": True})
    except Exception as exc:  # the stream is under way: the error travels as an SSE event, as OpenAI does
        ended = exc
        error = stream_failure(exc, call)
        watch.done = True
        await send({"type": "http.response.body", "body": b"data: " + orjson.dumps(error.to_dict()) + b"\n\n"})
        return
    except BaseException as exc:  # cancelled: the client left
        ended = exc
        raise
    finally:
        await relay.aclose(ended)
    watch.done = True
    await send({"type": "http.response.body", "body": DONE})


class DisconnectWatch:
    """Cancels the request's task when the client goes away, which cancels the upstream request with it.

    On Wardgate's server the connection tells the scope's ``DisconnectSlot``; on another ASGI server a task waits on
    ``receive()`` for ``http.disconnect``. ``done`` is set just before the last message is sent: uvicorn reports a
    disconnect once the response is complete, and that one must not cancel anything.
    """

    __slots__ = ("_slot", "_task", "_watcher", "disconnected", "done")

    def __init__(self, receive: Receive, scope: Scope) -> None:
        self.done = False
        self.disconnected = False
        self._task = asyncio.current_task()
        self._slot: DisconnectSlot | None = scope.get(DISCONNECT)
        self._watcher: asyncio.Future[None] | None = None
        if self._slot is not None:
            self._slot.callback = self._gone
        else:
            self._watcher = asyncio.ensure_future(self._watch(receive))

    def _gone(self) -> None:
        if not self.done and self._task is not None:
            self.disconnected = True
            self._task.cancel()

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._gone()
                return

    def close(self) -> None:
        if self._slot is not None:
            if self._slot.callback == self._gone:
                self._slot.callback = None
        elif self._watcher is not None:
            self._watcher.cancel()


def uncancel() -> None:
    task = asyncio.current_task()
    if task is not None:
        task.uncancel()


def _call_headers(call: Call) -> Headers:
    return response_headers(call, perf_counter())


async def answer_failure(
    exc: BaseException,
    send: Send,
    watch: DisconnectWatch,
    call: Call | None,
    request_id: str,
    client_id: str | None,
    *,
    reply: ErrorReply = send_error,
    call_headers: Callable[[Call], Headers] = _call_headers,
    request_headers: Callable[[str, str | None], Headers] = id_headers,
) -> None:
    """How a surface's request ends when it failed before its answer started (streams handle their own failures).

    Called from ``except BaseException as exc:`` around the call's handling, with the surface's error shape
    (``reply``, OpenAI's by default) and headers: a refusal (a ``WardgateError``: a guard, a limit, the upstream's
    error) is answered with its status, with the call's headers once there is a call; a cancellation ends quietly if
    the client left and goes on otherwise; anything else (a bug) is logged and answered with a 500 that names the
    request id. Whatever it does not answer it raises again.
    """
    if isinstance(exc, WardgateError):
        watch.done = True
        await reply(send, exc, call_headers(call) if call is not None else request_headers(request_id, client_id))
    elif isinstance(exc, asyncio.CancelledError):
        if not watch.disconnected:
            raise exc
        uncancel()
    elif isinstance(exc, Exception):
        log.exception("request %s failed", request_id)
        watch.done = True
        failure = InternalError(f"The gateway failed to handle this request (request id {request_id}).")
        await reply(send, failure, request_headers(request_id, client_id))
    else:
        raise exc
