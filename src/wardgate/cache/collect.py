"""A streamed answer, assembled chunk by chunk into the answer a non-streamed request would have got.

The stage feeds it from ``on_chunk``; it keeps only the merged fields (not the chunks), stops collecting past
``max_bytes`` of chunk data, and yields nothing unless every choice finished: a cut stream is never stored.
"""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.core.call import Chunk

_HEAD = ("id", "created", "model", "system_fingerprint", "service_tier")


class StreamAssembler:
    __slots__ = ("_choices", "_head", "_size", "max_bytes", "operation", "overflow", "usage")

    def __init__(self, operation: str, max_bytes: int) -> None:
        self.operation = operation
        self.max_bytes = max_bytes
        self.overflow = False
        self.usage: dict[str, Any] | None = None
        self._size = 0
        self._head: dict[str, Any] = {}
        self._choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Chunk) -> None:
        if self.overflow:
            return
        self._size += len(chunk.raw) if chunk.raw is not None else 256
        if self._size > self.max_bytes:
            self.overflow = True
            self._choices.clear()
            return
        data = chunk.data
        if not self._head:
            self._head = {k: data[k] for k in _HEAD if data.get(k) is not None}
        if data.get("usage"):
            self.usage = data["usage"]
        for choice in data.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            merged = self._choices.setdefault(index, {"index": index, "finish_reason": None})
            if self.operation == "chat":
                _merge_delta(merged, choice.get("delta") or {})
            elif isinstance(choice.get("text"), str):
                merged["text"] = merged.get("text", "") + choice["text"]
            if choice.get("logprobs"):
                _merge_logprobs(merged, choice["logprobs"])
            if choice.get("finish_reason") is not None:
                merged["finish_reason"] = choice["finish_reason"]

    def result(self) -> dict[str, Any] | None:
        """The assembled answer, or None if the stream overflowed, carried no choice or did not finish."""
        if self.overflow or not self._choices or any(c["finish_reason"] is None for c in self._choices.values()):
            return None
        choices = [self._choice(self._choices[i]) for i in sorted(self._choices)]
        obj = "chat.completion" if self.operation == "chat" else "text_completion"
        body: dict[str, Any] = {"id": self._head.get("id"), "object": obj, **self._head, "choices": choices}
        if self.usage is not None:
            body["usage"] = self.usage
        return body

    def result_bytes(self) -> bytes | None:
        body = self.result()
        return orjson.dumps(body) if body is not None else None

    def _choice(self, merged: dict[str, Any]) -> dict[str, Any]:
        if self.operation != "chat":
            return {
                "text": merged.get("text", ""),
                "index": merged["index"],
                "logprobs": merged.get("logprobs"),
                "finish_reason": merged["finish_reason"],
            }
        message: dict[str, Any] = {"role": merged.get("role", "assistant"), "content": merged.get("content")}
        for name, value in merged.items():
            if name not in ("index", "finish_reason", "role", "content", "logprobs", "tool_calls"):
                message[name] = value
        if "tool_calls" in merged:
            message["tool_calls"] = [merged["tool_calls"][i] for i in sorted(merged["tool_calls"])]
        message.setdefault("refusal", None)
        return {
            "index": merged["index"],
            "message": message,
            "logprobs": merged.get("logprobs"),
            "finish_reason": merged["finish_reason"],
        }


def _merge_delta(merged: dict[str, Any], delta: dict[str, Any]) -> None:
    for name, value in delta.items():
        if value is None:
            continue
        if name == "tool_calls":
            calls = merged.setdefault("tool_calls", {})
            for call in value:
                slot = calls.setdefault(call.get("index", len(calls)), {"function": {"name": "", "arguments": ""}})
                if call.get("id"):
                    slot["id"] = call["id"]
                if call.get("type"):
                    slot["type"] = call["type"]
                function = call.get("function") or {}
                slot["function"]["name"] += function.get("name") or ""
                slot["function"]["arguments"] += function.get("arguments") or ""
        elif name == "role":
            merged["role"] = value
        elif isinstance(value, str):
            merged[name] = merged.get(name, "") + value
        else:
            merged[name] = value  # a whole object sent once (audio, function_call …): the last one wins


def _merge_logprobs(merged: dict[str, Any], logprobs: dict[str, Any]) -> None:
    target = merged.setdefault("logprobs", {})
    for name, value in logprobs.items():
        if isinstance(value, list):
            target.setdefault(name, []).extend(value)
        elif value is not None:
            target[name] = value
