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

The answers (chat replies, usage, embeddings): see `cohere_logic`, which builds them.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import rerank_logic
from tests.fakes.cohere_logic import (
    CHAT_FIELDS,
    EMBED_FIELDS,
    ERROR_MESSAGES,
    MESSAGE_FIELDS,
    THINKING,
    BadRequest,
    Reply,
    chat_answer,
    chat_events,
    chat_reply,
    chat_usage,
    check_chat,
    check_embed,
    content_text,
    count_words,
    embed_answer,
    embedding_vector,
    error_body,
    new_id,
    split_words,
    tool_arguments,
)
from tests.fakes.server import LoopbackServer, RecordedRequest

__all__ = [  # what the fake's users import from here: its own names and, re-exported, the logic's
    "CHAT_FIELDS",
    "EMBED_FIELDS",
    "ERROR_MESSAGES",
    "MESSAGE_FIELDS",
    "THINKING",
    "BadRequest",
    "FakeCohere",
    "RecordedRequest",
    "Reply",
    "chat_answer",
    "chat_events",
    "chat_reply",
    "chat_usage",
    "check_chat",
    "check_embed",
    "content_text",
    "count_words",
    "embed_answer",
    "embedding_vector",
    "error_body",
    "split_words",
    "tool_arguments",
]


class FakeCohere(LoopbackServer):
    """`url` is the base URL a client is configured with (paths start with /v2)."""

    thread_name = "fake-cohere"

    def __init__(
        self,
        api_key: str = "co-fake-upstream-key",
        *,
        embedding_dim: int = 8,
        template_tokens: int = 7,
        cached_tokens: int = 0,
        send_done: bool = True,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.embedding_dim = embedding_dim
        self.template_tokens = template_tokens
        self.cached_tokens = cached_tokens
        self.send_done = send_done  # end streams with `data: [DONE]`, as the API does after message-end
        self.usages: list[dict[str, Any]] = []  # the usage object of each chat answer, in order

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self.usages.clear()

    # --- serving --------------------------------------------------------------------------------------

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        payload = recorded.json
        if request.headers.get("Authorization", "") != f"Bearer {self.api_key}":
            return _json(401, error_body("invalid api token"))
        try:
            if request.method == "POST" and request.path == "/v2/chat":
                return await self._chat(request, payload)
            if request.method == "POST" and request.path == "/v2/embed":
                check_embed(payload)
                return self._failure(payload["model"]) or _json(
                    200, embed_answer(payload, self.embedding_dim, new_id())
                )
            if request.method == "POST" and request.path == "/v2/rerank":
                rerank_logic.check_cohere(payload)
                return self._failure(payload["model"]) or _json(200, rerank_logic.cohere_answer(payload, new_id()))
        except (BadRequest, rerank_logic.RerankError) as exc:
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
            return _json(200, chat_answer(reply, usage, new_id()))
        events = chat_events(reply, usage, new_id())
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
