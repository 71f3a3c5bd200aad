"""The Responses API relayed to a provider that speaks it itself (OpenAI, Azure OpenAI): decision 048.

A call from the Responses surface carries the request as the client sent it (``call.responses_native``). An adapter of
such a provider sends that body, with the deployment's model, to the provider's ``/responses`` instead of the chat
translation, when nothing on the path needs the chat shape:
- no guard applies to the call (guards read and rewrite chat messages and chat answers);
- no managed prompt was rendered into it (the prompts stage writes chat messages);
- it continues no stored response, or one this provider answered natively (``previous_response_id`` is then passed
  on: the provider holds the state, hosted tools' and encrypted reasoning items included).
Anything else keeps the translation onto chat, on the same provider or on a fall-back.

The answer is relayed as the provider sent it, a ``response`` object or its event stream (each event's JSON as one
chunk), and metered from the provider's own ``usage`` (input, output, cached and reasoning tokens): the JSON answer's,
or a stream's ``response.completed`` (``.incomplete``, ``.failed``) event's.
"""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.errors import UpstreamError
from wardgate.core.usage import Usage
from wardgate.providers.framing.sse import SSEDecoder, SSEEvent
from wardgate.providers.http import ErrorOf, UpstreamHTTP, upstream_message
from wardgate.providers.streaming import OnEvent, read_stream

_FINAL = (b'"response.completed"', b'"response.incomplete"', b'"response.failed"')


def chosen(call: Call, provider: str, capable: bool) -> bool:
    """Whether this provider answers the call natively. A request only a native answer can serve (its translation
    refused it) raises that refusal where it cannot be."""
    native = call.responses_native
    if native is None:
        return False
    if capable and call.guards is None and call.prompt is None and native.usable_at(provider):
        return True
    if native.refusal is not None:
        raise native.refusal
    return False


def wire_body(call: Call) -> dict[str, Any]:
    assert call.responses_native is not None and call.deployment is not None
    body = dict(call.responses_native.body)
    body["model"] = call.deployment.upstream_model
    if not call.responses_native.has_previous:
        body.pop("previous_response_id", None)
    return body


async def send(
    call: Call, http: UpstreamHTTP, provider: str, url: str, headers: dict[str, str], error_of: ErrorOf
) -> Result:
    assert call.responses_native is not None
    raw, answer = await http.exchange(call, provider, url, orjson.dumps(wire_body(call)), headers, error_of)
    if not isinstance(answer, dict) or answer.get("object") != "response":
        raise UpstreamError(f"{provider}: the provider's answer is not a Responses API response object.")
    usage = answer.get("usage")
    call.usage = Usage.from_openai(usage) if isinstance(usage, dict) else Usage()
    call.responses_native.answered = True
    return Result(raw=raw, _body=answer)


async def open_stream(
    call: Call, http: UpstreamHTTP, provider: str, url: str, headers: dict[str, str], error_of: ErrorOf
) -> ChunkStream:
    assert call.responses_native is not None
    body = wire_body(call)
    body["stream"] = True
    response = await http.open(call, provider, url, orjson.dumps(body), headers, error_of)
    call.responses_native.answered = True
    return read_stream(call, provider, response, SSEDecoder(), _on_event(call, provider))


def _on_event(call: Call, provider: str) -> OnEvent[SSEEvent]:
    def on_event(event: SSEEvent, batch: list[Chunk]) -> None:
        data = event.data
        if not data or data == b"[DONE]":
            return
        if data.startswith(b'{"error"'):  # an error body instead of an event
            message, param, code = upstream_message(data)
            raise UpstreamError(f"{provider}: {message}", param=param, code=code)
        if any(mark in data for mark in _FINAL):
            try:
                obj = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise UpstreamError(f"{provider}: the provider sent an event that is not JSON.") from exc
            response = obj.get("response") if isinstance(obj, dict) else None
            usage = response.get("usage") if isinstance(response, dict) else None
            if isinstance(usage, dict):
                call.usage = Usage.from_openai(usage)
            batch.append(Chunk(obj, raw=data, usage=call.usage))
            return
        batch.append(Chunk(raw=data))

    return on_event
