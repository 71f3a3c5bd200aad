"""The OpenAI Responses API: ``POST /v1/responses`` (JSON and SSE), ``GET``/``DELETE /v1/responses/{id}`` and
``GET /v1/responses/{id}/input_items``.

Every provider is reached through chat completions: the request is translated into the canonical chat body
(``responses_translate``), runs through the one pipeline as any chat call (identity, limits and budgets, cache,
routing and fall-backs, the ledger and audit, with surface ``responses``), and the answer comes back as a
``response`` object (``responses_answer``) or, streamed, as the Responses event sequence (``responses_stream``).

State: a response created with ``store`` (the default) is kept in the gateway's store (``store/responses.py``)
under its owner, the caller's project: the response as sent, its input items, and the chat conversation it ends,
which ``previous_response_id`` continues. A stored conversation larger than ``server.max_body_bytes`` is refused
rather than continued: a client sending the same history itself would be refused too. The response is stored
before it is sent (before ``response.completed`` on a stream), so a client that reads it back at once finds it,
on any replica.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from wardgate.api import validate
from wardgate.api.asgi import (
    Disconnected,
    Receive,
    Scope,
    Send,
    query_params,
    read_body,
    send_bytes,
    send_error,
    send_json,
)
from wardgate.api.body import parse_object
from wardgate.api.openai import (
    DisconnectWatch,
    answer_failure,
    cache_headers,
    id_headers,
    request_meta,
    response_headers,
    start_sse,
    stream_failure,
)
from wardgate.api.responses_answer import finish, output_of, skeleton
from wardgate.api.responses_native import native_only, relay_stream
from wardgate.api.responses_stream import ResponseStream, encode
from wardgate.api.responses_translate import check_request, input_items, new_id, to_chat, to_messages
from wardgate.core.call import CacheOptions, Call, NativeResponses, Result, end_user_of
from wardgate.core.errors import InternalError, InvalidRequest, NotFound, WardgateError

if TYPE_CHECKING:
    from wardgate.core.principal import Principal
    from wardgate.core.runtime import Runtime
    from wardgate.store.responses import ResponseStore

log = logging.getLogger("wardgate.api")
PREFIXES = ("/v1/responses/", "/responses/")
_MAX_ID = 128
_MAX_STORED_ID = 64  # responses.id
_MAX_LIMIT = 100


def owner_of(principal: Principal | None) -> str:
    """Who a stored response belongs to: the project, else the principal itself (the master key, a JWT subject)."""
    if principal is None:
        raise InternalError("a response was answered without a principal")
    return f"project:{principal.project}" if principal.project else f"{principal.kind}:{principal.id}"


class ResponsesSurface:
    def __init__(self, runtime: Callable[[], Runtime], store: Callable[[], ResponseStore]) -> None:
        self._runtime = runtime
        self._store = store

    # --- POST /v1/responses -----------------------------------------------------------------------------------

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
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
            body = parse_object(raw, "We could not parse the JSON body of your request.")
            if body.get("model") is None and runtime.responses_model is not None:  # responses.default_model
                body["model"] = runtime.responses_model
            model = body.get("model")
            if not isinstance(model, str) or not model:
                raise InvalidRequest("Missing required parameter: 'model'.", param="model")
            previous = body.get("previous_response_id")
            if previous is not None and not isinstance(previous, str):
                raise InvalidRequest(
                    "Invalid type for 'previous_response_id': expected a string.", param="previous_response_id"
                )
            history, upstream = await self._history(scope, runtime, credential, model, previous)
            refusal: InvalidRequest | None = None
            try:
                check_request(body)
                items = input_items(body["input"])
                turn = to_messages(items)
                chat = to_chat(body, history + turn)
                validate.chat(chat)
            except InvalidRequest as exc:  # chat cannot carry it: a native provider still may (decision 047)
                passed_on = native_only(body, history)
                if passed_on is None:
                    raise
                items, turn, chat = passed_on
                refusal = exc
            stream = bool(body.get("stream"))
            call = Call(request_id, "responses", "chat", model, chat, stream, credential, started)
            call.responses_native = NativeResponses(body, previous is not None, upstream, refusal=refusal)
            if refusal is not None:  # a stand-in body: never a cache key
                call.cache_options = CacheOptions(control="no-store")
            call.client_request_id = client_id
            call.end_user = end_user_of(chat.get("user"))
            if call.cache_options is None:
                call.cache_options = cache_headers(scope)
            if runtime.read_client_cert is not None:
                call.client_cert = runtime.read_client_cert(scope)
            scope["wardgate.call"] = call  # for the access log (server/access.py)
            result = await runtime.pipeline.run(call)
            conversation = history + turn
            if call.responses_native.answered:  # the provider answered in the Responses API itself
                await self._native(send, call, result, watch, items, conversation)
                return
            response = skeleton(body, new_id("resp_"), model, int(time.time()))
            if result.stream is not None:
                await self._send_stream(send, call, result, watch, ResponseStream(response), (items, conversation))
                return
            watch.done = True
            if result.status >= 400:  # an OpenAI-shaped error the provider sent, relayed
                await send_bytes(send, result.status, result.to_bytes(), response_headers(call, perf_counter()))
                return
            output, reason = output_of(result.body)
            finish(response, output, reason, call.usage)
            await self._keep(call, response, items, conversation)
            await send_json(send, 200, response, response_headers(call, perf_counter()))
        except BaseException as exc:
            await answer_failure(exc, send, watch, call, request_id, client_id)
        finally:
            watch.close()

    async def _native(
        self,
        send: Send,
        call: Call,
        result: Result,
        watch: DisconnectWatch,
        items: list[dict[str, Any]],
        conversation: list[dict[str, Any]],
    ) -> None:
        """Relay a native answer as the provider sent it, kept in the store like a translated one (decision 047)."""

        async def keep(response: dict[str, Any]) -> None:
            await self._keep(call, response, items, conversation)

        if result.stream is not None:
            await relay_stream(send, call, result, watch, keep)
            return
        watch.done = True
        if result.status < 400:
            await keep(result.body)
        await send_bytes(send, result.status, result.to_bytes(), response_headers(call, perf_counter()))

    async def _history(
        self, scope: Scope, runtime: Runtime, credential: str | None, model: str, previous: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The chat conversation ``previous_response_id`` names, read as the caller (the pipeline authenticates
        the call itself again, from its cache), and the provider holding that response natively, if one does."""
        if previous is None:
            return [], None
        cert = runtime.read_client_cert(scope) if runtime.read_client_cert is not None else None
        principal = await runtime.authenticate(credential, model, client_cert=cert)
        stored = await self._store().get(previous, owner_of(principal)) if _valid_id(previous) else None
        if stored is None:
            raise InvalidRequest(f"Previous response with id '{previous}' not found.", param="previous_response_id")
        if len(stored.messages_json) > runtime.max_body_bytes:
            raise InvalidRequest(
                "The conversation of the previous response is larger than this gateway accepts in one request; "
                "start a new one.",
                param="previous_response_id",
            )
        return stored.messages, stored.upstream

    async def _keep(
        self, call: Call, response: dict[str, Any], items: list[dict[str, Any]], conversation: list[dict[str, Any]]
    ) -> None:
        if response.get("store") is False:
            return
        native = call.responses_native is not None and call.responses_native.answered
        upstream = call.deployment.provider if native and call.deployment is not None else None
        output = response.get("output")
        try:
            answer = to_messages(output) if isinstance(output, list) else []
        except (WardgateError, KeyError, TypeError):  # a native item chat has no form for: continued without it
            answer = []
        response_id = response.get("id")
        if not isinstance(response_id, str) or not _valid_id(response_id) or len(response_id) > _MAX_STORED_ID:
            log.warning("response %s not stored: its id is not one the store keeps", call.id)
            return
        await self._store().put(owner_of(call.principal), response, items, conversation + answer, upstream)

    async def _send_stream(
        self,
        send: Send,
        call: Call,
        result: Result,
        watch: DisconnectWatch,
        state: ResponseStream,
        kept: tuple[list[dict[str, Any]], list[dict[str, Any]]],
    ) -> None:
        relay = await start_sse(send, result, response_headers(call, perf_counter()))
        ended: BaseException | None = None
        try:
            async for batch in relay:
                events = []
                for chunk in batch:
                    events.extend(state.feed(chunk.data, chunk.usage))
                if events:
                    await send({"type": "http.response.body", "body": encode(events), "more_body": True})
            events = state.close(call.usage)
            await self._keep(call, state.response, *kept)
        except Exception as exc:  # the stream is under way: the error travels as an event, as OpenAI does
            ended = exc
            error = stream_failure(exc, call)
            watch.done = True
            event = state.error(error.code or error.type, error.message, error.param)
            await send({"type": "http.response.body", "body": encode([event])})
            return
        except BaseException as exc:  # cancelled: the client left
            ended = exc
            raise
        finally:
            await relay.aclose(ended)
        watch.done = True
        await send({"type": "http.response.body", "body": encode(events)})

    # --- GET/DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items -------------------------------------

    async def resource(self, scope: Scope, receive: Receive, send: Send) -> None:
        runtime = self._runtime()
        credential, request_id, client_id, _ = request_meta(scope)
        headers = id_headers(request_id, client_id)
        path: str = scope["path"]
        rest = path[len(next(p for p in PREFIXES if path.startswith(p))) :]
        response_id, _, tail = rest.partition("/")
        method = scope["method"]
        try:
            if tail not in ("", "input_items") or (tail and method != "GET") or method not in ("GET", "DELETE"):
                raise NotFound(f"Invalid URL ({method} {path}).")
            cert = runtime.read_client_cert(scope) if runtime.read_client_cert is not None else None
            owner = owner_of(await runtime.authenticate(credential, client_cert=cert))
            missing = NotFound(f"Response with id '{response_id[:_MAX_ID]}' not found.")
            if not _valid_id(response_id):
                raise missing
            store = self._store()
            if method == "DELETE":
                if not await store.delete(response_id, owner):
                    raise missing
                await send_json(send, 200, {"id": response_id, "object": "response", "deleted": True}, headers)
                return
            stored = await store.get(response_id, owner)
            if stored is None:
                raise missing
            if tail:
                await send_json(send, 200, _page(stored.input_items, _query(scope)), headers)
            else:
                await send_json(send, 200, stored.response, headers)
        except WardgateError as exc:
            await send_error(send, exc, headers)
        except Exception:  # a bug: the client still gets an answer in its own shape
            log.exception("request %s failed", request_id)
            failure = InternalError(f"The gateway failed to handle this request (request id {request_id}).")
            await send_error(send, failure, headers)


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= _MAX_ID and value.isascii() and value.isprintable()


def _query(scope: Scope) -> dict[str, str]:
    parsed = query_params(scope)
    return {key: values[-1] for key, values in parsed.items()}


def _page(items: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """One page of input items: ``order`` (``desc`` by default, as OpenAI's), ``limit`` (1–100, 20) and ``after``
    (the id of the last item of the previous page)."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("Invalid 'order': expected 'asc' or 'desc'.", param="order")
    try:
        limit = int(query.get("limit", "20"))
    except ValueError:
        limit = 0
    if not 1 <= limit <= _MAX_LIMIT:
        raise InvalidRequest("Invalid 'limit': expected an integer from 1 to 100.", param="limit")
    ordered = items if order == "asc" else items[::-1]
    after = query.get("after")
    if after is not None:
        position = next((n for n, item in enumerate(ordered) if item.get("id") == after), None)
        if position is None:
            raise InvalidRequest(f"Invalid 'after': no input item with id '{after[:_MAX_ID]}'.", param="after")
        ordered = ordered[position + 1 :]
    page = ordered[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(ordered) > limit,
    }
