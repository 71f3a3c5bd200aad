"""A real HTTP fake of the Anthropic Messages API (`POST /v1/messages`) on loopback.

It serves from its own event loop in a background thread, so sync and async clients alike can call it, records
every request (`requests`) and every usage object it reports (`usages`: for a stream, the usage of
`message_start` merged with the cumulative one of the last `message_delta`, i.e. what a correct client adds up to).

Each request goes through, in order: recording; the next scripted answer, if any (`enqueue`); authentication
(`x-api-key`, as documented, or `Authorization: Bearer`, which the official SDK sends since 2.x; then a required
`anthropic-version` header, any value); the failure mode named by the model; validation of
the body (the rules the real API enforces that translation can get wrong); the normal answer.

Failure modes, by model name:
- `error-<status>` for 400, 401, 403, 404, 413, 429, 500, 529: Anthropic's error body
  `{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}` with that status; 429 also
  carries `retry-after: 7` and `anthropic-ratelimit-*` headers.
- `error-stream`: for `stream: true`, the events up to the first text delta, then an `error` event
  (`overloaded_error`), as the real API does when it fails mid-stream.
- `reset-stream`: for `stream: true`, a few events and then the connection is dropped.

The answer (pure functions `reply` and `message`), first rule that applies:
1. the last user turn holds `tool_result` blocks: text "tool said: " + their text;
2. `tools` present and `tool_choice.type` is not "none": `tool_use` blocks, stop reason `tool_use`. Called: the
   tool named by `tool_choice: {type: tool}`; else every tool when there are two or more and
   `disable_parallel_tool_use` is not set; else the first. Input: each `required` property of the schema, filled by
   type (string "x", number/integer 1, boolean true, array [], object {}; the first `enum` value if any);
3. `output_config.format` (structured outputs): the JSON text `{"echo": "<last user text>"}`;
4. otherwise "echo: " + the last user turn's text (text blocks joined by a space, images "[image]", documents
   "[document]").
With `thinking.type` "enabled", a thinking block comes first: "Thinking about: <last user text>", signed
"sig-<hex>". `stop_sequences` cut a text reply before the earliest one (stop reason `stop_sequence`); `max_tokens`
keeps that many words (stop reason `max_tokens`).

Usage: `input_tokens` = Σ over the system prompt and messages of (3 + words); `cache_read_input_tokens` and
`cache_creation_input_tokens` are what the fake was configured with (Anthropic counts them apart from
`input_tokens`); `output_tokens` = words of the text + words of the thinking + (1 + number of inputs) per tool
call, and `output_tokens_details.thinking_tokens` the thinking words when there are some. Words keep their leading
whitespace ("echo: hi" → "echo:", " hi"); one word is one streamed `text_delta`.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.server import LoopbackServer, RecordedRequest

_WORD = re.compile(r"\s*\S+(?:\s+$)?|\s+")
_ARGUMENT_BY_TYPE: dict[str, Any] = {
    "string": "x",
    "number": 1,
    "integer": 1,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}
ERROR_TYPES = {
    400: ("invalid_request_error", "messages: field required"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: fake-missing"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "This request would exceed your organization's rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}
_BLOCK_TYPES = frozenset({"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"})


class BadRequest(Exception):
    """A request the real API refuses with 400 invalid_request_error."""


# --- the answer: pure --------------------------------------------------------------------------------------


def split_words(text: str) -> list[str]:
    return _WORD.findall(text)


def block_text(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return str(block.get("text", ""))
    if kind == "tool_result":
        return content_text(block.get("content"))
    return {"image": "[image]", "document": "[document]"}.get(str(kind), "")


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    return " ".join(text for text in (block_text(b) for b in content or []) if text)


def input_tokens(body: dict[str, Any]) -> int:
    total = 0
    if body.get("system"):
        total += 3 + len(split_words(content_text(body["system"])))
    for message in body["messages"]:
        total += 3 + len(split_words(content_text(message["content"])))
    return total


def tool_input(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    out = {}
    for name in schema.get("required") or []:
        prop = properties.get(name) or {}
        out[name] = prop["enum"][0] if prop.get("enum") else _ARGUMENT_BY_TYPE.get(prop.get("type", "string"))
    return out


def tool_use_id(name: str, position: int) -> str:
    return "toolu_" + hashlib.sha256(f"{name}:{position}".encode()).hexdigest()[:24]


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def reply(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str, str | None]:
    """(content blocks, stop reason, stop sequence) of the answer."""
    last = body["messages"][-1]
    last_user = content_text(last["content"]) if last["role"] == "user" else ""
    blocks: list[dict[str, Any]] = []
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled":
        text = f"Thinking about: {last_user}"
        signature = "sig-" + hashlib.sha256(text.encode()).hexdigest()[:32]
        blocks.append({"type": "thinking", "thinking": text, "signature": signature})
    results = [b for b in _blocks(last["content"]) if b.get("type") == "tool_result"]
    tools = body.get("tools") or []
    choice = body.get("tool_choice") or {"type": "auto"}
    if results:
        return [*blocks, {"type": "text", "text": "tool said: " + content_text(results)}], "end_turn", None
    if tools and choice.get("type") != "none":
        if choice.get("type") == "tool":
            called = [t for t in tools if t["name"] == choice.get("name")]
        elif len(tools) >= 2 and not choice.get("disable_parallel_tool_use"):
            called = tools
        else:
            called = tools[:1]
        for position, tool in enumerate(called):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": tool_use_id(tool["name"], position),
                    "name": tool["name"],
                    "input": tool_input(tool.get("input_schema") or {}),
                }
            )
        return blocks, "tool_use", None
    if (body.get("output_config") or {}).get("format"):
        text = orjson.dumps({"echo": last_user}).decode()
    else:
        text = "echo: " + last_user
    reason, matched = "end_turn", None
    for stop in body.get("stop_sequences") or []:
        at = text.find(stop)
        if at >= 0 and (matched is None or at < text.find(matched)):
            matched = stop
    if matched is not None:
        text, reason = text[: text.find(matched)], "stop_sequence"
    words = split_words(text)
    if len(words) > body["max_tokens"]:
        text, reason, matched = "".join(words[: body["max_tokens"]]), "max_tokens", None
    return [*blocks, {"type": "text", "text": text}], reason, matched


def usage_of(body: dict[str, Any], blocks: list[dict[str, Any]], cache_read: int, cache_write: int) -> dict[str, Any]:
    thinking = sum(len(split_words(b["thinking"])) for b in blocks if b["type"] == "thinking")
    output = thinking
    for block in blocks:
        if block["type"] == "text":
            output += len(split_words(block["text"]))
        elif block["type"] == "tool_use":
            output += 1 + len(block["input"])
    usage: dict[str, Any] = {
        "input_tokens": input_tokens(body),
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": cache_write, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output,
        "service_tier": "standard",
    }
    if thinking:
        usage["output_tokens_details"] = {"thinking_tokens": thinking}
    return usage


def message(body: dict[str, Any], message_id: str, cache_read: int = 0, cache_write: int = 0) -> dict[str, Any]:
    blocks, reason, sequence = reply(body)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": blocks,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": usage_of(body, blocks, cache_read, cache_write),
    }


def split_json(text: str) -> list[str]:
    """Tool input JSON in pieces of at most 8 characters, after the empty first piece the real API sends."""
    return [""] + [text[i : i + 8] for i in range(0, len(text), 8)]


def stream_events(answer: dict[str, Any]) -> list[dict[str, Any]]:
    usage = answer["usage"]
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens_details"} | {"output_tokens": 1}
    head = {**answer, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
    events: list[dict[str, Any]] = [{"type": "message_start", "message": head}, {"type": "ping"}]
    for index, block in enumerate(answer["content"]):
        kind = block["type"]
        if kind == "text":
            events.append(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            )
            deltas = [{"type": "text_delta", "text": word} for word in split_words(block["text"])]
        elif kind == "tool_use":
            start = {**block, "input": {}}
            events.append({"type": "content_block_start", "index": index, "content_block": start})
            pieces = split_json(orjson.dumps(block["input"]).decode())
            deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
        else:  # thinking
            start = {"type": "thinking", "thinking": "", "signature": ""}
            events.append({"type": "content_block_start", "index": index, "content_block": start})
            deltas = [{"type": "thinking_delta", "thinking": word} for word in split_words(block["thinking"])]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        events.extend({"type": "content_block_delta", "index": index, "delta": delta} for delta in deltas)
        events.append({"type": "content_block_stop", "index": index})
    final = {"output_tokens": usage["output_tokens"]}
    if "output_tokens_details" in usage:
        final["output_tokens_details"] = usage["output_tokens_details"]
    delta = {"stop_reason": answer["stop_reason"], "stop_sequence": answer["stop_sequence"]}
    events.append({"type": "message_delta", "delta": delta, "usage": final})
    events.append({"type": "message_stop"})
    return events


def error_body(kind: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def validate(body: Any) -> None:
    """The checks of the real API that a translation can fail."""
    if not isinstance(body, dict):
        raise BadRequest("There was an issue with the request body: the body must be a JSON object")
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            raise BadRequest(f"{key}: Field required")
    if not isinstance(body["max_tokens"], int) or body["max_tokens"] < 1:
        raise BadRequest("max_tokens: Input should be a valid integer greater than 0")
    if not isinstance(body["messages"], list) or not body["messages"]:
        raise BadRequest("messages: at least one message is required")
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise BadRequest("temperature: range: 0..1")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        for block in system:
            if block.get("type") != "text":
                raise BadRequest("system: blocks must be of type text")
    thinking = body.get("thinking") or {}
    if thinking.get("type") == "enabled" and not 1024 <= thinking.get("budget_tokens", 0) < body["max_tokens"]:
        raise BadRequest("thinking.budget_tokens: must be ≥ 1024 and less than max_tokens")
    offered: set[str] = set()
    for i, msg in enumerate(body["messages"]):
        if msg.get("role") not in ("user", "assistant"):
            raise BadRequest(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if i and msg["role"] == body["messages"][i - 1]["role"]:
            raise BadRequest('messages: roles must alternate between "user" and "assistant"')
        for j, block in enumerate(_blocks(msg.get("content"))):
            kind = block.get("type")
            if kind not in _BLOCK_TYPES:
                raise BadRequest(f"messages.{i}.content.{j}.type: unknown block type {kind!r}")
            if kind == "text" and not block.get("text"):
                raise BadRequest(f"messages.{i}.content.{j}: text content blocks must be non-empty")
            if kind == "tool_use":
                if not isinstance(block.get("input"), dict):
                    raise BadRequest(f"messages.{i}.content.{j}.tool_use.input: Input should be a valid dictionary")
                offered.add(block["id"])
            if kind == "tool_result" and block.get("tool_use_id") not in offered:
                raise BadRequest(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: "
                    f"{block.get('tool_use_id')}. Each `tool_result` block must have a corresponding `tool_use` "
                    "block in the previous message."
                )
            if kind == "thinking" and not block.get("signature"):
                raise BadRequest(f"messages.{i}.content.{j}.thinking.signature: Field required")


# --- the server --------------------------------------------------------------------------------------------


class FakeAnthropic(LoopbackServer):
    """`url` is the base URL a client is configured with (Anthropic's is https://api.anthropic.com, without /v1)."""

    thread_name = "fake-anthropic"

    def __init__(
        self, api_key: str = "sk-ant-fake-upstream", *, cache_read_tokens: int = 0, cache_creation_tokens: int = 0
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.cache_read_tokens = cache_read_tokens
        self.cache_creation_tokens = cache_creation_tokens
        self.usages: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self.usages.clear()

    # --- serving ----------------------------------------------------------------------------------------

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        payload = recorded.json
        if (request.method, request.path) != ("POST", "/v1/messages"):
            return self._error(404, "not_found_error", f"Not found: {request.method} {request.path}")
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        presented = request.headers.get("x-api-key") or (bearer if scheme.lower() == "bearer" else None)
        if presented != self.api_key:
            reason = "invalid x-api-key" if presented else "x-api-key header is required"
            return self._error(401, "authentication_error", reason)
        if not request.headers.get("anthropic-version"):
            return self._error(400, "invalid_request_error", "anthropic-version: header is required")
        model = payload.get("model") if isinstance(payload, dict) else None
        failure = _failure(model)
        if failure is not None:
            return self._error(*failure)
        try:
            validate(payload)
        except BadRequest as exc:
            return self._error(400, "invalid_request_error", str(exc))
        assert isinstance(payload, dict) and isinstance(model, str)  # validated
        answer = message(payload, f"msg_fake{next(self._ids):020d}", self.cache_read_tokens, self.cache_creation_tokens)
        self.usages.append(answer["usage"])
        if payload.get("stream"):
            return await self._stream(request, stream_events(answer), model)
        return _json(200, answer)

    def _error(self, status: int, kind: str, message: str) -> web.Response:
        headers = {"retry-after": "7"} if status == 429 else {}
        if status == 429:
            headers["anthropic-ratelimit-requests-limit"] = "50"
            headers["anthropic-ratelimit-requests-remaining"] = "0"
        return _json(status, error_body(kind, message, _request_id()), headers)

    async def _stream(self, request: web.Request, events: list[dict[str, Any]], model: str) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
        )
        response.headers["request-id"] = _request_id()
        await response.prepare(request)
        if model == "error-stream":
            first_text = next(i for i, e in enumerate(events) if e.get("delta", {}).get("type") == "text_delta")
            for event in events[: first_text + 1]:
                await response.write(sse(event))
            await response.write(sse(error_body("overloaded_error", "Overloaded", _request_id())))
            await response.write_eof()
            return response
        if model == "reset-stream":
            for event in events[:4]:
                await response.write(sse(event))
            assert request.transport is not None
            request.transport.abort()
            return response
        for event in events:
            await response.write(sse(event))
        await response.write_eof()
        return response


def _failure(model: Any) -> tuple[int, str, str] | None:
    if not isinstance(model, str) or not model.startswith("error-") or not model[6:].isdigit():
        return None
    status = int(model[6:])
    kind, message = ERROR_TYPES[status]
    return status, kind, message


def sse(event: dict[str, Any]) -> bytes:
    """Anthropic names every event, and repeats the name as the data's `type`."""
    name: str = event["type"]
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"


_request_ids = itertools.count(1)


def _request_id() -> str:
    return f"req_fake{next(_request_ids):024d}"


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        headers={"content-type": "application/json", "request-id": _request_id(), **(headers or {})},
    )
