"""What the fake Cohere API v2 answers: pure, deterministic builders of Cohere wire bodies (no I/O).

The server (authentication, routes, failure modes, streams) is `cohere`.

Chat reply, first rule that applies (the answer is cut into word tokens that keep their leading whitespace; one word
is one token):
1. last message has role `tool`: "tool said: " + its text (a string, or its text parts joined);
2. `tools` present and `tool_choice` is not `NONE`: a call to each tool when there are two or more, else to the
   first; arguments fill each `required` property by type (first enum value, "x", 1, true, [], {}); ids
   `call_<name>_<position>`; `tool_plan` "I will call <names>."; finish reason `TOOL_CALL`;
3. `response_format` of type `json_object`: `{"echo": "<last user text>"}`;
4. otherwise "echo: " + the last user message's text (image parts read "[image]").
Text replies are cut before the earliest of `stop_sequences` (`STOP_SEQUENCE`) and after `max_tokens` words
(`MAX_TOKENS`). `thinking: {type: enabled}` adds a thinking block "Thinking it over." before the answer; `logprobs:
true` adds one logprob item per word of text.

Usage: `tokens.input_tokens` = words of every message + `template_tokens` (Cohere counts its own prompt template);
`billed_units.input_tokens` = words of every message; output tokens (both) = words of the thinking, the plan, the
text and every argument string; `cached_tokens` is added when set. Embed: `meta.billed_units.input_tokens` = words of
the texts; vectors are unit float32 vectors derived from a hash of the text (`embedding_vector`).
"""

from __future__ import annotations

import hashlib
import itertools
import re
import struct
from dataclasses import dataclass
from typing import Any

import orjson

