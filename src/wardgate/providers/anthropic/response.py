"""An Anthropic Message → an OpenAI ``chat.completion``, and Anthropic usage → Usage: pure functions."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.usage import Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",  # only server tools pause a turn, and Wardgate sends none
    "model_context_window_exceeded": "length",
}


def usage_from_wire(usage: Mapping[str, Any]) -> Usage:
    """Anthropic counts cache reads and writes apart from ``input_tokens``; Usage counts them inside."""
    read = int(usage.get("cache_read_input_tokens") or 0)
    write = int(usage.get("cache_creation_input_tokens") or 0)
    details = usage.get("output_tokens_details") or {}
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0) + read + write,
        output_tokens=int(usage.get("output_tokens") or 0),
        cached_tokens=read,
        cache_write_tokens=write,
        reasoning_tokens=int(details.get("thinking_tokens") or 0),
    )


def openai_usage(usage: Usage) -> dict[str, Any]:
    out = usage.to_openai()
    if usage.cache_write_tokens:
        out["prompt_tokens_details"]["cache_write_tokens"] = usage.cache_write_tokens
    return out


def finish_reason(stop_reason: str | None) -> str:
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


def from_wire(body: Mapping[str, Any], *, created: int | None = None) -> dict[str, Any]:
    """An Anthropic Message → an OpenAI ``chat.completion``.

    Thinking comes back twice: its text as ``reasoning_content`` (what OpenAI-style clients display), and the
    blocks whole as ``thinking_blocks``, which a client sends back on the assistant message so that the
    signatures Anthropic checks on the next turn survive the round trip.
    """
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in body.get("content") or []:
        kind = block.get("type")
        if kind == "text":
            texts.append(block["text"])
        elif kind == "tool_use":
            arguments = orjson.dumps(block.get("input") or {}).decode()
            tool_calls.append(
                {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}}
            )
        elif kind == "thinking":
            reasoning.append(block.get("thinking") or "")
            thinking_blocks.append(block_copy(block, ("type", "thinking", "signature")))
        elif kind == "redacted_thinking":
            thinking_blocks.append(block_copy(block, ("type", "data")))
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if thinking_blocks:
        message["reasoning_content"] = "".join(reasoning)
        message["thinking_blocks"] = thinking_blocks
    return {
        "id": body.get("id"),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": body.get("model"),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason(body.get("stop_reason"))}
        ],
        "usage": openai_usage(usage_from_wire(body.get("usage") or {})),
    }


def block_copy(block: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: block[key] for key in keys if key in block}
