"""A whole answer replayed as a stream: the chunks a provider would have sent for it, in OpenAI's shape.

Two callers: the cache, which serves a stored answer to a streamed request, and the adapters, when a provider answers
a streamed request with one JSON document instead of an event stream (``providers/unstreamed.py``).

Per choice: the role, then the content (or tool calls, or refusal) in one delta, then the finish reason; then a
usage chunk when the client asked for one (``stream_options.include_usage``), as OpenAI sends it. Clients only need
the concatenation to equal the answer, so one content delta per choice is enough, and the cheapest. Entries that are
not objects are skipped: a provider's answer is read as it came, never trusted to be well formed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from wardgate.core.call import Chunk


def chunks_of(body: dict[str, Any], operation: str, include_usage: bool) -> list[Chunk]:
    head = {k: body[k] for k in ("id", "created", "model", "system_fingerprint") if body.get(k) is not None}
    extra: dict[str, Any] = {"usage": None} if include_usage else {}
    out: list[Chunk] = []
    listed = body.get("choices")
    choices = [c for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
    if operation == "chat":
        obj = "chat.completion.chunk"
        for choice in choices:
            index = choice.get("index", 0)
            message = choice.get("message")
            if not isinstance(message, dict):
                message = {}
            first = {"role": message.get("role", "assistant"), "content": "" if message.get("content") else None}
            if message.get("refusal") is not None:
                first["refusal"] = None
            out.append(_chunk(head, obj, extra, [_delta(index, first)]))
            delta = {k: v for k, v in message.items() if k != "role" and v is not None}
            if isinstance(delta.get("tool_calls"), list):
                delta["tool_calls"] = [
                    {"index": i, **call} for i, call in enumerate(delta["tool_calls"]) if isinstance(call, dict)
                ]
            if delta:
                out.append(_chunk(head, obj, extra, [_delta(index, delta, choice.get("logprobs"))]))
            out.append(_chunk(head, obj, extra, [_delta(index, {}, None, choice.get("finish_reason"))]))
    else:
        obj = "text_completion"
        for choice in choices:
            text_choice = {
                "text": choice.get("text", ""),
                "index": choice.get("index", 0),
                "logprobs": choice.get("logprobs"),
                "finish_reason": None,
            }
            out.append(_chunk(head, obj, extra, [text_choice]))
            done = {
                "text": "",
                "index": choice.get("index", 0),
                "logprobs": None,
                "finish_reason": choice.get("finish_reason"),
            }
            out.append(_chunk(head, obj, extra, [done]))
    if include_usage and body.get("usage"):
        out.append(_chunk(head, obj, {}, [], usage=body["usage"]))
    return out


def _delta(index: int, delta: dict[str, Any], logprobs: Any = None, finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def _chunk(
    head: dict[str, Any], obj: str, extra: dict[str, Any], choices: list[dict[str, Any]], usage: Any = None
) -> Chunk:
    data = {**head, "object": obj, "choices": choices, **extra}
    if usage is not None:
        data["usage"] = usage
    return Chunk(data)


async def replay(chunks: list[Chunk]) -> AsyncIterator[list[Chunk]]:
    """One batch: the client gets the whole answer in one write, as a fast provider's burst would arrive."""
    yield chunks
