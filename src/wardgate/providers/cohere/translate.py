"""Pure translation between the canonical OpenAI chat bodies and Cohere's v2 Chat wire format.

Sources: the v2 API reference (docs.cohere.com/reference/chat) and the request and response types
of the official ``cohere`` Python SDK (``cohere/v2/raw_client.py``, ``cohere/types/*_v2*.py``).

Decisions that are not one-to-one:
- An assistant message with ``tool_calls`` sends its text as ``tool_plan`` (Cohere's place for the words said before
  a call); an answer's ``tool_plan`` comes back as ``content`` (before any text), so a tool round trip keeps it.
- ``thinking`` content blocks come back as ``reasoning_content`` (the field OpenAI-compatible servers use).
- A specific ``tool_choice`` function is sent as that one tool with ``tool_choice: REQUIRED``, which is what forcing a
  function means; ``auto`` is Cohere's default (omitted); ``none`` and ``required`` are ``NONE`` / ``REQUIRED``.
- Token counts come from ``usage.tokens`` (what the model read and wrote), not ``usage.billed_units`` (what Cohere
  bills, which leaves out its own prompt template); ``billed_units`` is used only when ``tokens`` is absent.
  ``usage.cached_tokens`` (prompt tokens that hit Cohere's cache, a part of the input) becomes ``cached_tokens``.
- Each Cohere logprob item covers a piece of text that may span several tokens; it becomes one OpenAI entry whose
  ``token`` is that text and whose ``logprob`` is the sum of its tokens' logprobs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from wardgate.core.errors import InvalidRequest, UnsupportedOperation, UpstreamError, UpstreamTimeout
from wardgate.core.usage import Usage

TYPE = "cohere"

# OpenAI fields that do not change the answer and that Cohere has no place for: accepted and not sent.
IGNORED_CHAT_FIELDS = frozenset(
    {"user", "store", "metadata", "service_tier", "safety_identifier", "prompt_cache_key", "stream_options"}
)
# Cohere-only request fields a client may add to the OpenAI body; sent as they are.
PASSTHROUGH_CHAT_FIELDS = ("safety_mode", "thinking", "priority")

FINISH_REASONS = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}


def unsupported(feature: str, param: str) -> UnsupportedOperation:
    return UnsupportedOperation(f"{TYPE} does not support {feature}", param=param)


# --- chat request -------------------------------------------------------------------------------------


def to_wire(body: Mapping[str, Any], model: str, *, stream: bool = False) -> dict[str, Any]:
    """The ``POST /v2/chat`` body for an OpenAI chat completions request."""
    wire: dict[str, Any] = {"model": model, "messages": _messages(body.get("messages") or [])}
    for key, value in body.items():
        if value is None or key in _HANDLED or key in IGNORED_CHAT_FIELDS:
            continue
        if key in PASSTHROUGH_CHAT_FIELDS:
            wire[key] = value
            continue
        simple = _SIMPLE.get(key)
        if simple is None:
            raise unsupported(key, key)
        simple(wire, value)
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        wire["max_tokens"] = max_tokens
    _tools(body, wire)
    if stream:
        wire["stream"] = True
    return wire


def _rename(name: str) -> Callable[[dict[str, Any], Any], None]:
    def put(wire: dict[str, Any], value: Any) -> None:
        wire[name] = value

    return put


def _stop(wire: dict[str, Any], value: Any) -> None:
    stops = [value] if isinstance(value, str) else list(value)
    if stops:
        wire["stop_sequences"] = stops


def _n(wire: dict[str, Any], value: Any) -> None:
    if value != 1:
        raise unsupported("n > 1 (one choice per request)", "n")


def _top_logprobs(wire: dict[str, Any], value: Any) -> None:
    if value:
        raise unsupported("top_logprobs (it returns no alternative tokens)", "top_logprobs")


def _modalities(wire: dict[str, Any], value: Any) -> None:
    if list(value) != ["text"]:
        raise unsupported("output modalities other than text", "modalities")


def _response_format(wire: dict[str, Any], value: Any) -> None:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "json_object":
        wire["response_format"] = {"type": "json_object"}
    elif kind == "json_schema":
        spec = value.get("json_schema") or {}
        out: dict[str, Any] = {"type": "json_object"}
        if isinstance(spec, dict) and spec.get("schema") is not None:
            out["json_schema"] = spec["schema"]
        wire["response_format"] = out
    elif kind != "text":
        raise unsupported(f"response_format type {kind!r}", "response_format")


_SIMPLE: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "temperature": _rename("temperature"),
    "top_p": _rename("p"),
    "top_k": _rename("k"),
    "seed": _rename("seed"),
    "frequency_penalty": _rename("frequency_penalty"),
    "presence_penalty": _rename("presence_penalty"),
    "logprobs": _rename("logprobs"),
    "stop": _stop,
    "n": _n,
    "top_logprobs": _top_logprobs,
    "modalities": _modalities,
    "response_format": _response_format,
}
_HANDLED = frozenset(
    {
        "model",
        "messages",
        "stream",
        "max_tokens",
        "max_completion_tokens",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
    }
)


def _tools(body: Mapping[str, Any], wire: dict[str, Any]) -> None:
    if body.get("parallel_tool_calls") is False:
        raise unsupported("parallel_tool_calls: false (it may always call several tools)", "parallel_tool_calls")
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    out: list[dict[str, Any]] = []
    strict: set[bool] = set()
    for i, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise unsupported(f"tools of type {tool.get('type')!r}", f"tools[{i}].type")
        fn = tool["function"]
        function: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description") is not None:
            function["description"] = fn["description"]
        function["parameters"] = fn.get("parameters") or {"type": "object", "properties": {}}
        strict.add(bool(fn.get("strict")))
        out.append({"type": "function", "function": function})
    if len(strict) > 1:
        raise unsupported("strict on some tools only (strict_tools applies to all of them)", "tools")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name") if choice.get("type") == "function" else None
        if name is None:
            raise unsupported(f"tool_choice of type {choice.get('type')!r}", "tool_choice")
        out = [t for t in out if t["function"]["name"] == name]
        if not out:
            raise InvalidRequest(
                f"tool_choice names the function {name!r}, which is not in tools.", param="tool_choice"
            )
        choice = "required"
    if out:
        wire["tools"] = out
        if strict == {True}:
            wire["strict_tools"] = True
    if choice in (None, "auto"):
        return
    if choice == "required":
        wire["tool_choice"] = "REQUIRED"
    elif choice == "none":
        if out:
            wire["tool_choice"] = "NONE"
    else:
        raise unsupported(f"tool_choice {choice!r}", "tool_choice")


_MESSAGE_KEYS = {
    "system": frozenset({"role", "content"}),
    "developer": frozenset({"role", "content"}),
    "user": frozenset({"role", "content"}),
    # reasoning_content is what this adapter answers with; the model does not read it back
    "assistant": frozenset({"role", "content", "tool_calls", "refusal", "reasoning_content"}),
    "tool": frozenset({"role", "content", "tool_call_id"}),
}


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, message in enumerate(messages):
        role = message.get("role")
        allowed = _MESSAGE_KEYS.get(str(role))
        if allowed is None:
            raise unsupported(f"messages with role {role!r}", f"messages[{i}].role")
        for key, value in message.items():
            if key not in allowed and value is not None:
                raise unsupported(f"{key} on a message", f"messages[{i}].{key}")
        out.append(_message(i, message))
    return out


def _message(i: int, message: dict[str, Any]) -> dict[str, Any]:
    role = message["role"]
    content = message.get("content")
    where = f"messages[{i}].content"
    if role in ("system", "developer"):
        return {"role": "system", "content": _text_content(content, where)}
    if role == "user":
        return {"role": "user", "content": _user_content(content, where)}
    if role == "tool":
        return {"role": "tool", "tool_call_id": message["tool_call_id"], "content": _text_content(content, where)}
    out: dict[str, Any] = {"role": "assistant"}
    calls = message.get("tool_calls")
    if calls:
        text = _joined_text(content, where)
        if text:
            out["tool_plan"] = text
        out["tool_calls"] = [_tool_call(i, k, call) for k, call in enumerate(calls)]
    else:
        out["content"] = _text_content(content if content is not None else "", where)
    return out


def _tool_call(i: int, k: int, call: dict[str, Any]) -> dict[str, Any]:
    if call.get("type", "function") != "function":
        raise unsupported(f"tool calls of type {call.get('type')!r}", f"messages[{i}].tool_calls[{k}].type")
    fn = call.get("function") or {}
    return {
        "id": call["id"],
        "type": "function",
        "function": {"name": fn.get("name"), "arguments": fn.get("arguments") or "{}"},
    }


def _text_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return content or ""
    parts = []
    for j, part in enumerate(content):
        if part.get("type") != "text":
            raise unsupported(f"{part.get('type')!r} parts in this message", f"{where}[{j}].type")
        parts.append({"type": "text", "text": part["text"]})
    return parts


def _joined_text(content: Any, where: str) -> str:
    found = _text_content(content, where)
    return found if isinstance(found, str) else "".join(p["text"] for p in found)


def _user_content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            wire_image = {"url": image.get("url")}
            if image.get("detail") is not None:
                wire_image["detail"] = image["detail"]
            parts.append({"type": "image_url", "image_url": wire_image})
        else:
            raise unsupported(f"{kind!r} content parts", f"{where}[{j}].type")
    return parts


# --- chat answer --------------------------------------------------------------------------------------


def usage_from_wire(usage: Mapping[str, Any] | None) -> Usage:
    """Cohere ``usage`` (a chat answer's, or a stream's ``message-end``) in our convention."""
    usage = usage or {}
    tokens = usage.get("tokens") or usage.get("billed_units") or {}
    return Usage(
        input_tokens=int(tokens.get("input_tokens") or 0),
        output_tokens=int(tokens.get("output_tokens") or 0),
        cached_tokens=int(usage.get("cached_tokens") or 0),
    )


def finish_reason(reason: Any, error: Any = None, provider: str = TYPE) -> str:
    """The OpenAI finish reason; a generation Cohere ended in error is raised, never passed off as an answer."""
    found = FINISH_REASONS.get(str(reason))
    if found is not None:
        return found
    if reason == "TIMEOUT":
        raise UpstreamTimeout(f"{provider}: the generation timed out at the provider.")
    detail = f": {error}" if error else ""
    raise UpstreamError(f"{provider}: the generation ended with finish_reason {reason}{detail}")


def logprobs_from_wire(items: list[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    if not items:
        return None
    content = []
    for item in items:
        text = item.get("text") or ""
        content.append(
            {
                "token": text,
                "logprob": float(sum(item.get("logprobs") or [])),
                "bytes": list(text.encode()),
                "top_logprobs": [],
            }
        )
    return {"content": content, "refusal": None}


def from_wire(
    body: Mapping[str, Any], model: str, *, created: int | None = None, provider: str = TYPE
) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` object for a ``POST /v2/chat`` answer."""
    message = body.get("message") or {}
    texts: list[str] = []
    thoughts: list[str] = []
    for part in message.get("content") or []:
        if part.get("type") == "text":
            texts.append(part.get("text") or "")
        elif part.get("type") == "thinking":
            thoughts.append(part.get("thinking") or "")
    text = (message.get("tool_plan") or "") + "".join(texts)
    calls = [
        {
            "id": call["id"],
            "type": "function",
            "function": {
                "name": (call.get("function") or {}).get("name") or "",
                "arguments": (call.get("function") or {}).get("arguments") or "{}",
            },
        }
        for call in message.get("tool_calls") or []
    ]
    out_message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if calls:
        out_message["tool_calls"] = calls
    if thoughts:
        out_message["reasoning_content"] = "".join(thoughts)
    finish = finish_reason(body.get("finish_reason"), provider=provider)
    return {
        "id": body.get("id") or "",
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": out_message,
                "logprobs": logprobs_from_wire(body.get("logprobs")),
                "finish_reason": finish,
            }
        ],
        "usage": usage_from_wire(body.get("usage")).to_openai(),
    }
