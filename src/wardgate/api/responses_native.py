"""The Responses surface's side of native answers (providers/responses_native.py, decision 048).

``native_only``: a request the chat translation refuses (hosted tools, ``conversation``, item types chat has no form
for…) can still be answered by a provider that speaks the Responses API: it goes on with a stand-in chat body (its
texts, for the limits' estimates and for audit), marked so that any provider that cannot answer it natively refuses
it with the translation's own 400; it is never cached.

``relay_stream``: a native stream relayed to the client: each event as the provider sent its JSON, under an
``event:`` line of its ``type`` as OpenAI writes them. The response of ``response.completed`` is handed to ``keep``
(the gateway's store) before that event is sent, as the translated stream does. A failure once the stream is under
way travels as an ``error`` event."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

import orjson

from wardgate.api.asgi import Send
from wardgate.api.openai import DisconnectWatch, response_headers, start_sse, stream_failure
from wardgate.api.responses_translate import input_items
from wardgate.core.call import Call, Result

MAX_ITEMS = 2048  # input items of a request passed on without translation
_TYPE = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9_.]{1,100})"')
Keep = Callable[[dict[str, Any]], Awaitable[None]]


def _texts(items: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    for item in items:
        content = item.get("content")
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out += [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        elif isinstance(item.get("output"), str):
            out.append(item["output"])
    return out


def native_only(
    body: dict[str, Any], history: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]] | None:
    """(input items, the turn as chat messages, the stand-in chat body) of a request the translation refused, or
    None when it cannot be passed on either (no model or input of the right type, a background response: its state
    would live only at the provider)."""
    model, source = body.get("model"), body.get("input")
    if (
        not isinstance(model, str)
        or not model
        or body.get("background")
        or not isinstance(body.get("stream", False), bool)
    ):
        return None
    if source is None:  # a stored prompt (`prompt`) may carry the whole input: the provider decides
        items = []
    elif isinstance(source, str):
        items = input_items(source)
    elif isinstance(source, list) and len(source) <= MAX_ITEMS and all(isinstance(i, dict) for i in source):
        items = [dict(i) for i in source]
    else:
        return None
    texts = _texts(items)
    turn = [{"role": "user", "content": "\n".join(texts)}] if texts else []
    messages = history + turn
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages = [{"role": "system", "content": instructions}, *messages]
    chat: dict[str, Any] = {"model": model, "messages": messages or [{"role": "user", "content": ""}]}
    tokens = body.get("max_output_tokens")
    if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0:
        chat["max_completion_tokens"] = tokens
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return items, turn, chat


def event_type(raw: bytes) -> bytes | None:
    """The ``type`` of an event's JSON (OpenAI writes it first: only the head is searched)."""
    found = _TYPE.search(raw, 0, 200)
    return found.group(1) if found else None


def frame(raw: bytes) -> bytes:
    kind = event_type(raw)
    head = b"event: " + kind + b"\n" if kind is not None else b""
    return head + b"data: " + raw + b"\n\n"


async def relay_stream(send: Send, call: Call, result: Result, watch: DisconnectWatch, keep: Keep) -> None:
    relay = await start_sse(send, result, response_headers(call, perf_counter()))
    ended: BaseException | None = None
    try:
        async for batch in relay:
            out = []
            for chunk in batch:
                raw = chunk.to_bytes()
                if event_type(raw) == b"response.completed":
                    response = chunk.data.get("response")
                    if isinstance(response, dict):
                        await keep(response)
                out.append(frame(raw))
            if out:
                await send({"type": "http.response.body", "body": b"".join(out), "more_body": True})
    except Exception as exc:  # the stream is under way: the error travels as an event, as OpenAI does
        ended = exc
        error = stream_failure(exc, call)
        watch.done = True
        event = {"type": "error", "code": error.code or error.type, "message": error.message, "param": error.param}
        await send({"type": "http.response.body", "body": b"event: error\ndata: " + orjson.dumps(event) + b"\n\n"})
        return
    except BaseException as exc:  # cancelled: the client left
        ended = exc
        raise
    finally:
        await relay.aclose(ended)
    watch.done = True
    await send({"type": "http.response.body", "body": b""})
