"""``/v1/realtime`` over WebSocket: the client's session relayed to the provider's Realtime API, event by event.

Connect: the caller is authenticated from ``Authorization: Bearer`` (or, as browsers must, the subprotocol
``openai-insecure-api-key.<key>``), ``?model=`` must be a configured model with a deployment whose provider has a
Realtime API, and the provider's socket is opened before the client's is accepted (a refusal is an HTTP answer in
OpenAI's error shape when the server can send one, else a close).

Relay: frames pass through as they are, text or binary, in both directions; only two kinds are looked at, found by
a byte search before any parsing: ``response.create`` from the client and ``response.created``/``response.done``
from the provider. Each response is one call through the pipeline (operation ``realtime``): identity, model access,
budgets and rate limits hold before it starts (a client's ``response.create`` is forwarded only once admitted), and
its ``response.done`` usage (text, audio and cached tokens) settles it and becomes its ledger row. A response the
provider starts by itself (server VAD) opens its call at ``response.created``.

A response the budgets refuse ends the session: an ``error`` event (``code: budget_exceeded``, or the refusal's own
code) and close code ``4029`` (``CLOSE_BUDGET``); the provider's socket is closed too. The provider closing ends
the client's session with its code; the client leaving closes the provider's socket and fails the open response
(its partial usage is what the provider reported, if anything).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from wardgate.api.asgi import Receive, Scope, Send, query_params
from wardgate.api.openai import request_meta
from wardgate.core.call import Call
from wardgate.core.errors import InvalidRequest, ModelNotFound, UpstreamUnavailable, WardgateError
from wardgate.core.ids import new_request_id
from wardgate.core.realtime import RealtimeTurn, realtime_usage

if TYPE_CHECKING:
    from wardgate.core.deployment import Deployment
    from wardgate.core.runtime import Runtime

log = logging.getLogger("wardgate.realtime")
PATHS = frozenset({"/v1/realtime", "/realtime"})
CLOSE_BUDGET = 4029  # the session's budget (or rate limit) refused a response
CLOSE_UPSTREAM = 1011  # the provider's socket failed
KEY_PROTOCOL = "openai-insecure-api-key."
MAX_MESSAGE = 16 * 1024 * 1024  # one event (audio chunks are base64 in JSON)
_CREATE = '"response.create"'
_CREATED = '"response.created"'
_DONE = '"response.done"'


def _credential(scope: Scope, bearer: str | None) -> tuple[str | None, str | None]:
    """(the credential, the subprotocol to accept): the bearer header, else the browser's key subprotocol."""
    offered = [p.strip() for p in scope.get("subprotocols") or []]
    chosen = "realtime" if "realtime" in offered else None
    if bearer is not None:
        return bearer, chosen
    for protocol in offered:
        if protocol.startswith(KEY_PROTOCOL):
            return protocol[len(KEY_PROTOCOL) :], chosen
    return None, chosen


def _model(scope: Scope) -> str:
    values = query_params(scope, max_fields=8).get("model") or []
    if not values or not values[-1] or len(values[-1]) > 256:
        raise InvalidRequest("Missing required parameter: 'model' (as ?model=).", param="model")
    return values[-1]


def realtime_deployment(runtime: Runtime, model: str) -> Deployment:
    for deployment in runtime.deployments.get(model, ()):
        if deployment.adapter.supports("realtime"):
            return deployment
    if model not in runtime.deployments:
        raise ModelNotFound(f"The model `{model}` does not exist or you do not have access to it.", param="model")
    raise InvalidRequest(f"The model `{model}` has no provider with a Realtime API.", param="model")


def _error_event(exc: WardgateError) -> str:
    error = {"type": exc.type, "code": exc.code, "message": str(exc), "param": exc.param}
    return orjson.dumps({"type": "error", "event_id": "event_" + new_request_id(), "error": error}).decode()


class RealtimeSurface:
    def __init__(self, runtime: Callable[[], Runtime]) -> None:
        self._runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (await receive())["type"] != "websocket.connect":
            return
        runtime = self._runtime()
        bearer, request_id, client_id, _ = request_meta(scope)
        credential, subprotocol = _credential(scope, bearer)
        try:
            model = _model(scope)
            cert = runtime.read_client_cert(scope) if runtime.read_client_cert is not None else None
            await runtime.authenticate(credential, model, client_cert=cert)
            deployment = realtime_deployment(runtime, model)
            adapter: Any = deployment.adapter
            headers = {k: v for k, v in adapter.headers.items() if k != "content-type"}
            for name, value in scope["headers"]:
                if name == b"openai-beta":
                    headers["openai-beta"] = value.decode("latin-1")
            with_upstream = adapter.http.session.ws_connect(
                adapter.realtime_url(deployment.upstream_model),
                headers=headers,
                max_msg_size=MAX_MESSAGE,
                autoping=True,
                timeout=aiohttp.ClientWSTimeout(ws_close=5),
            )
            try:
                upstream = await asyncio.wait_for(with_upstream, deployment.timeouts.connect)
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise UpstreamUnavailable(
                    f"{deployment.provider}: could not open the Realtime session ({exc})."
                ) from exc
        except WardgateError as exc:
            await _refuse(scope, send, exc)
            return
        accept: dict[str, Any] = {"type": "websocket.accept", "headers": [(b"x-request-id", request_id.encode())]}
        if subprotocol is not None:
            accept["subprotocol"] = subprotocol
        await send(accept)
        session = _Session(runtime, send, upstream, model, credential, client_id)
        try:
            await session.run(receive)
        finally:
            await session.close()


