"""Cohere v2 chat stream events → OpenAI ``chat.completion.chunk`` objects. Pure: no I/O.

Cohere sends one SSE event per step, each with a ``type`` in its JSON (and the same name on its ``event:`` line):
``message-start`` (id), ``content-start`` / ``content-delta`` / ``content-end`` (text or thinking, by content index),
``tool-plan-delta``, ``tool-call-start`` (id, name) / ``tool-call-delta`` (argument fragment) / ``tool-call-end``,
``citation-start`` / ``citation-end``, ``debug``, and ``message-end`` (finish reason, usage, error); a last
``data: [DONE]`` may follow. Citations and debug events have no OpenAI counterpart and are passed over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wardgate.core.call import Chunk
from wardgate.core.usage import Usage
from wardgate.providers.cohere.translate import TYPE, finish_reason, logprobs_from_wire, usage_from_wire


@dataclass(slots=True)
class StreamState:
    model: str
    created: int
    include_usage: bool  # the client asked for the usage chunk (stream_options.include_usage)
    provider: str = TYPE
    id: str = ""
    started: bool = False  # the role chunk went out
    finished: bool = False  # message-end arrived
    usage: Usage | None = None
    tool_index: dict[int, int] = field(default_factory=dict)  # Cohere's tool-call index → OpenAI's


def chunks_from_event(event: Mapping[str, Any], state: StreamState, name: str | None = None) -> list[Chunk]:
    """The chunks one Cohere event becomes (often none). ``name`` is the SSE event name, used if the JSON has no
    ``type``. A generation that ends in error raises from here."""
    kind = event.get("type") or name
    delta = event.get("delta") or {}
    message = delta.get("message") or {}
    out: list[Chunk] = []
    if kind == "message-start":
        state.id = event.get("id") or state.id
        _start(state, out)
    elif kind in ("content-delta", "content-start"):
        content = message.get("content") or {}
        piece: dict[str, Any] = {}
        if content.get("text"):
            piece["content"] = content["text"]
        if content.get("thinking"):
            piece["reasoning_content"] = content["thinking"]
        logprobs = logprobs_from_wire([event["logprobs"]]) if event.get("logprobs") else None
        if piece or logprobs:
            _start(state, out)
            out.append(_chunk(state, piece, logprobs=logprobs))
    elif kind == "tool-plan-delta":
        if message.get("tool_plan"):
            _start(state, out)
            out.append(_chunk(state, {"content": message["tool_plan"]}))
    elif kind == "tool-call-start":
        _start(state, out)
        call = message.get("tool_calls") or {}
        fn = call.get("function") or {}
        index = state.tool_index.setdefault(int(event.get("index") or 0), len(state.tool_index))
        head = {
            "index": index,
            "id": call.get("id") or "",
            "type": "function",
            "function": {"name": fn.get("name") or "", "arguments": ""},
        }
        out.append(_chunk(state, {"tool_calls": [head]}))
        if fn.get("arguments"):
            out.append(_arguments(state, index, fn["arguments"]))
    elif kind == "tool-call-delta":
        fragment = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
        if fragment:
            index = state.tool_index.get(int(event.get("index") or 0), 0)
            out.append(_arguments(state, index, fragment))
    elif kind == "message-end":
        reason = finish_reason(delta.get("finish_reason"), delta.get("error"), state.provider)
        state.finished = True
        state.usage = usage_from_wire(delta.get("usage"))
        _start(state, out)
        out.append(Chunk(_base(state, [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}])))
        if state.include_usage:
            out.append(Chunk({**_base(state, []), "usage": state.usage.to_openai()}, usage=state.usage))
    return out


def _base(state: StreamState, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": state.id,
        "object": "chat.completion.chunk",
        "created": state.created,
        "model": state.model,
        "choices": choices,
    }


def _chunk(state: StreamState, delta: dict[str, Any], logprobs: dict[str, Any] | None = None) -> Chunk:
    return Chunk(_base(state, [{"index": 0, "delta": delta, "logprobs": logprobs, "finish_reason": None}]))


def _start(state: StreamState, out: list[Chunk]) -> None:
    if not state.started:
        state.started = True
        out.append(_chunk(state, {"role": "assistant", "content": ""}))


def _arguments(state: StreamState, index: int, fragment: str) -> Chunk:
    return _chunk(state, {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
