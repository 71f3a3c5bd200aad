"""What the fake OpenAI API answers to chat completions: pure and deterministic (rules in order).

Reply (`chat_reply`), the first rule that applies:
1. the last message has role `tool`: "tool said: " + its text;
2. `tools` holds function tools and `tool_choice` is not "none": tool calls, `content` null, finish
   reason "tool_calls". Called: the tool named by `tool_choice: {type: function, function: {name}}`; else
   every tool when there are two or more and `parallel_tool_calls` is not false; else the first one.
   Arguments (`tool_arguments`): a compact JSON object filling each `required` property of the
   parameters schema: its first `enum` value if any, else by type: string "x", number/integer 1, boolean
   true, array [], object {}, null null. Ids: `tool_call_id(name, position)` ("call_" + 24 hex digits);
3. `response_format` of type json_object or json_schema: `{"echo": "<last user text>"}`;
4. otherwise: "echo: " + the text of the last user message.
Text replies then go through `limit_text` with `stop` and `max_completion_tokens` (else `max_tokens`).
`n` choices all carry the same reply.

Usage: prompt_tokens = `count_prompt_tokens(messages)`; completion_tokens = Σ over choices of the reply's
words (a tool call counts 1 + its number of arguments), plus the configured `reasoning_tokens` (OpenAI
counts reasoning inside completion_tokens). The configured `cached_tokens` is reported as is in
`prompt_tokens_details` (OpenAI counts cached tokens inside prompt_tokens, so keep it at most that).

Streams follow OpenAI: per choice a role chunk, then one chunk per word (or, per tool call, a chunk with
its id and name and then its arguments in at least two pieces), then a chunk with an empty delta and the
finish reason; choices interleave by position. With `stream_options.include_usage`, every chunk carries
`"usage": null` and one last chunk carries `choices: []` and the usage. Every chunk carries
`obfuscation` unless `stream_options.include_obfuscation` is false.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tests.fakes.openai_logic import (
    BadRequest,
    Meta,
    content_text,
    count_prompt_tokens,
    count_words,
    interleave,
    limit_text,
    split_words,
    token_logprob,
    token_logprobs,
)

SYSTEM_FINGERPRINT = "fp_fake0000001"
OBFUSCATION = "fake"
_ARGUMENT_BY_TYPE: dict[str, Any] = {
    "string": "x",
    "number": 1,
    "integer": 1,
    "boolean": True,
    "array": [],
    "object": {},
    "null": None,
}


@dataclass(frozen=True, slots=True)
class Reply:
    content: str | None
    tool_calls: tuple[dict[str, Any], ...]
    finish_reason: str

    @property
    def completion_tokens(self) -> int:
        if self.content is not None:
            return count_words(self.content)
        return sum(1 + len(json.loads(call["function"]["arguments"])) for call in self.tool_calls)


def chat_reply(body: dict[str, Any]) -> Reply:
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    tools = [tool for tool in body.get("tools") or [] if tool.get("type") == "function"]
    tool_choice = body.get("tool_choice")
    if last.get("role") == "tool":
        text = "tool said: " + content_text(last.get("content"))
    elif tools and tool_choice != "none":
        return Reply(None, _tool_calls(tools, tool_choice, body.get("parallel_tool_calls")), "tool_calls")
    elif (body.get("response_format") or {}).get("type") in ("json_object", "json_schema"):
        text = json.dumps({"echo": last_user_text(messages)}, ensure_ascii=False)
    else:
        text = "echo: " + last_user_text(messages)
    text, finish_reason = limit_text(text, body.get("stop"), _max_tokens(body))
    return Reply(text, (), finish_reason)


def last_user_text(messages: Sequence[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def _max_tokens(body: dict[str, Any]) -> int | None:
    value = body.get("max_completion_tokens")
    return value if value is not None else body.get("max_tokens")


def _tool_calls(tools: list[dict[str, Any]], tool_choice: Any, parallel: bool | None) -> tuple[dict[str, Any], ...]:
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "function":
        wanted = tool_choice["function"]["name"]
        chosen = [tool for tool in tools if tool["function"]["name"] == wanted]
        if not chosen:
            raise BadRequest(
                f"Invalid value for 'tool_choice': no function named '{wanted}' in 'tools'.",
                param="tool_choice",
                code="invalid_value",
            )
    elif len(tools) >= 2 and parallel is not False:
        chosen = tools
    else:
        chosen = tools[:1]
    return tuple(
        {
            "id": tool_call_id(tool["function"]["name"], position),
            "type": "function",
            "function": {
                "name": tool["function"]["name"],
                "arguments": tool_arguments(tool["function"].get("parameters")),
            },
        }
        for position, tool in enumerate(chosen)
    )


def tool_call_id(name: str, position: int) -> str:
    return "call_" + hashlib.sha256(f"{position}:{name}".encode()).hexdigest()[:24]


def tool_arguments(parameters: dict[str, Any] | None) -> str:
    properties = (parameters or {}).get("properties") or {}
    arguments = {name: _argument_value(properties.get(name) or {}) for name in (parameters or {}).get("required", [])}
    return json.dumps(arguments, separators=(",", ":"))


def _argument_value(schema: dict[str, Any]) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    return _ARGUMENT_BY_TYPE.get(kind, "x")


def chat_usage(prompt_tokens: int, completion_tokens: int, cached: int, reasoning: int) -> dict[str, Any]:
    completion_tokens += reasoning
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(body: dict[str, Any], meta: Meta) -> dict[str, Any]:
    reply = chat_reply(body)
    n = body.get("n") or 1
    logprobs = _chat_logprobs(reply, body) if body.get("logprobs") else None
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = [dict(call) for call in reply.tool_calls]
    choices = [
        {"index": index, "message": message, "logprobs": logprobs, "finish_reason": reply.finish_reason}
        for index in range(n)
    ]
    return {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "choices": choices,
        "usage": _usage_for(body, reply, n, meta),
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _usage_for(body: dict[str, Any], reply: Reply, n: int, meta: Meta) -> dict[str, Any]:
    prompt_tokens = count_prompt_tokens(body.get("messages") or [])
    return chat_usage(prompt_tokens, n * reply.completion_tokens, meta.cached_tokens, meta.reasoning_tokens)


def _chat_logprobs(reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
    if reply.content is None:
        return {"content": None, "refusal": None}
    return {"content": token_logprobs(reply.content, body.get("top_logprobs") or 0), "refusal": None}


def chat_completion_chunks(body: dict[str, Any], meta: Meta) -> list[dict[str, Any]]:
    reply = chat_reply(body)
    n = body.get("n") or 1
    stream_options = body.get("stream_options") or {}
    include_usage = bool(stream_options.get("include_usage"))
    obfuscate = stream_options.get("include_obfuscation", True) is not False
    head = {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "service_tier": "default",
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }

    def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
        out = {**head, "choices": choices}
        if include_usage:
            out["usage"] = usage
        if obfuscate:
            out["obfuscation"] = OBFUSCATION
        return out

    per_choice = [_choice_deltas(reply, index, body) for index in range(n)]
    chunks = [chunk([choice]) for choice in interleave(per_choice)]
    if include_usage:
        chunks.append(chunk([], _usage_for(body, reply, n, meta)))
    return chunks


def _choice_deltas(reply: Reply, index: int, body: dict[str, Any]) -> list[dict[str, Any]]:
    def choice(delta: dict[str, Any], logprobs: Any = None, finish_reason: str | None = None) -> dict[str, Any]:
        return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}

    if reply.content is None:
        out = [choice({"role": "assistant", "content": None, "refusal": None})]
        for position, call in enumerate(reply.tool_calls):
            header = {
                **call,
                "index": position,
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            out.append(choice({"tool_calls": [header]}))
            for piece in split_arguments(call["function"]["arguments"]):
                out.append(choice({"tool_calls": [{"index": position, "function": {"arguments": piece}}]}))
    else:
        out = [choice({"role": "assistant", "content": "", "refusal": None})]
        top = body.get("top_logprobs") or 0
        for position, word in enumerate(split_words(reply.content)):
            logprobs = None
            if body.get("logprobs"):
                logprobs = {"content": [token_logprob(word, position, top)], "refusal": None}
            out.append(choice({"content": word}, logprobs))
    out.append(choice({}, None, reply.finish_reason))
    return out


def split_arguments(arguments: str) -> list[str]:
    """Cut tool-call arguments into at least two pieces, as the real stream does, to exercise reassembly."""
    size = max(1, min(8, len(arguments) // 2))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]