async def _refuse(scope: Scope, send: Send, exc: WardgateError) -> None:
    if "websocket.http.response" in (scope.get("extensions") or {}):
        body = orjson.dumps({"error": {"message": str(exc), "type": exc.type, "param": exc.param, "code": exc.code}})
        await send({"type": "websocket.http.response.start", "status": exc.status,
                    "headers": [(b"content-type", b"application/json")]})  # fmt: skip
        await send({"type": "websocket.http.response.body", "body": body})
        return
    await send({"type": "websocket.close", "code": 1008, "reason": str(exc)[:120]})


class _Session:
    def __init__(
        self,
        runtime: Runtime,
        send: Send,
        upstream: aiohttp.ClientWebSocketResponse,
        model: str,
        credential: str | None,
        client_id: str | None,
    ) -> None:
        self.runtime = runtime
        self.send = send
        self.upstream = upstream
        self.model = model
        self.credential = credential
        self.client_id = client_id
        self.turn: RealtimeTurn | None = None
        self.calls: set[asyncio.Task[Any]] = set()
        self.closed = False

    async def run(self, receive: Receive) -> None:
        """Two relays, one a direction; when either ends (the client left, the provider closed, a refusal), the
        other is stopped."""
        relays = {asyncio.create_task(self._upstream(receive)), asyncio.create_task(self._downstream())}
        try:
            await asyncio.wait(relays, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for relay in relays:
                relay.cancel()
            for relay in relays:  # a side that failed (a socket gone mid-send) only ends the session
                with contextlib.suppress(asyncio.CancelledError, aiohttp.ClientError, ConnectionError, RuntimeError):
                    await relay

    async def _upstream(self, receive: Receive) -> None:
        """Client → provider, as the frames come; a response.create waits for its call's admission."""
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            text, data = message.get("text"), message.get("bytes")
            if text is not None:
                if _CREATE in text and self.turn is None and not await self._open_turn():
                    return
                await self.upstream.send_str(text)
            elif data is not None:
                await self.upstream.send_bytes(data)

    async def _downstream(self) -> None:
        """Provider → client, as the frames come; response.done settles the open response."""
        async for message in self.upstream:
            if message.type == aiohttp.WSMsgType.TEXT:
                text: str = message.data
                if _CREATED in text and self.turn is None and not await self._open_turn():
                    return
                if _DONE in text:
                    self._settle(text)
                await self.send({"type": "websocket.send", "text": text})
            elif message.type == aiohttp.WSMsgType.BINARY:
                await self.send({"type": "websocket.send", "bytes": message.data})
            else:
                break
        if not self.closed:  # the provider ended the session
            self.closed = True
            code = self.upstream.close_code or CLOSE_UPSTREAM
            await self.send({"type": "websocket.close", "code": code if 1000 <= code < 5000 else CLOSE_UPSTREAM})

    async def _open_turn(self) -> bool:
        """Start the next response's pipeline call and wait until it is admitted (True) or refused (False: the
        session is closed with the refusal)."""
        turn = RealtimeTurn()
        call = Call(new_request_id(), "openai", "realtime", self.model, {"model": self.model}, False, self.credential,
                    perf_counter())  # fmt: skip
        call.client_request_id = self.client_id
        call.realtime = turn
        task = asyncio.create_task(self.runtime.pipeline.run(call))
        self.calls.add(task)
        task.add_done_callback(self.calls.discard)
        waited: set[asyncio.Future[Any]] = {turn.admitted, task}
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        if turn.admitted.done():
            self.turn = turn
            return True
        exc = task.exception() if not task.cancelled() else None
        refusal = exc if isinstance(exc, WardgateError) else UpstreamUnavailable("The response could not start.")
        await self._end(refusal)
        return False

    def _settle(self, raw: str) -> None:
        turn, self.turn = self.turn, None
        if turn is None or turn.usage.done():
            return
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            turn.usage.set_exception(UpstreamUnavailable("The provider sent an event that is not JSON."))
            return
        response = event.get("response") if isinstance(event, dict) else None
        usage = response.get("usage") if isinstance(response, dict) else None
        if not isinstance(usage, dict):
            turn.usage.set_exception(UpstreamUnavailable("The provider's response.done carried no usage."))
            return
        turn.usage.set_result(realtime_usage(usage))

    async def _end(self, exc: WardgateError) -> None:
        if self.closed:
            return
        self.closed = True
        code = CLOSE_BUDGET if exc.status == 429 else 1008
        with contextlib.suppress(OSError, RuntimeError):
            await self.send({"type": "websocket.send", "text": _error_event(exc)})
            await self.send({"type": "websocket.close", "code": code, "reason": (exc.code or exc.type)[:120]})
        await self.upstream.close()

    async def close(self) -> None:
        """The session is over: the provider's socket closed, an unfinished response failed (its call ends)."""
        await self.upstream.close()
        if self.turn is not None and not self.turn.usage.done():
            self.turn.usage.set_exception(UpstreamUnavailable("The Realtime session ended before the response."))
        if self.calls:
            await asyncio.gather(*list(self.calls), return_exceptions=True)
