"""OpenAI ``chat.completion.chunk`` stream → Anthropic Messages stream events: a small state machine, no I/O.

Anthropic streams content as numbered blocks, each opened (``content_block_start``), grown
(``content_block_delta``) and closed (``content_block_stop``) before the next opens; a new block starts whenever
the kind of content changes (thinking, text, a tool call) or a new tool call begins. OpenAI streams deltas of one
message. ``MessageStream`` keeps which block is open and what each tool call's arguments add up to.

The usage arrives last on an OpenAI stream (the chunk with ``choices: []``), after the finish reason, so
``message_start`` reports zero tokens and ``message_delta`` carries the real numbers, cumulative as Anthropic's
are: the final events are held until the usage chunk or the end of the stream. A stream that ends without a finish
reason was cut short, and becomes an ``error`` event rather than a message that looks complete.

Thinking: ``reasoning_content`` (or ``reasoning``) deltas become ``thinking_delta``s; a ``thinking_blocks`` delta
(Wardgate's Anthropic adapter sends each complete block once it is signed) closes the thinking block with its
``signature_delta``, or opens and closes one when its text was not streamed before; a ``redacted_thinking`` block
is opened and closed with its data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from wardgate.api.anthropic_response import anthropic_usage, message_id, reasoning_text, stop_reason, tool_input
from wardgate.core.errors import UpstreamError
from wardgate.core.usage import Usage

Event = tuple[str, dict[str, Any]]


def encode(events: Sequence[Event]) -> bytes:
    return b"".join(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n" for name, data in events)


@dataclass(slots=True)
class _Tool:
    id: str
    block: int
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class MessageStream:
    model: str  # as the client asked
    fallback_id: str  # for the message id, when the provider gives none
    stop_sequences: tuple[str, ...] = ()
    started: bool = False
    finished: bool = False  # message_stop emitted
    open_block: int | None = None
    open_kind: str | None = None  # "text" | "thinking" | "tool"
    thinking_text: str = ""  # of the open thinking block
    blocks: int = 0
    tools: dict[int | str, _Tool] = field(default_factory=dict)  # by the provider's tool-call index (else id)
    called: list[_Tool] = field(default_factory=list)
    open_tool: int | str | None = None
    finish: str | None = None
    choice_end: dict[str, Any] = field(default_factory=dict)  # the choice that carried the finish reason
    refused: bool = False
    usage: Usage | None = None

    def feed(self, chunk: dict[str, Any], usage: Usage | None = None) -> list[Event]:
        """The events one OpenAI chunk becomes (often one, sometimes none)."""
        events: list[Event] = []
        if self.finished:
            return events
        if not self.started:
            events.append(self._message_start(chunk.get("id")))
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) == 0:  # this surface never asks for several choices
                self._choice(choice, events)
        if usage is None and isinstance(chunk.get("usage"), dict):
            usage = Usage.from_openai(chunk["usage"])
        if usage is not None:
            self.usage = usage
            if self.finish is not None:  # a usage from before the finish may not be the last word
                events.extend(self._final())
        return events

    def close(self, usage: Usage | None = None) -> list[Event]:
        """The events still owed when the OpenAI stream ends (``usage``: the call's, as the adapter last set it);
        raises if the stream ended before the answer did."""
        if self.finished:
            return []
        if self.finish is None:
            raise UpstreamError("The provider's stream ended before the answer was complete.")
        if usage is not None:
            self.usage = usage
        return self._final()

    # --- content ----------------------------------------------------------------------------------------------

    def _choice(self, choice: dict[str, Any], events: list[Event]) -> None:
        delta = choice.get("delta") or {}
        blocks = delta.get("thinking_blocks")
        if isinstance(blocks, list) and blocks:
            for block in blocks:
                if isinstance(block, dict):
                    self._thinking_block(block, events)
        else:
            reasoning = reasoning_text(delta)
            if reasoning:
                self._thinking(reasoning, events)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text(content, events)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self.refused = True
            self._text(refusal, events)
        for call in delta.get("tool_calls") or []:
            self._tool_call(call, events)
        finish = choice.get("finish_reason")
        if finish:
            self.finish = finish
            self.choice_end = choice
            self._close_block(events)

    def _text(self, text: str, events: list[Event]) -> None:
        if self.open_kind != "text":
            self._open(events, "text", {"type": "text", "text": ""})
        events.append(self._delta({"type": "text_delta", "text": text}))

    def _thinking(self, text: str, events: list[Event]) -> None:
        if self.open_kind != "thinking":
            self._open(events, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
        self.thinking_text += text
        events.append(self._delta({"type": "thinking_delta", "thinking": text}))

    def _thinking_block(self, block: dict[str, Any], events: list[Event]) -> None:
        if block.get("type") == "redacted_thinking":
            self._open(events, "redacted", {"type": "redacted_thinking", "data": block.get("data") or ""})
            self._close_block(events)
            return
        text = block.get("thinking") or ""
        if self.open_kind == "thinking" and text.startswith(self.thinking_text):
            text = text[len(self.thinking_text) :]  # already streamed as reasoning_content
        else:
            self._open(events, "thinking", {"type": "thinking", "thinking": "", "signature": ""})
        if text:
            events.append(self._delta({"type": "thinking_delta", "thinking": text}))
        if block.get("signature"):
            events.append(self._delta({"type": "signature_delta", "signature": block["signature"]}))
        self._close_block(events)

    def _tool_call(self, call: dict[str, Any], events: list[Event]) -> None:
        index = call.get("index")
        key: int | str | None = index if isinstance(index, int) else call.get("id") or self.open_tool
        if key is None:
            key = 0
        fn = call.get("function") or {}
        tool = self.tools.get(key)
        call_id = call.get("id")
        if tool is None or (call_id and call_id != tool.id):  # some providers number every call 0
            call_id = call_id or f"toolu_{self.fallback_id}_{self.blocks}"
            start: dict[str, Any] = {"type": "tool_use", "id": call_id, "name": fn.get("name") or "", "input": {}}
            self._open(events, "tool", start)
            assert self.open_block is not None
            tool = self.tools[key] = _Tool(call_id, self.open_block)
            self.called.append(tool)
            self.open_tool = key
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            tool.arguments.append(arguments)
            # a fragment of an earlier call (providers stream calls one after the other) still goes to its block
            delta = {"type": "input_json_delta", "partial_json": arguments}
            events.append(("content_block_delta", {"type": "content_block_delta", "index": tool.block, "delta": delta}))

    def _open(self, events: list[Event], kind: str, block: dict[str, Any]) -> None:
        self._close_block(events)
        self.open_block, self.open_kind = self.blocks, kind
        self.blocks += 1
        events.append(
            ("content_block_start", {"type": "content_block_start", "index": self.open_block, "content_block": block})
        )

    def _delta(self, delta: dict[str, Any]) -> Event:
        return "content_block_delta", {"type": "content_block_delta", "index": self.open_block, "delta": delta}

    def _close_block(self, events: list[Event]) -> None:
        if self.open_block is not None:
            events.append(("content_block_stop", {"type": "content_block_stop", "index": self.open_block}))
        self.open_block = self.open_kind = self.open_tool = None
        self.thinking_text = ""

    # --- message ----------------------------------------------------------------------------------------------

    def _message_start(self, openai_id: Any) -> Event:
        self.started = True
        message: dict[str, Any] = {
            "id": message_id(openai_id, self.fallback_id),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": anthropic_usage(None),
        }
        return "message_start", {"type": "message_start", "message": message}

    def _final(self) -> list[Event]:
        events: list[Event] = []
        self._close_block(events)
        for n, tool in enumerate(self.called):
            tool_input("".join(tool.arguments), str(n))  # raises on arguments that are not a JSON object
        reason, sequence = stop_reason(
            self.finish, self.choice_end, self.stop_sequences, used_tools=bool(self.called), refused=self.refused
        )
        delta = {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": sequence}}
        delta["usage"] = anthropic_usage(self.usage)
        events.append(("message_delta", delta))
        events.append(("message_stop", {"type": "message_stop"}))
        self.finished = True
        return events
