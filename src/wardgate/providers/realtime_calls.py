"""Realtime calls at an OpenAI-wire provider: ``POST /realtime/calls`` (the SDP offer, multipart with the session,
as OpenAI documents it) and ``POST /realtime/calls/{call_id}/{accept|hangup|refer|reject}`` (api/realtime_calls.py).

The session's model becomes the deployment's (``session.model``, or ``model`` of an ``accept``); everything else is
sent as the client sent it. The answers are relayed as the provider sent them: the ``201`` SDP answer with its
``Location`` header (``/v1/realtime/calls/{call_id}``), and the control answers' status and body. The usage is zero
tokens: the call's media never crosses the gateway; the ledger row keeps the call id and the action.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from wardgate.core.call import Call, Result
from wardgate.core.usage import Usage
from wardgate.providers.http import ErrorOf, UpstreamHTTP

OPERATIONS = frozenset({"realtime_call", "realtime_control"})


def call_id_of(location: str | None) -> str | None:
    """The call id of a create answer's ``Location`` (``/v1/realtime/calls/rtc_…``)."""
    if not location:
        return None
    path = location.split("?", 1)[0]
    marker = path.rfind("/realtime/calls/")
    if marker < 0:
        return None
    found = path[marker + len("/realtime/calls/") :].strip("/")
    return found or None


def _form(call: Call) -> aiohttp.FormData:
    assert call.deployment is not None
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("sdp", call.body["sdp"], content_type="application/sdp")
    session = call.body.get("session")
    if isinstance(session, dict):
        session = {**session, "model": call.deployment.upstream_model}
        form.add_field("session", orjson.dumps(session).decode(), content_type="application/json")
    return form


async def relay(
    call: Call, http: UpstreamHTTP, provider: str, base_url: str, headers: dict[str, str], error_of: ErrorOf
) -> Result:
    assert call.deployment is not None
    started = perf_counter()
    if call.operation == "realtime_call":
        sent_headers = {k: v for k, v in headers.items() if k != "content-type"}
        if "session" in call.body:
            data: Any = _form(call)  # aiohttp sets the multipart boundary
        else:
            data = call.body["sdp"].encode()
            sent_headers["content-type"] = "application/sdp"
        url = base_url + "/realtime/calls"
        details: dict[str, Any] = {"action": "create"}
    else:
        action, body = call.body["action"], dict(call.body["body"])
        if action == "accept":
            body["model"] = call.deployment.upstream_model
        url = f"{base_url}/realtime/calls/{quote(call.body['call_id'], safe='')}/{action}"
        data = orjson.dumps(body) if body or action != "hangup" else b""
        sent_headers = dict(headers)
        details = {"action": action, "call_id": call.body["call_id"]}
    response, raw = await http.fetch(call, provider, url, data, sent_headers, None)
    call.upstream_s = perf_counter() - started
    if not 200 <= response.status < 300:
        raise error_of(response, raw)
    if call.operation == "realtime_call":
        location = response.headers.get("location")
        if location:
            call.response_headers.append((b"location", location.encode("latin-1")))
        details["call_id"] = call_id_of(location)
    details["session_model"] = call.deployment.upstream_model
    call.usage = Usage()
    call.ledger_details = {"realtime_call": details}
    content_type = response.headers.get("content-type")
    return Result(
        status=response.status,
        raw=raw,
        content_type=content_type.encode("latin-1") if content_type and raw else (b"application/json" if raw else None),
    )
