"""Gemini's ``streamGenerateContent?alt=sse`` events → OpenAI ``chat.completion.chunk`` objects.

Each event is a whole ``GenerateContentResponse`` carrying only what is new: text pieces, whole function calls
(Gemini does not stream arguments, so a call is one header chunk and one chunk with all of its arguments), a
``finishReason`` on a candidate's last event. ``usageMetadata`` may ride on any event and is complete only on the
last one, so the newest is kept and reported once the stream has ended.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wardgate.core.usage import Usage
from wardgate.providers.gemini.answer import (
    check_prompt,
    completion_id,
    finish_reason,
    logprobs_from_wire,
    tool_call,
    usage_from_wire,
    visible_parts,
)


@dataclass(slots=True)
class StreamState:
    model: str
    provider: str = "gemini"
    created: int = field(default_factory=lambda: int(time.time()))
    id: str | None = None
    usage: Usage | None = None
    started: set[int] = field(default_factory=set)  # candidates whose role chunk went out
    calls: dict[int, int] = field(default_factory=dict)  # candidate → function calls so far
    finished: set[int] = field(default_factory=set)

    def chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }


def _choice(index: int, delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}


def chunks_from_event(event: Mapping[str, Any], state: StreamState) -> list[dict[str, Any]]:
    """The chunks one event decodes to (possibly none); raises for a blocked prompt or a broken call."""
    check_prompt(event, state.provider)
    if state.id is None:
        state.id = completion_id(event)
        state.model = event.get("modelVersion") or state.model
    if event.get("usageMetadata"):
        state.usage = usage_from_wire(event["usageMetadata"])
    out: list[dict[str, Any]] = []
    for candidate in event.get("candidates") or []:
        index = int(candidate.get("index", 0))
        if index not in state.started:
            state.started.add(index)
            out.append(state.chunk([_choice(index, {"role": "assistant", "content": ""})]))
        logprobs = logprobs_from_wire(candidate.get("logprobsResult"))
        for part in visible_parts(candidate):
            if "text" in part:
                out.append(state.chunk([_choice(index, {"content": part["text"]}, logprobs=logprobs)]))
                logprobs = None
            elif "functionCall" in part:
                position = state.calls.get(index, 0)
                state.calls[index] = position + 1
                call = tool_call(index, position, part)
                head = {**call, "index": position, "function": {"name": call["function"]["name"], "arguments": ""}}
                out.append(state.chunk([_choice(index, {"tool_calls": [head]})]))
                arguments = {"index": position, "function": {"arguments": call["function"]["arguments"]}}
                out.append(state.chunk([_choice(index, {"tool_calls": [arguments]})]))
        reason = candidate.get("finishReason")
        if reason and index not in state.finished:
            state.finished.add(index)
            finish = finish_reason(reason, state.calls.get(index, 0), state.provider)
            out.append(state.chunk([_choice(index, {}, finish)]))
    return out


def usage_chunk(state: StreamState) -> dict[str, Any]:
    """The last chunk of a stream whose client asked for ``stream_options.include_usage``."""
    usage = state.usage or Usage()
    return {**state.chunk([]), "usage": usage.to_openai()}
