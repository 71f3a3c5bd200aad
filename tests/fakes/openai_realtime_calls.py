"""The OpenAI fake's Realtime calls (``POST /v1/realtime/calls`` and ``/v1/realtime/calls/{id}/{action}``), as OpenAI
documents them: a create takes a multipart form (``sdp`` as ``application/sdp``, ``session`` as JSON) or a bare
``application/sdp`` offer and answers ``201`` with an SDP answer and ``Location: /v1/realtime/calls/{call_id}``; the
control actions answer ``200`` with no body, a call id the fake never made a 404 in OpenAI's error shape. A session
model named ``error-<status>`` gets that status."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from tests.fakes import openai_logic as logic
from tests.fakes.openai_media import parse_form

ANSWER = "v=0\r\no=- 4227147428 1719357865 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    body = logic.error_body(message, "invalid_request_error", param=param)
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def create(calls: dict[str, dict[str, Any]], call_id: str, body: bytes, content_type: str) -> web.Response:
    if content_type.startswith("application/sdp"):
        sdp, session = body.decode(), None
    elif content_type.startswith("multipart/form-data"):
        fields, files = parse_form(body, content_type)
        sdp = fields.get("sdp") or (files["sdp"][2].decode() if "sdp" in files else None)
        session = orjson.loads(fields["session"]) if "session" in fields else None
    else:
        return _error(400, "Expected a multipart form or an application/sdp body.")
    if not sdp or not sdp.startswith("v=0"):
        return _error(400, "Invalid SDP offer.", "sdp")
    model = (session or {}).get("model", "gpt-realtime")
    failure = logic.scripted_failure(model)
    if failure is not None:
        status, error = failure[0], failure[1]
        return web.Response(status=status, body=orjson.dumps(error), content_type="application/json")
    calls[call_id] = {"sdp": sdp, "session": session, "actions": []}
    return web.Response(
        status=201,
        body=ANSWER.encode(),
        headers={"content-type": "application/sdp", "location": f"/v1/realtime/calls/{call_id}"},
    )


def control(calls: dict[str, dict[str, Any]], call_id: str, action: str, payload: Any) -> web.Response:
    call = calls.get(call_id)
    if call is None:
        return _error(404, f"Call with id '{call_id}' not found.", "call_id")
    if action == "refer" and not (isinstance(payload, dict) and payload.get("target_uri")):
        return _error(400, "Missing required parameter: 'target_uri'.", "target_uri")
    call["actions"].append((action, payload))
    return web.Response(status=200)
