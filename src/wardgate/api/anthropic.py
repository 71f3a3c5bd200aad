"""The Anthropic Messages surface: ``POST /v1/messages`` and ``POST /v1/messages/count_tokens``.

So that Anthropic-native clients (the ``anthropic`` SDKs, Claude Code with ``ANTHROPIC_BASE_URL``) reach every
configured model through the same pipeline as OpenAI clients: the request is translated into the canonical OpenAI
chat body (``anthropic_translate``), the answer back into a ``message`` or, streamed, into Anthropic's event
sequence (``anthropic_stream``), and every error into Anthropic's error shape with the status it carries. The key
comes as ``x-api-key`` (the SDKs' way) or ``Authorization: Bearer``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson

from wardgate.api import validate
from wardgate.api.anthropic_count import TextCounter, prompt_tokens
from wardgate.api.anthropic_response import error_body, error_from_openai, to_message
from wardgate.api.anthropic_stream import MessageStream, encode
from wardgate.api.anthropic_translate import to_canonical
from wardgate.api.asgi import Disconnected, Receive, Scope, Send, error_headers, read_body, send_bytes, send_json
from wardgate.api.body import parse_object
from wardgate.api.openai import (
    DisconnectWatch,
    Headers,
    answer_failure,
    cache_headers,
    id_headers,
    request_meta,
    response_headers,
    start_sse,
    stream_failure,
)
from wardgate.core.call import Call, Result, end_user_of
from wardgate.core.errors import InternalError, ModelNotFound, WardgateError

if TYPE_CHECKING:
    from wardgate.core.runtime import Runtime

log = logging.getLogger("wardgate.api")


class AnthropicSurface:
    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        self._runtime = runtime
        self._counter = TextCounter()

    async def messages(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = perf_counter()
        runtime = self._runtime()
        credential, request_id, client_id, length = request_meta(scope)
        try:
            raw = await read_body(receive, runtime.max_body_bytes, length)
        except Disconnected:
            return
        except WardgateError as exc:
            await _send_error(request_id, send, exc, _id_headers(request_id, client_id))
            return
        watch = DisconnectWatch(receive, scope)
        call: Call | None = None
        try:
            body = to_canonical(_parse(raw))
            validate.chat(body)  # the canonical body keeps the invariants every stage and adapter relies on
            call = Call(request_id, "anthropic", "chat", body["model"], body, bool(body.get("stream")), credential,
                        started)  # fmt: skip
            call.client_request_id = client_id
            call.end_user = end_user_of(body.get("user"))  # metadata.user_id, translated
            if runtime.read_client_cert is not None:
                call.client_cert = runtime.read_client_cert(scope)
            call.cache_options = cache_headers(scope)
            call.request_headers = scope["headers"]
            scope["wardgate.call"] = call  # for the access log (server/access.py)
            result = await runtime.pipeline.run(call)
            stops = tuple(body.get("stop") or ())
            if result.stream is not None:
                await _send_stream(send, call, result, watch, MessageStream(call.model, call.id, stops))
                return
            watch.done = True
            if result.status >= 400:
                answer = error_from_openai(result.status, result.body, call.id)
            else:
                answer = to_message(result.body, model=call.model, fallback_id=call.id, usage=call.usage,
                                    stop_sequences=stops)  # fmt: skip
            await send_bytes(send, result.status, orjson.dumps(answer), _headers(call))
        except BaseException as exc:
            reply = partial(_send_error, request_id)
            await answer_failure(
                exc, send, watch, call, request_id, client_id,
                reply=reply, call_headers=_headers, request_headers=_id_headers,
            )  # fmt: skip
        finally:
            watch.close()

    async def count_tokens(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Counted offline (``anthropic_count``): no provider is called and nothing is billed.

        Where the model's deployment can count exactly (Anthropic's own ``count_tokens`` endpoint), asking it is a
        capability its adapter would offer; this is the place to ask it first, and count offline otherwise.
        """
        runtime = self._runtime()
        credential, request_id, client_id, length = request_meta(scope)
        headers = _id_headers(request_id, client_id)
        try:
            raw = await read_body(receive, runtime.max_body_bytes, length)
            body = to_canonical(_parse(raw), counting=True)
            validate.chat(body)
            cert = runtime.read_client_cert(scope) if runtime.read_client_cert is not None else None
            principal = await runtime.authenticate(credential, client_cert=cert)
            model = body["model"]
            if model not in runtime.deployments or not principal.may_use(model):
                raise ModelNotFound(
                    f"The model `{model}` does not exist or you do not have access to it.", param="model"
                )
            tokens = prompt_tokens(body, await self._counter.get())
            await send_json(send, 200, {"input_tokens": tokens}, headers)
        except Disconnected:
            return
        except WardgateError as exc:
            await _send_error(request_id, send, exc, headers)
        except Exception:  # a bug: the client still gets an answer in its own shape
            log.exception("request %s failed", request_id)
            failure = InternalError(f"The gateway failed to handle this request (request id {request_id}).")
            await _send_error(request_id, send, failure, headers)


def _parse(raw: bytes) -> dict[str, Any]:
    return parse_object(raw, "The request body is not valid JSON.")


def _id_headers(request_id: str, client_id: str | None) -> list[tuple[bytes, bytes]]:
    return [*id_headers(request_id, client_id), (b"request-id", request_id.encode())]


def _headers(call: Call) -> list[tuple[bytes, bytes]]:
    """Wardgate's headers, and ``request-id``, which the Anthropic SDKs show as a response's ``_request_id``."""
    return [*response_headers(call, perf_counter()), (b"request-id", call.id.encode())]


async def _send_error(request_id: str, send: Send, exc: WardgateError, headers: Headers) -> None:
    await send_json(send, exc.status, error_body(exc, request_id), error_headers(exc, headers))


async def _send_stream(send: Send, call: Call, result: Result, watch: DisconnectWatch, state: MessageStream) -> None:
    relay = await start_sse(send, result, _headers(call))
    ended: BaseException | None = None
    try:
        async for batch in relay:
            events = []
            for chunk in batch:
                events.extend(state.feed(chunk.data, chunk.usage))
            if events:
                await send({"type": "http.response.body", "body": encode(events), "more_body": True})
        events = state.close(call.usage)
    except Exception as exc:  # the stream is under way: the error travels as an event, as Anthropic does
        ended = exc
        error = stream_failure(exc, call)
        watch.done = True
        await send({"type": "http.response.body", "body": encode([("error", error_body(error, call.id))])})
        return
    except BaseException as exc:
        ended = exc
        raise
    finally:
        await relay.aclose(ended)
    watch.done = True
    await send({"type": "http.response.body", "body": encode(events)})
