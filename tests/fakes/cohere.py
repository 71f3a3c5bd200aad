"""A real HTTP fake of Cohere's API v2 (Chat and Embed) on loopback, speaking its documented wire format.

Sources: docs.cohere.com/reference/chat, /reference/chat-stream, /reference/embed, /reference/errors and the types of
the official ``cohere`` Python SDK. It serves from its own event loop in a background thread (sync and async clients
alike can call it) and records every request (`requests`) and the usage object of every answer (`usages`).

Each request goes through, in order: recording; the next scripted answer, if any (`enqueue`); authentication
(`Authorization: Bearer <key>`, else 401 `{"id", "message": "invalid api token"}`); the route (`POST /v2/chat`,
`POST /v2/embed`, else 404); the body check (unknown top-level or message fields, bad roles, missing `model`,
`messages`, `input_type` or `embedding_types` are a 400, as Cohere answers them); the failure mode named by the model;
the normal answer.

Failure modes, by model name:
- `error-400`, `error-404`, `error-429`, `error-500`, `error-503`: Cohere's error body `{"id", "message"}` with that
  status; 429 also carries `retry-after: 7`.
- `error-stream` (streams): the events of the answer, then `message-end` with `finish_reason: "ERROR"` and an error.
- `reset-stream` (streams): two events, then the connection is dropped.
- `cut-stream` (streams): every event but `message-end`, then a clean end of the body.

Chat reply, first rule that applies (the answer is cut into word tokens that keep their leading whitespace; one word
is one token):
1. last message has role `tool`: "tool said: " + its text (a string, or its text parts joined);
2. `tools` present and `tool_choice` is not `NONE`: a call to each tool when there are two or more, else to the
   first; arguments fill each `required` property by type (first enum value, "x", 1, true, [], {}); ids
   `call_<name>_<position>`; `tool_plan` "I will call <names>."; finish reason `TOOL_CALL`;
3. `response_format` of type `json_object`: `{"echo": "<last user text>"}`;
4. otherwise "echo: " + the last user message's text (image parts read "[image]").
Text replies are cut before the earliest of `stop_sequences` (`STOP_SEQUENCE`) and after `max_tokens` words
(`MAX_TOKENS`). `thinking: {type: enabled}` adds a thinking block "Thinking it over." before the answer; `logprobs:
true` adds one logprob item per word of text.

Usage: `tokens.input_tokens` = words of every message + `template_tokens` (Cohere counts its own prompt template);
`billed_units.input_tokens` = words of every message; output tokens (both) = words of the thinking, the plan, the
text and every argument string; `cached_tokens` is added when set. Embed: `meta.billed_units.input_tokens` = words of
the texts; vectors are unit float32 vectors derived from a hash of the text (`embedding_vector`).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import struct
import threading
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from multidict import CIMultiDict

_WORD = re.compile(r"\s*\S+(?:\s+$)?|\s+")
CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "strict_tools",
        "documents",
        "citation_options",
        "response_format",
        "safety_mode",
        "max_tokens",
        "stop_sequences",
        "temperature",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "k",
        "p",
        "logprobs",
        "tool_choice",
        "thinking",
        "priority",
        "stream",
    }
)
EMBED_FIELDS = frozenset(
    {
        "model",
        "texts",
        "images",
        "inputs",
        "input_type",
        "max_tokens",
        "output_dimension",
        "embedding_types",
        "truncate",
        "priority",
    }
)
MESSAGE_FIELDS = {
    "system": frozenset({"role", "content"}),
    "user": frozenset({"role", "content"}),
    "assistant": frozenset({"role", "content", "tool_calls", "tool_plan", "citations"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}
ERROR_MESSAGES = {
    400: "invalid request: the fake was asked to fail with 400",
    404: "model 'error-404' not found, make sure the correct model ID was used and that you have access to the model.",
    429: "You are past the per minute request limit, please wait and try again later.",
    500: "internal server error, this has been reported to our developers.",
    503: "service unavailable, please try again later.",
}
THINKING = "Thinking it over."


class BadRequest(Exception):
    """A request Cohere would refuse with 400."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    json: Any  # the parsed body, or None when it is empty or not JSON
    body: bytes


@dataclass(frozen=True, slots=True)
class _Scripted:
    status: int
    body: bytes
    headers: CIMultiDict[str]


# --- the pure rules -----------------------------------------------------------------------------------


def split_words(text: str) -> list[str]:
    return _WORD.findall(text)