_WORD = re.compile(r"\s*\S+(?:\s+$)?|\s+")
CHAT_FIELDS = frozenset(
    {
        "model",
        "messages",
        "tools",
        "strict_tools",
        "documents",
        "citation_options",
        "response_format",
        "safety_mode",
        "max_tokens",
        "stop_sequences",
        "temperature",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "k",
        "p",
        "logprobs",
        "tool_choice",
        "thinking",
        "priority",
        "stream",
    }
)
EMBED_FIELDS = frozenset(
    {
        "model",
        "texts",
        "images",
        "inputs",
        "input_type",
        "max_tokens",
        "output_dimension",
        "embedding_types",
        "truncate",
        "priority",
    }
)
MESSAGE_FIELDS = {
    "system": frozenset({"role", "content"}),
    "user": frozenset({"role", "content"}),
    "assistant": frozenset({"role", "content", "tool_calls", "tool_plan", "citations"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}
ERROR_MESSAGES = {
    400: "invalid request: the fake was asked to fail with 400",
    404: "model 'error-404' not found, make sure the correct model ID was used and that you have access to the model.",
    429: "You are past the per minute request limit, please wait and try again later.",
    500: "internal server error, this has been reported to our developers.",
    503: "service unavailable, please try again later.",
}
THINKING = "Thinking it over."


class BadRequest(Exception):
    """A request Cohere would refuse with 400."""


# --- the pure rules -----------------------------------------------------------------------------------


def split_words(text: str) -> list[str]:
    return _WORD.findall(text)


def count_words(text: str) -> int:
    return len(text.split())


def content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            texts.append(part["text"])
        elif kind == "document":
            texts.append(orjson.dumps(part["document"].get("data")).decode())
        else:
            texts.append(f"[{kind.removesuffix('_url')}]")
    return " ".join(texts)


def tool_arguments(parameters: dict[str, Any]) -> str:
    properties = parameters.get("properties") or {}
    filled: dict[str, Any] = {}
    for name in parameters.get("required") or []:
        schema = properties.get(name) or {}
        if schema.get("enum"):
            filled[name] = schema["enum"][0]
        else:
            kind = schema.get("type")
            filled[name] = {"string": "x", "number": 1, "integer": 1, "boolean": True, "array": [], "object": {}}.get(
                kind
            )
    return orjson.dumps(filled).decode()


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A unit vector of float32-representable values that depends only on the text and the dimension count."""
    raw = struct.unpack(f"<{dimensions}I", hashlib.shake_256(text.encode()).digest(4 * dimensions))
    centred = [value / 2**31 - 1.0 for value in raw]
    norm = sum(value * value for value in centred) ** 0.5 or 1.0
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in centred))))


@dataclass(slots=True)
class Reply:
    text: str = ""
    thinking: str = ""
    tool_plan: str = ""
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str = "COMPLETE"
    logprobs: bool = False


def check_chat(body: Any) -> None:
    if not isinstance(body, dict):
        raise BadRequest("invalid request: the body must be a JSON object.")
    unknown = sorted(set(body) - CHAT_FIELDS)
    if unknown:
        raise BadRequest(f"invalid request: unknown field: parameter '{unknown[0]}' is not a valid field")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("invalid request: model must be specified.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("invalid request: messages must not be empty.")
    for i, message in enumerate(messages):
        fields = MESSAGE_FIELDS.get(message.get("role"))
        if fields is None:
            raise BadRequest(f"invalid request: messages[{i}].role must be one of system, user, assistant, tool.")
        extra = sorted(set(message) - fields)
        if extra:
            raise BadRequest(f"invalid request: messages[{i}]: unknown field '{extra[0]}'")
        if message["role"] == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise BadRequest(f"invalid request: messages[{i}].tool_call_id is required.")
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        raise BadRequest("invalid request: tool_choice must be one of REQUIRED, NONE.")
    fmt = body.get("response_format")
    if fmt is not None and fmt.get("type") not in ("text", "json_object"):
        raise BadRequest("invalid request: response_format.type must be one of text, json_object.")


def chat_reply(body: dict[str, Any]) -> Reply:
    messages = body["messages"]
    reply = Reply(logprobs=bool(body.get("logprobs")))
    if (body.get("thinking") or {}).get("type") == "enabled":
        reply.thinking = THINKING
    tools = body.get("tools") or []
    users = [m for m in messages if m["role"] == "user"]
    said = content_text(users[-1]["content"]) if users else ""
    if messages[-1]["role"] == "tool":
        reply.text = "tool said: " + content_text(messages[-1]["content"])
    elif tools and body.get("tool_choice") != "NONE":
        called = tools if len(tools) >= 2 else tools[:1]
        names = [t["function"]["name"] for t in called]
        reply.tool_plan = f"I will call {', '.join(names)}."
        reply.tool_calls = [
            {
                "id": f"call_{name}_{k}",
                "type": "function",
                "function": {"name": name, "arguments": tool_arguments(t["function"].get("parameters") or {})},
            }
            for k, (name, t) in enumerate(zip(names, called, strict=True))
        ]
        reply.finish_reason = "TOOL_CALL"
        return reply
    elif (body.get("response_format") or {}).get("type") == "json_object":
        reply.text = orjson.dumps({"echo": said}).decode()
    else:
        reply.text = "echo: " + said
    stops = [s for s in body.get("stop_sequences") or [] if s in reply.text]
    if stops:
        reply.text = reply.text[: min(reply.text.index(s) for s in stops)]
        reply.finish_reason = "STOP_SEQUENCE"
    limit = body.get("max_tokens")
    words = split_words(reply.text)
    if isinstance(limit, int) and len(words) > limit:
        reply.text = "".join(words[:limit])
        reply.finish_reason = "MAX_TOKENS"
    return reply


def chat_usage(body: dict[str, Any], reply: Reply, template_tokens: int, cached_tokens: int) -> dict[str, Any]:
    prompt = sum(count_words(content_text(m.get("content"))) for m in body["messages"])
    output = sum(count_words(t) for t in (reply.thinking, reply.tool_plan, reply.text))
    output += sum(count_words(c["function"]["arguments"]) for c in reply.tool_calls or [])
    usage: dict[str, Any] = {
        "billed_units": {"input_tokens": prompt, "output_tokens": output},
        "tokens": {"input_tokens": prompt + template_tokens, "output_tokens": output},
    }
    if cached_tokens:
        usage["cached_tokens"] = cached_tokens
    return usage


def _logprob_items(text: str) -> list[dict[str, Any]]:
    return [
        {"text": w, "token_ids": [1000 + i], "logprobs": [-0.25 * (i + 1)]} for i, w in enumerate(split_words(text))
    ]


def chat_answer(reply: Reply, usage: dict[str, Any], answer_id: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    content = []
    if reply.thinking:
        content.append({"type": "thinking", "thinking": reply.thinking})
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    if content:
        message["content"] = content
    if reply.tool_calls:
        message["tool_plan"] = reply.tool_plan
        message["tool_calls"] = reply.tool_calls
    answer: dict[str, Any] = {"id": answer_id, "message": message, "finish_reason": reply.finish_reason, "usage": usage}
    if reply.logprobs and reply.text:
        answer["logprobs"] = _logprob_items(reply.text)
    return answer


def chat_events(reply: Reply, usage: dict[str, Any], answer_id: str) -> list[dict[str, Any]]:
    """Every event of the streamed answer, message-start to message-end."""
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    events: list[dict[str, Any]] = [{"id": answer_id, "type": "message-start", "delta": {"message": start}}]
    index = 0
    if reply.thinking:
        events.append(
            {
                "type": "content-start",
                "index": index,
                "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}},
            }
        )
        for word in split_words(reply.thinking):
            events.append(
                {"type": "content-delta", "index": index, "delta": {"message": {"content": {"thinking": word}}}}
            )
        events.append({"type": "content-end", "index": index})
        index += 1
    for word in split_words(reply.tool_plan):
        events.append({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": word}}})
    for k, call in enumerate(reply.tool_calls or []):
        args = call["function"]["arguments"]
        head = {"id": call["id"], "type": "function", "function": {"name": call["function"]["name"], "arguments": ""}}
        events.append({"type": "tool-call-start", "index": k, "delta": {"message": {"tool_calls": head}}})
        for part in (args[: len(args) // 2], args[len(args) // 2 :]):
            events.append(
                {
                    "type": "tool-call-delta",
                    "index": k,
                    "delta": {"message": {"tool_calls": {"function": {"arguments": part}}}},
                }
            )
        events.append({"type": "tool-call-end", "index": k})
    if reply.text:
        events.append(
            {"type": "content-start", "index": index, "delta": {"message": {"content": {"type": "text", "text": ""}}}}
        )
        items = _logprob_items(reply.text)
        for word, item in zip(split_words(reply.text), items, strict=True):
            event: dict[str, Any] = {
                "type": "content-delta",
                "index": index,
                "delta": {"message": {"content": {"text": word}}},
            }
            if reply.logprobs:
                event["logprobs"] = item
            events.append(event)
        events.append({"type": "content-end", "index": index})
    events.append({"type": "message-end", "delta": {"finish_reason": reply.finish_reason, "usage": usage}})
    return events


def check_embed(body: Any) -> None:
    if not isinstance(body, dict):
        raise BadRequest("invalid request: the body must be a JSON object.")
    unknown = sorted(set(body) - EMBED_FIELDS)
    if unknown:
        raise BadRequest(f"invalid request: unknown field: parameter '{unknown[0]}' is not a valid field")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadRequest("invalid request: model must be specified.")
    if body.get("input_type") not in ("search_document", "search_query", "classification", "clustering", "image"):
        raise BadRequest("invalid request: input_type is required and must be a valid input type.")
    if not body.get("embedding_types"):
        raise BadRequest("invalid request: embedding_types is required.")
    texts = body.get("texts")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise BadRequest("invalid request: texts must be a non-empty array of strings.")


def embed_answer(body: dict[str, Any], default_dimensions: int, answer_id: str) -> dict[str, Any]:
    dimensions = body.get("output_dimension") or default_dimensions
    texts = body["texts"]
    embeddings = {kind: [embedding_vector(t, dimensions) for t in texts] for kind in body["embedding_types"]}
    return {
        "id": answer_id,
        "texts": texts,
        "embeddings": embeddings,
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": sum(map(count_words, texts))}},
        "response_type": "embeddings_by_type",
    }


def error_body(message: str) -> dict[str, Any]:
    return {"id": new_id(), "message": message}


_ids = itertools.count(1)


def new_id() -> str:
    n = next(_ids)
    return f"{n:08x}-fake-4c0e-a000-{n:012x}"
