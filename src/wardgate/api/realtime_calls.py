"""Realtime calls over WebRTC and SIP: ``POST /v1/realtime/calls`` (an SDP offer in, the provider's SDP answer out)
and ``POST /v1/realtime/calls/{call_id}/accept|hangup|refer|reject``.

Each is one call on the governed path (identity, model access, limits and budgets, routing, a ledger row, audit),
relayed to a provider with a Realtime API (``supports("realtime")``); any other gets ``unsupported_by_provider``.

- Create: a multipart form (``sdp``, and ``session`` as JSON, the SDK's way) or a bare ``application/sdp`` offer.
  The public model is ``session.model`` (else OpenAI's default, ``gpt-realtime``); the provider receives the
  deployment's model in its place. Its ``201`` SDP answer and ``Location`` header (which carries the call id) reach
  the client unchanged, and the call id is recorded as the caller's, at that provider.
- Control: the call id is looked up: one created through the gateway is its creator's only (another caller gets a
  404, its existence not revealed) and is sent to the provider that made it, on its model. An id the gateway never
  saw (a SIP call, announced by the provider's webhook to the customer) is routed on the model ``accept`` names,
  else ``gpt-realtime``.

The media of a WebRTC call flows between the client and the provider and never crosses the gateway: the ledger row
of a call is a zero-token record of it (docs/realtime.md); sessions that must be metered token by token and capped
mid-session go through ``/v1/realtime`` over WebSocket.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

import orjson

from wardgate.api.asgi import Disconnected, Receive, Scope, Send, read_body, send_bytes, send_error
from wardgate.api.body import parse_object
from wardgate.api.multipart import Form, boundary_of, read_form
from wardgate.api.openai import DisconnectWatch, answer_failure, id_headers, request_meta, response_headers
from wardgate.api.responses import owner_of
from wardgate.core.call import Call, Operation
from wardgate.core.errors import InvalidRequest, NotFound, WardgateError

if TYPE_CHECKING:
    from wardgate.core.runtime import Runtime
    from wardgate.store.provider_objects import ProviderObjectStore

PREFIXES = ("/v1/realtime/calls/", "/realtime/calls/")
ACTIONS = frozenset({"accept", "hangup", "refer", "reject"})
DEFAULT_MODEL = "gpt-realtime"
KIND = "rtc_call"  # provider_objects.kind of a call created through the gateway
MAX_SDP_BYTES = 64 * 1024  # an SDP offer is a few kilobytes
_MAX_ID = 128


def valid_call_id(value: str) -> bool:
    return 0 < len(value) <= _MAX_ID and value.isascii() and value.isprintable() and "/" not in value


def _content_type(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return str(value.decode("latin-1"))
    return ""


def _model_of(value: Any, param: str) -> str:
    if value is None:
        return DEFAULT_MODEL
    if not isinstance(value, str) or not value or len(value) > 256:
        raise InvalidRequest(f"Invalid '{param}': expected a non-empty string.", param=param)
    return value


def create_body(form: Form | None, raw: bytes | None) -> tuple[str, dict[str, Any]]:
    """(the public model, the canonical body ``{"sdp": str, "session": {...}?}``) of a create request."""
    if form is None:
        assert raw is not None
        sdp = raw.decode("utf-8", "replace")
        if not sdp.strip():
            raise InvalidRequest("Missing required parameter: 'sdp' (the WebRTC SDP offer).", param="sdp")
        return DEFAULT_MODEL, {"sdp": sdp}
    if form.uploads:  # the offer sent as a file part: bounded, and read from its spool
        upload = next((u for u in form.uploads if u.field == "sdp"), None)
        if upload is None or len(form.uploads) > 1:
            raise InvalidRequest("Only 'sdp' may be sent as a file part.", param="sdp")
        if upload.size > MAX_SDP_BYTES:
            raise InvalidRequest(f"'sdp' is larger than {MAX_SDP_BYTES} bytes.", param="sdp")
        with open(upload.path, "rb") as handle:
            form.fields.append(("sdp", handle.read(MAX_SDP_BYTES).decode("utf-8", "replace")))
    values = form.values()
    offer = values.get("sdp")
    if not isinstance(offer, str) or not offer.strip():
        raise InvalidRequest("Missing required parameter: 'sdp' (the WebRTC SDP offer).", param="sdp")
    body: dict[str, Any] = {"sdp": offer}
    if values.get("session") is not None:
        session = values["session"]
        try:
            parsed = orjson.loads(session) if isinstance(session, str) else None
        except orjson.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise InvalidRequest("Invalid 'session': expected a JSON object.", param="session")
        if parsed.get("type", "realtime") != "realtime":
            raise InvalidRequest("Invalid 'session.type': expected 'realtime'.", param="session.type")
        body["session"] = parsed
        return _model_of(parsed.get("model"), "session.model"), body
    return DEFAULT_MODEL, body


def control_body(action: str, raw: bytes) -> tuple[str | None, dict[str, Any]]:
    """(the model the request names, if any; its checked JSON body) of a control request."""
    body = parse_object(raw, "Invalid JSON body.") if raw.strip() else {}
    if action == "accept":
        if body.get("type") != "realtime":
            raise InvalidRequest("Missing required parameter: 'type' (expected 'realtime').", param="type")
        return (_model_of(body["model"], "model") if "model" in body else None), body
    if action == "refer":
        target = body.get("target_uri")
        if not isinstance(target, str) or not target or len(target) > 2048:
            raise InvalidRequest("Missing required parameter: 'target_uri'.", param="target_uri")
    elif action == "reject":
        code = body.get("status_code")
        if code is not None and (isinstance(code, bool) or not isinstance(code, int) or not 400 <= code <= 699):
            raise InvalidRequest("Invalid 'status_code': expected a SIP status code (400-699).", param="status_code")
    elif body:
        raise InvalidRequest("Hanging up takes no body.", param=next(iter(body)))
    return None, body


class RealtimeCallsSurface:
    def __init__(self, runtime: Callable[[], Runtime], objects: Callable[[], ProviderObjectStore]) -> None:
        self._runtime = runtime
        self._objects = objects

    async def create(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/realtime/calls."""
        await self._handle(scope, receive, send, None, None)

    async def control(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/realtime/calls/{call_id}/{accept|hangup|refer|reject}."""
        path: str = scope["path"]
        rest = path[len(next(p for p in PREFIXES if path.startswith(p))) :]
        call_id, _, action = rest.partition("/")
        if scope["method"] != "POST" or action not in ACTIONS or not valid_call_id(call_id):
            _, request_id, client_id, _ = request_meta(scope)
            error = NotFound(f"Invalid URL ({scope['method']} {path[:300]}).")
            await send_error(send, error, id_headers(request_id, client_id))
            return
        await self._handle(scope, receive, send, call_id, action)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, call_id: str | None, action: str | None
    ) -> None:
        started = perf_counter()
        runtime = self._runtime()
        credential, request_id, client_id, length = request_meta(scope)
        form: Form | None = None
        raw: bytes | None = None
        try:
            content_type = _content_type(scope)
            boundary = boundary_of(content_type) if action is None else None
            if boundary is not None:
                form = await read_form(receive, boundary, runtime.max_body_bytes, length)
            else:
                if action is None and not content_type.lower().startswith("application/sdp"):
                    raise InvalidRequest(
                        "This endpoint takes a multipart/form-data body (sdp, session) or an application/sdp offer.",
                        param="sdp",
                    )
                raw = await read_body(receive, runtime.max_body_bytes, length)
        except Disconnected:
            return
        except WardgateError as exc:
            if form is not None:
                form.close()
            await send_error(send, exc, id_headers(request_id, client_id))
            return
        watch = DisconnectWatch(receive, scope)
        call: Call | None = None
        try:
            operation: Operation
            if action is None:
                model, body = create_body(form, raw)
                operation = "realtime_call"
            else:
                assert raw is not None and call_id is not None
                named, body = control_body(action, raw)
                body = {"call_id": call_id, "action": action, "body": body}
                model = named or DEFAULT_MODEL
                operation = "realtime_control"
            call = Call(request_id, "openai", operation, model, body, False, credential, started)
            call.client_request_id = client_id
            if runtime.read_client_cert is not None:
                call.client_cert = runtime.read_client_cert(scope)
            if call_id is not None:
                await self._pin(scope, runtime, call, credential, call_id, named)
            scope["wardgate.call"] = call  # for the access log (server/access.py)
            result = await runtime.pipeline.run(call)
            watch.done = True
            if action is None and result.status == 201:
                await self._keep(call)
            headers = response_headers(call, perf_counter())
            raw = result.to_bytes()
            if not raw and result.content_type is None:  # the control actions' empty 200: no body, so no type
                headers.append((b"content-length", b"0"))
                await send({"type": "http.response.start", "status": result.status, "headers": headers})
                await send({"type": "http.response.body", "body": b""})
            else:
                await send_bytes(send, result.status, raw, headers, result.content_type or b"application/json")
        except BaseException as exc:
            await answer_failure(exc, send, watch, call, request_id, client_id)
        finally:
            watch.close()
            if form is not None:
                form.close()

    async def _pin(
        self, scope: Scope, runtime: Runtime, call: Call, credential: str | None, call_id: str, named: str | None
    ) -> None:
        """A call made through the gateway: its creator's only, at its provider, on its model (unless ``accept``
        names another)."""
        stored = await self._objects().find(call_id, KIND)
        if stored is None:
            return
        cert = runtime.read_client_cert(scope) if runtime.read_client_cert is not None else None
        if owner_of(await runtime.authenticate(credential, client_cert=cert)) != stored.owner:
            raise NotFound(f"Call with id '{call_id}' not found.", param="call_id")
        call.provider = stored.provider
        if named is None and stored.model:
            call.model = stored.model

    async def _keep(self, call: Call) -> None:
        details = call.ledger_details or {}
        call_id = details.get("realtime_call", {}).get("call_id")
        if isinstance(call_id, str) and valid_call_id(call_id) and call.deployment is not None:
            await self._objects().put(call_id, KIND, owner_of(call.principal), call.deployment.provider, call.model)