def count_words(text: str) -> int:
    return len(text.split())


def content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            texts.append(part["text"])
        elif kind == "document":
            texts.append(orjson.dumps(part["document"].get("data")).decode())
        else:
            texts.append(f"[{kind.removesuffix('_url')}]")
    return " ".join(texts)


def tool_arguments(parameters: dict[str, Any]) -> str:
    properties = parameters.get("properties") or {}
    filled: dict[str, Any] = {}
    for name in parameters.get("required") or []:
        schema = properties.get(name) or {}
        if schema.get("enum"):
            filled[name] = schema["enum"][0]
        else:
            kind = schema.get("type")
            filled[name] = {"string": "x", "number": 1, "integer": 1, "boolean": True, "array": [], "object": {}}.get(
                kind
            )
    return orjson.dumps(filled).decode()


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A unit vector of float32-representable values that depends only on the text and the dimension count."""
    raw = struct.unpack(f"<{dimensions}I", hashlib.shake_256(text.encode()).digest(4 * dimensions))
    centred = [value / 2**31 - 1.0 for value in raw]
    norm = sum(value * value for value in centred) ** 0.5 or 1.0
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in centred))))


@dataclass(slots=True)
class Reply:
    text: str = ""
    thinking: str = ""
    tool_plan: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str = "COMPLETE"
    logprobs: bool = False


def check_chat(body: Any) -> None:
    if not isinstance(body, dict):
        raise BadRequest("invalid request: the body must be a JSON object.")
    unknown = sorted(set(body) - CHAT_FIELDS)
    if unknown:
        raise BadRequest(f"invalid request: unknown field: parameter '{unknown[0]}' is not a valid field")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("invalid request: model must be specified.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("invalid request: messages must not be empty.")
    for i, message in enumerate(messages):
        fields = MESSAGE_FIELDS.get(message.get("role"))
        if fields is None:
            raise BadRequest(f"invalid request: messages[{i}].role must be one of system, user, assistant, tool.")
        extra = sorted(set(message) - fields)
        if extra:
            raise BadRequest(f"invalid request: messages[{i}]: unknown field '{extra[0]}'")
        if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise BadRequest(f"invalid request: messages[{i}].tool_call_id is required.")
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        raise BadRequest("invalid request: tool_choice must be one of REQUIRED, NONE.")
    fmt = body.get("response_format")
    if fmt is not None and fmt.get("type") not in ("text", "json_object"):
        raise BadRequest("invalid request: response_format.type must be one of text, json_object.")


def chat_reply(body: dict[str, Any]) -> Reply:
    messages = body["messages"]
    reply = Reply(logprobs=bool(body.get("logprobs")))
    if (body.get("thinking") or {}).get("type") == "enabled":
        reply.thinking = THINKING
    tools = body.get("tools") or []
    users = [m for m in messages if m["role"] == "user"]
    said = content_text(users[-1]["content"]) if users else ""
    if messages[-1]["role"] == "tool":
        reply.text = "tool said: " + content_text(messages[-1]["content"])
    elif tools and body.get("tool_choice") != "NONE":
        called = tools if len(tools) >= 2 else tools[:1]
        names = [t["function"]["name"] for t in called]
        reply.tool_plan = f"I will call {', '.join(names)}."
        reply.tool_calls = [
            {
                "id": f"call_{name}_{k}",
                "type": "function",
                "function": {"name": name, "arguments": tool_arguments(t["function"].get("parameters") or {})},
            }
            for k, (name, t) in enumerate(zip(names, called, strict=True))
        ]
        reply.finish_reason = "TOOL_CALL"
        return reply
    elif (body.get("response_format") or {}).get("type") == "json_object":
        reply.text = orjson.dumps({"echo": said}).decode()
    else:
        reply.text = "echo: " + said
    stops = [s for s in body.get("stop_sequences") or [] if s in reply.text]
    if stops:
        reply.text = reply.text[: min(reply.text.index(s) for s in stops)]
        reply.finish_reason = "STOP_SEQUENCE"
    limit = body.get("max_tokens")
    words = split_words(reply.text)
    if isinstance(limit, int) and len(words) > limit:
        reply.text = "".join(words[:limit])
        reply.finish_reason = "MAX_TOKENS"
    return reply


def chat_usage(body: dict[str, Any], reply: Reply, template_tokens: int, cached_tokens: int) -> dict[str, Any]:
    prompt = sum(count_words(content_text(m.get("content"))) for m in body["messages"])
    output = sum(count_words(t) for t in (reply.thinking, reply.tool_plan, reply.text))
    output += sum(count_words(c["function"]["arguments"]) for c in reply.tool_calls or [])
    usage: dict[str, Any] = {
        "billed_units": {"input_tokens": prompt, "output_tokens": output},
        "tokens": {"input_tokens": prompt + template_tokens, "output_tokens": output},
    }
    if cached_tokens:
        usage["cached_tokens"] = cached_tokens
    return usage


def _logprob_items(text: str) -> list[dict[str, Any]]:
    return [
        {"text": w, "token_ids": [1000 + i], "logprobs": [-0.25 * (i + 1)]} for i, w in enumerate(split_words(text))
    ]


def chat_answer(reply: Reply, usage: dict[str, Any], answer_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    content = []
    if reply.thinking:
        content.append({"type": "thinking", "thinking": reply.thinking})
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    if content:
        message["content"] = content
    if reply.tool_calls:
        message["tool_plan"] = reply.tool_plan
        message["tool_calls"] = reply.tool_calls
    answer: dict[str, Any] = {"id": answer_id, "message": message, "finish_reason": reply.finish_reason, "usage": usage}
    if reply.logprobs and reply.text:
        answer["logprobs"] = _logprob_items(reply.text)
    return answer


def chat_events(reply: Reply, usage: dict[str, Any], answer_id: str) -> list[dict[str, Any]]:
    """Every event of the streamed answer, message-start to message-end."""
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    events: list[dict[str, Any]] = [{"id": answer_id, "type": "message-start", "delta": {"message": start}}]
    index = 0
    if reply.thinking:
        events.append(
            {
                "type": "content-start",
                "index": index,
                "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}},
            }
        )
        for word in split_words(reply.thinking):
            events.append(
                {"type": "content-delta", "index": index, "delta": {"message": {"content": {"thinking": word}}}}
            )
        events.append({"type": "content-end", "index": index})
        index += 1
    for word in split_words(reply.tool_plan):
        events.append({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": word}}})
    for k, call in enumerate(reply.tool_calls or []):
        args = call["function"]["arguments"]
        head = {"id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}
        events.append({"type": "tool-call-start", "index": k, "delta": {"message": {"tool_calls": head}}})
        for part in (args[: len(args) // 2], args[len(args) // 2 :]):
            events.append(
                {
                    "type": "tool-call-delta",
                    "index": k,
                    "delta": {"message": {"tool_calls": {"function": {"arguments": part}}}},
                }
            )
        events.append({"type": "tool-call-end", "index": k})
    if reply.text:
        events.append(
            {"type": "content-start", "index": index, "delta": {"message": {"content": {"type": "text", "text": ""}}}}
        )
        items = _logprob_items(reply.text)
        for word, item in zip(split_words(reply.text), items, strict=True):
            event: dict[str, Any] = {
                "type": "content-delta",
                "index": index,
                "delta": {"message": {"content": {"text": word}}},
            }
            if reply.logprobs:
                event["logprobs"] = item
            events.append(event)
        events.append({"type": "content-end", "index": index})
    events.append({"type": "message-end", "delta": {"finish_reason": reply.finish_reason, "usage": usage}})
    return events


def check_embed(body: Any) -> None:
    if not isinstance(body, dict):
        raise BadRequest("invalid request: the body must be a JSON object.")
    unknown = sorted(set(body) - EMBED_FIELDS)
    if unknown:
        raise BadRequest(f"invalid request: unknown field: parameter '{unknown[0]}' is not a valid field")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("invalid request: model must be specified.")
    if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering", "image"):
        raise BadRequest("invalid request: input_type is required and must be a valid input type.")
    if not body.get("embedding_types"):
        raise BadRequest("invalid request: embedding_types is required.")
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequest("invalid request: texts must be a non-empty array of strings.")


def embed_answer(body: dict[str, Any], default_dimensions: int, answer_id: str) -> dict[str, Any]:
    dimensions = body.get("output_dimension") or default_dimensions
    texts = body["texts"]
    embeddings = {kind: [embedding_vector(t, dimensions) for t in texts] for kind in body["embedding_types"]}
    return {
        "id": answer_id,
        "texts": texts,
        "embeddings": embeddings,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(map(count_words, texts))}},
        "response_type": "embeddings_by_type",
    }


def error_body(message: str) -> dict[str, Any]:
    return {"id": _new_id(), "message": message}


_ids = itertools.count(1)


def _new_id() -> str:
    n = next(_ids)
    return f"{n:08x}-fake-4c0e-a000-{n:012x}"


# --- the server ---------------------------------------------------------------------------------------


class FakeCohere:
    def __init__(
        self,
        api_key: str = "co-fake-upstream-key",
        *,
        embedding_dim: int = 8,
        template_tokens: int = 7,
        cached_tokens: int = 0,
        send_done: bool = True,
    ) -> None:
        self.api_key = api_key
        self.embedding_dim = embedding_dim
        self.template_tokens = template_tokens
        self.cached_tokens = cached_tokens
        self.send_done = send_done  # end streams with `data: [DONE]`, as the API does after message-end
        self.requests: list[RecordedRequest] = []
        self.usages: list[dict[str, Any]] = []  # the usage object of each chat answer, in order
        self._script: deque[_Scripted] = deque()
        self._lock = threading.Lock()
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> FakeCohere:
        if self._thread is not None:
            raise RuntimeError("FakeCohere is already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-cohere", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=30)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = self._runner = None
            self._port = None

    def __enter__(self) -> FakeCohere:
        return self if self._thread is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _open(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        """The base URL a client is configured with (paths start with /v2)."""
        if self._port is None:
            raise RuntimeError("FakeCohere is not started")
        return f"http://127.0.0.1:{self._port}"

    # --- scripting and observation --------------------------------------------------------------------

    def enqueue(self, status: int, body: dict[str, Any] | str | bytes, headers: dict[str, str] | None = None) -> None:
        """Answer the next request (of any kind, before authentication) with this, instead of the normal answer."""
        if isinstance(body, dict):
            raw, content_type = orjson.dumps(body), "application/json"
        elif isinstance(body, str):
            raw, content_type = body.encode(), "text/plain; charset=utf-8"
        else:
            raw, content_type = body, "application/octet-stream"
        merged = CIMultiDict({"content-type": content_type})
        merged.update(headers or {})
        self._script.append(_Scripted(status, raw, merged))

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.usages.clear()
            self._script.clear()

    # --- serving --------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            payload = None
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(RecordedRequest(request.method, request.path, headers, payload, raw))
        if self._script:
            scripted = self._script.popleft()
            return web.Response(status=scripted.status, body=scripted.body, headers=scripted.headers)
        if request.headers.get("Authorization", "") != f"Bearer {self.api_key}":
            return _json(401, error_body("invalid api token"))
        try:
            if request.method == "POST" and request.path == "/v2/chat":
                return await self._chat(request, payload)
            if request.method == "POST" and request.path == "/v2/embed":
                check_embed(payload)
                return self._failure(payload["model"]) or _json(
                    200, embed_answer(payload, self.embedding_dim, _new_id())
                )
        except BadRequest as exc:
            return _json(400, error_body(str(exc)))
        return _json(404, error_body(f"{request.method} {request.path} not found"))

    def _failure(self, model: str) -> web.Response | None:
        match = re.fullmatch(r"error-(\d{3})", model)
        if match is None:
            return None
        status = int(match.group(1))
        headers = {"retry-after": "7"} if status == 429 else {}
        return _json(status, error_body(ERROR_MESSAGES.get(status, f"error {status}")), headers)

    async def _chat(self, request: web.Request, payload: Any) -> web.StreamResponse:
        check_chat(payload)
        failure = self._failure(payload["model"])
        if failure is not None:
            return failure
        reply = chat_reply(payload)
        usage = chat_usage(payload, reply, self.template_tokens, self.cached_tokens)
        with self._lock:
            self.usages.append(usage)
        if not payload.get("stream"):
            return _json(200, chat_answer(reply, usage, _new_id()))
        events = chat_events(reply, usage, _new_id())
        model = payload["model"]
        if model == "error-stream":
            events[-1]["delta"] = {
                "finish_reason": "ERROR",
                "error": "the model produced invalid output",
                "usage": usage,
            }
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "cache-control": "no-cache"})
        await response.prepare(request)
        if model == "reset-stream":
            for event in events[:2]:
                await response.write(_sse(event))
            assert request.transport is not None
            request.transport.abort()
            return response
        if model == "cut-stream":
            events = events[:-1]
        for event in events:
            await response.write(_sse(event))
        if self.send_done and model != "cut-stream":
            await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), headers={"content-type": "application/json", **(headers or {})}
    )


def _sse(event: dict[str, Any]) -> bytes:
    return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
