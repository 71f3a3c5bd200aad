"""Anthropic Messages stream events → OpenAI ``chat.completion.chunk`` objects, one event at a time.

Anthropic numbers content blocks (thinking, text, tool use alike); OpenAI numbers tool calls. ``StreamState`` keeps
the map between the two, the usage seen so far (``message_start`` carries the input side, each ``message_delta``
the cumulative output side) and the text of the thinking block being streamed, whose signature only arrives at its
end: the whole block is then sent once, as ``thinking_blocks``, so that a client can send it back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from wardgate.core.call import Chunk
from wardgate.core.errors import UpstreamError, WardgateError
from wardgate.core.usage import Usage
from wardgate.providers.anthropic.response import finish_reason, openai_usage, usage_from_wire
from wardgate.providers.http import error_from_status

# the HTTP status Anthropic gives each error type, for errors that arrive as an event mid-stream
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


@dataclass(slots=True)
class StreamState:
    provider: str = "anthropic"
    include_usage: bool = False
    secrets: tuple[str, ...] = ()
    created: int = field(default_factory=lambda: int(time.time()))
    id: str = ""
    model: str = ""
    usage: dict[str, Any] = field(default_factory=dict)  # Anthropic's usage numbers, latest value of each
    tool_calls: dict[int, int] = field(default_factory=dict)  # content block index → OpenAI tool call index
    thinking: dict[int, dict[str, Any]] = field(default_factory=dict)  # block index → the block being streamed
    finished: bool = False  # message_stop seen

    def current_usage(self) -> Usage:
        return usage_from_wire(self.usage)


def translate_event(event: dict[str, Any], state: StreamState) -> list[Chunk]:
    """The chunks one event becomes (often none). An ``error`` event raises the WardgateError it stands for."""
    kind = event.get("type")
    if kind == "content_block_delta":
        return _delta(event, state)
    if kind == "message_start":
        message = event.get("message") or {}
        state.id = message.get("id") or ""
        state.model = message.get("model") or ""
        state.usage.update(message.get("usage") or {})
        return [_chunk(state, {"role": "assistant", "content": ""})]
    if kind == "content_block_start":
        return _block_start(event, state)
    if kind == "content_block_stop":
        block = state.thinking.pop(event.get("index", -1), None)
        return [_chunk(state, {"thinking_blocks": [block]})] if block is not None else []
    if kind == "message_delta":
        state.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
        reason = (event.get("delta") or {}).get("stop_reason")
        return [_chunk(state, {}, finish_reason(reason))]
    if kind == "message_stop":
        state.finished = True
        if not state.include_usage:
            return []
        usage = state.current_usage()
        data = {**_head(state), "choices": [], "usage": openai_usage(usage)}
        return [Chunk(data, usage=usage)]
    if kind == "error":
        raise stream_error(event, state)
    return []  # ping, and event types added after this adapter was written


def _head(state: StreamState) -> dict[str, Any]:
    return {"id": state.id, "object": "chat.completion.chunk", "created": state.created, "model": state.model}


def _chunk(state: StreamState, delta: dict[str, Any], finish: str | None = None) -> Chunk:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return Chunk({**_head(state), "choices": [choice]})


def _block_start(event: dict[str, Any], state: StreamState) -> list[Chunk]:
    index = event.get("index", -1)
    block = event.get("content_block") or {}
    kind = block.get("type")
    if kind == "text":
        return [_chunk(state, {"content": block["text"]})] if block.get("text") else []
    if kind == "tool_use":
        position = state.tool_calls[index] = len(state.tool_calls)
        call = {
            "index": position,
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": ""},
        }
        return [_chunk(state, {"tool_calls": [call]})]
    if kind == "thinking":
        text = block.get("thinking") or ""
        state.thinking[index] = {"type": "thinking", "thinking": text, "signature": block.get("signature") or ""}
        return [_chunk(state, {"reasoning_content": text})] if text else []
    if kind == "redacted_thinking":
        return [_chunk(state, {"thinking_blocks": [{"type": "redacted_thinking", "data": block.get("data")}]})]
    return []


def _delta(event: dict[str, Any], state: StreamState) -> list[Chunk]:
    index = event.get("index", -1)
    delta = event.get("delta") or {}
    kind = delta.get("type")
    if kind == "text_delta":
        return [_chunk(state, {"content": delta.get("text", "")})]
    if kind == "input_json_delta":
        piece = delta.get("partial_json") or ""
        if not piece or index not in state.tool_calls:
            return []
        call = {"index": state.tool_calls[index], "function": {"arguments": piece}}
        return [_chunk(state, {"tool_calls": [call]})]
    if kind == "thinking_delta":
        text = delta.get("thinking") or ""
        block = state.thinking.get(index)
        if block is not None:
            block["thinking"] += text
        return [_chunk(state, {"reasoning_content": text})] if text else []
    if kind == "signature_delta":
        block = state.thinking.get(index)
        if block is not None:
            block["signature"] += delta.get("signature") or ""
        return []
    return []  # citations_delta: the cited text itself arrives as text_delta


def stream_error(event: dict[str, Any], state: StreamState) -> WardgateError:
    error = event.get("error") or {}
    kind = error.get("type") or "api_error"
    message = error.get("message") or kind
    status = ERROR_STATUS.get(kind, 500)
    mapped = error_from_status(state.provider, status, message, secrets=state.secrets)
    if isinstance(mapped, UpstreamError):
        return mapped
    # a stream the provider accepted and then failed is the provider's failure, whatever it calls it
    return UpstreamError(mapped.message, code=kind)
