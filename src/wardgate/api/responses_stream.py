"""OpenAI ``chat.completion.chunk`` stream → the Responses API's stream events: a small state machine, no I/O.

The Responses API streams numbered output items, each added (``response.output_item.added``), grown (text deltas
in a content part, function-call argument deltas) and closed (``…done`` events, then ``output_item.done``) before
the next is added. A chat stream sends deltas of one message; ``ResponseStream`` opens an item whenever the kind
of content changes (reasoning, text, a new tool call) and closes the open one first. Every event carries the next
``sequence_number``.

The usage comes on the last chat chunk (``choices: []``), after the finish reason; ``close`` builds the final
response from what was streamed, with that usage, and emits ``response.completed`` (``response.incomplete`` when
the output was cut by ``max_output_tokens`` or a content filter). A stream that ends without a finish reason was
cut short: ``close`` raises, and the surface sends an ``error`` event, not a response that looks complete.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from wardgate.api.responses_answer import finish, function_call_item, message_item, reasoning_item, text_part
from wardgate.api.responses_translate import new_id
from wardgate.core.errors import UpstreamError
from wardgate.core.usage import Usage

Event = dict[str, Any]


def encode(events: Sequence[Event]) -> bytes:
    return b"".join(b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in events)


@dataclass(slots=True)
class _Tool:
    item_id: str
    call_id: str
    name: str
    output_index: int
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ResponseStream:
    response: dict[str, Any]  # the skeleton (``responses_answer.skeleton``): completed in place by ``close``
    sequence: int = 0
    started: bool = False
    output: list[dict[str, Any]] = field(default_factory=list)  # closed items, in order
    open_kind: str | None = None  # "reasoning" | "text" | "tool"
    open_id: str = ""
    text: list[str] = field(default_factory=list)  # of the open reasoning or text item
    refusal: list[str] = field(default_factory=list)
    tools: dict[int | str, _Tool] = field(default_factory=dict)  # the open tool call, by the chunk's index
    open_tool: int | str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None

    def feed(self, chunk: dict[str, Any], usage: Usage | None = None) -> list[Event]:
        events: list[Event] = []
        if not self.started:
            self.started = True
            events.append(self._event("response.created", response=dict(self.response)))
            events.append(self._event("response.in_progress", response=dict(self.response)))
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self._choice(choice, events)
        if usage is None and isinstance(chunk.get("usage"), dict):
            usage = Usage.from_openai(chunk["usage"])
        if usage is not None:
            self.usage = usage
        return events

    def close(self, usage: Usage | None = None) -> list[Event]:
        """The last events; raises when the stream ended before the answer did."""
        if self.finish_reason is None:
            raise UpstreamError("The provider's stream ended before the answer was complete.")
        events: list[Event] = []
        self._close_item(events)
        finish(self.response, self.output, self.finish_reason, usage or self.usage)
        kind = "response.completed" if self.response["status"] == "completed" else "response.incomplete"
        events.append(self._event(kind, response=self.response))
        return events

    def error(self, code: str | None, message: str, param: str | None) -> Event:
        return self._event("error", code=code, message=message, param=param)

    # --- content ----------------------------------------------------------------------------------------------

    def _choice(self, choice: dict[str, Any], events: list[Event]) -> None:
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = {}
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self._open(events, "reasoning")
            self.text.append(reasoning)
        content = delta.get("content")
        if isinstance(content, str) and content:
            self._text(content, events)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._open(events, "text")
            self.refusal.append(refusal)
        calls = delta.get("tool_calls")
        for call in calls if isinstance(calls, list) else ():
            if isinstance(call, dict):
                self._tool_call(call, events)
        if isinstance(choice.get("finish_reason"), str) and choice["finish_reason"]:
            self.finish_reason = choice["finish_reason"]
            self._close_item(events)

    def _text(self, text: str, events: list[Event]) -> None:
        self._open(events, "text")
        if not self.text:
            part = text_part("")
            events.append(self._event("response.content_part.added", **self._at(), content_index=0, part=part))
        self.text.append(text)
        events.append(self._event("response.output_text.delta", **self._at(), content_index=0, delta=text,
                                  logprobs=[]))  # fmt: skip

    def _tool_call(self, call: dict[str, Any], events: list[Event]) -> None:
        key = call.get("index", call.get("id", 0))
        if not isinstance(key, int | str):
            key = 0
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        if key != self.open_tool or self.open_kind != "tool":
            self._close_item(events)
            item_id = new_id("fc_")
            tool = _Tool(item_id, str(call.get("id") or new_id("call_")), str(function.get("name") or ""),
                         len(self.output))  # fmt: skip
            self.tools[key], self.open_tool, self.open_kind, self.open_id = tool, key, "tool", item_id
            item = {**function_call_item(tool.call_id, tool.name, "", item_id), "status": "in_progress"}
            events.append(self._event("response.output_item.added", output_index=tool.output_index, item=item))
        tool = self.tools[key]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            tool.arguments.append(arguments)
            events.append(self._event("response.function_call_arguments.delta", **self._at(), delta=arguments))

    def _open(self, events: list[Event], kind: str) -> bool:
        """Open an item of ``kind`` unless one is open; whether it was opened now."""
        if self.open_kind == kind:
            return False
        self._close_item(events)
        self.open_kind = kind
        self.open_id = new_id("rs_" if kind == "reasoning" else "msg_")
        if kind == "reasoning":
            item = {"type": "reasoning", "id": self.open_id, "summary": []}
        else:
            item = {"type": "message", "id": self.open_id, "status": "in_progress", "role": "assistant", "content": []}
        events.append(self._event("response.output_item.added", output_index=len(self.output), item=item))
        return True

    def _close_item(self, events: list[Event]) -> None:
        kind = self.open_kind
        if kind is None:
            return
        at = self._at()
        if kind == "reasoning":
            item = reasoning_item("".join(self.text), self.open_id)
        elif kind == "text":
            text = "".join(self.text)
            if self.text:
                events.append(self._event("response.output_text.done", **at, content_index=0, text=text, logprobs=[]))
                events.append(self._event("response.content_part.done", **at, content_index=0, part=text_part(text)))
            item = message_item(text, "".join(self.refusal) or None, self.open_id)
        else:
            tool = self.tools[self.open_tool if self.open_tool is not None else 0]
            arguments = "".join(tool.arguments)
            events.append(self._event("response.function_call_arguments.done", **at, name=tool.name,
                                      arguments=arguments))  # fmt: skip
            item = function_call_item(tool.call_id, tool.name, arguments, tool.item_id)
        events.append(self._event("response.output_item.done", output_index=at["output_index"], item=item))
        self.output.append(item)
        self.open_kind, self.open_tool, self.open_id = None, None, ""
        self.text, self.refusal = [], []

    def _at(self) -> dict[str, Any]:
        return {"item_id": self.open_id, "output_index": len(self.output)}

    def _event(self, kind: str, **fields: Any) -> Event:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event
