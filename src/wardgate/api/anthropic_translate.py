"""The Anthropic Messages API ⇄ the canonical OpenAI chat shape: pure functions over dicts, no I/O.

Request (``to_canonical``). Every top-level field is translated, ignored because it cannot change the answer, or
refused with a 400 that names it (Anthropic itself rejects unknown fields, so an unknown one is refused too):

- ``system`` (a string, or text blocks) → a leading system message; ``messages``: text → text parts, images
  (base64 → ``data:`` URL, url → URL) → ``image_url`` parts, a PDF sent inline (``document`` with a base64 source)
  → a ``file`` part (``title`` → ``filename``), a plain-text document → a text part; ``tool_use`` → ``tool_calls``
  (``input`` → JSON string ``arguments``, id kept); each ``tool_result`` → one ``tool`` message, its text blocks
  joined by a newline; images in a tool result follow the tool messages as one user message (OpenAI tool messages
  carry only text); ``thinking`` / ``redacted_thinking`` blocks of assistant turns → ``thinking_blocks`` on the
  assistant message, verbatim and opaque (signatures intact). A string content stays a string; blocks become parts.
- ``max_tokens`` (required) → ``max_tokens``; ``stop_sequences`` → ``stop``; temperature, top_p;
  ``tools`` (custom tools only: ``name``, ``description``, ``input_schema``, ``strict``) → function tools;
  ``tool_choice`` auto/any/tool/none → auto/required/{function}/none and ``disable_parallel_tool_use`` →
  ``parallel_tool_calls: false``; ``metadata.user_id`` → ``user``; ``output_config.format`` (a JSON schema) →
  ``response_format: json_schema`` (strict), ``output_config.effort`` → ``reasoning_effort`` (same meaning);
  ``stream`` → ``stream: true`` with ``stream_options.include_usage`` (message_delta needs the usage).
- Extras with no OpenAI field, for an Anthropic upstream to restore (other adapters decide): ``top_k``,
  ``thinking`` (top level, verbatim; ``budget_tokens`` is not mapped to ``reasoning_effort``: no faithful scale),
  ``cache_control`` (top level; on the text, image and file parts and tools it came on; for a ``tool_use`` or a
  ``tool_result``, which have no part of their own, on the message: it marks the message's last block),
  ``is_error: true`` on the tool message of a failed ``tool_result``.
- Ignored (they do not change the answer): ``service_tier``, ``speed``, ``diagnostics``, ``user_profile_id``,
  ``workspace_id``, ``citations`` echoed back on text blocks, tools' ``eager_input_streaming``, the headers
  ``anthropic-version`` and ``anthropic-beta``.
- Refused (400): server tools (any tool ``type`` other than ``custom``), ``container``, ``inference_geo`` (a
  residency constraint the gateway cannot promise), ``mcp_servers``, ``context_management``, documents by URL or
  file id or of content blocks, documents with ``context`` or citations enabled, images by file id, blocks of server
  tools, search results, and any other field.

The answer goes back through ``anthropic_response`` (a ``message``) or ``anthropic_stream`` (events).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.api.anthropic_parts import (
    document_part,
    image_part,
    invalid,
    text_part,
    unsupported,
    with_cache_control,
)

_TRANSLATED = frozenset(
    {
        "model", "messages", "max_tokens", "system", "stop_sequences", "temperature", "top_p", "top_k", "tools",
        "tool_choice", "metadata", "thinking", "stream", "output_config", "cache_control",
    }
)  # fmt: skip
IGNORED = frozenset({"service_tier", "speed", "diagnostics", "user_profile_id", "workspace_id"})
_TOOL_KEYS = frozenset({"type", "name", "description", "input_schema", "cache_control", "strict"})
_TOOL_IGNORED = frozenset({"eager_input_streaming"})
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})


def to_canonical(body: Mapping[str, Any], *, counting: bool = False) -> dict[str, Any]:
    """The canonical (OpenAI chat completions) body for an Anthropic Messages body.

    ``counting``: the body of ``/v1/messages/count_tokens``, where ``max_tokens`` is not required.
    """
    for key in body:
        if key not in _TRANSLATED and key not in IGNORED:
            raise unsupported(f"the '{key}' parameter", key)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("Field required (a model name)", "model")
    out: dict[str, Any] = {"model": model}
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("Field required (a non-empty array of messages)", "messages")
    canonical: list[dict[str, Any]] = []
    system = body.get("system")
    if system is not None and system != "" and system != []:
        canonical.append(_system(system, "system"))
    for i, message in enumerate(messages):
        canonical.extend(_message(message, f"messages[{i}]"))
    out["messages"] = canonical
    _limits(body, out, counting)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise invalid("Input should be an array", "tools")
        if tools:
            out["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    _tool_choice(body.get("tool_choice"), bool(tools), out)
    metadata = body.get("metadata")
    if metadata is not None:
        if not isinstance(metadata, dict):
            raise invalid("Input should be an object", "metadata")
        if metadata.get("user_id"):
            out["user"] = metadata["user_id"]
    thinking = body.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, dict) or not isinstance(thinking.get("type"), str):
            raise invalid("Input should be an object with a 'type'", "thinking")
        out["thinking"] = thinking
    _output_config(body.get("output_config"), out)
    if body.get("cache_control") is not None:
        out["cache_control"] = body["cache_control"]
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise invalid("Input should be a valid boolean", "stream")
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _limits(body: Mapping[str, Any], out: dict[str, Any], counting: bool) -> None:
    """Length and sampling: ``max_tokens`` (required but when counting), stop sequences, temperature, top_p, top_k."""
    max_tokens = body.get("max_tokens")
    if max_tokens is None and not counting:
        raise invalid("Field required", "max_tokens")
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 0:
            raise invalid("Input should be a non-negative integer", "max_tokens")
        out["max_tokens"] = max_tokens
    _copy_number(body, out, "temperature", 0.0, 1.0)
    _copy_number(body, out, "top_p", 0.0, 1.0)
    top_k = body.get("top_k")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
            raise invalid("Input should be a non-negative integer", "top_k")
        out["top_k"] = top_k
    stops = body.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise invalid("Input should be an array of strings", "stop_sequences")
        if stops:
            out["stop"] = list(stops)


def _copy_number(body: Mapping[str, Any], out: dict[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise invalid(f"Input should be a number between {low:g} and {high:g}", key)
    out[key] = value


def _system(system: Any, where: str) -> dict[str, Any]:
    if isinstance(system, str):
        return {"role": "system", "content": system}
    if not isinstance(system, list):
        raise invalid("Input should be a string or an array of text blocks", where)
    parts = []
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid("Input should be a text block", f"{where}[{j}]")
        parts.append(with_cache_control(block, {"type": "text", "text": block["text"]}))
    return {"role": "system", "content": parts}


def _message(message: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(message, dict):
        raise invalid("Input should be an object", where)
    role = message.get("role")
    content = message.get("content")
    if role not in ("user", "assistant", "system"):
        raise invalid("Input should be 'user' or 'assistant'", f"{where}.role")
    if role == "system":
        return [_system(content, f"{where}.content")]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise invalid("Input should be a string or an array of content blocks", f"{where}.content")
    for j, block in enumerate(content):
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise invalid("Input should be a content block with a 'type'", f"{where}.content[{j}]")
    if role == "assistant":
        return [_assistant(content, where)]
    return _user(content, where)


def _user(blocks: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """Tool results become tool messages in their place; OpenAI wants them right after the assistant's tool calls,
    which is where Anthropic puts them too (first in the next user turn)."""
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    held_images: list[dict[str, Any]] = []  # images of the tool results just seen, sent after the last of them
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        if block["type"] == "tool_result":
            if parts:
                out.append({"role": "user", "content": parts})
                parts = []
            tool_message, images = _tool_result(block, at)
            out.append(tool_message)
            held_images.extend(images)
            continue
        if held_images:
            parts.extend(held_images)
            held_images = []
        parts.append(_user_part(block, at))
    parts = held_images + parts
    if parts:
        out.append({"role": "user", "content": parts})
    return out


def _user_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    kind = block["type"]
    if kind == "text":
        return text_part(block, where)
    if kind == "image":
        return image_part(block, where)
    if kind == "document":
        return document_part(block, where)
    if kind in ("tool_use", "thinking", "redacted_thinking"):
        raise invalid(f"'{kind}' blocks are only allowed in assistant messages", f"{where}.type")
    raise unsupported(f"'{kind}' content blocks", f"{where}.type")


def _tool_result(block: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise invalid("Field required (a string)", f"{where}.tool_use_id")
    content = block.get("content")
    cache_control = block.get("cache_control")
    images: list[dict[str, Any]] = []
    if content is None or isinstance(content, str):
        text: str = content or ""
    elif isinstance(content, list):
        texts = []
        for k, inner in enumerate(content):
            at = f"{where}.content[{k}]"
            kind = inner.get("type") if isinstance(inner, dict) else None
            if kind == "text":
                texts.append(text_part(inner, at)["text"])
                cache_control = inner.get("cache_control") or cache_control
            elif kind == "image":
                images.append(image_part(inner, at))
            else:
                raise unsupported(f"'{kind}' blocks in tool results", f"{at}.type")
        text = "\n".join(texts)
    else:
        raise invalid("Input should be a string or an array of content blocks", f"{where}.content")
    message: dict[str, Any] = {"role": "tool", "tool_call_id": tool_use_id, "content": text}
    if cache_control is not None:
        message["cache_control"] = cache_control
    if block.get("is_error"):
        message["is_error"] = True
    return message, images


def _assistant(blocks: list[dict[str, Any]], where: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    thinking: list[dict[str, Any]] = []
    cache_control = None
    for j, block in enumerate(blocks):
        at = f"{where}.content[{j}]"
        kind = block["type"]
        if kind == "text":
            parts.append(text_part(block, at))
        elif kind == "tool_use":
            calls.append(_tool_call(block, at))
            cache_control = block.get("cache_control") or cache_control
        elif kind in ("thinking", "redacted_thinking"):
            thinking.append(dict(block))
        elif kind in ("image", "document", "tool_result"):
            raise invalid(f"'{kind}' blocks are only allowed in user messages", f"{at}.type")
        else:
            raise unsupported(f"'{kind}' content blocks", f"{at}.type")
    message: dict[str, Any] = {"role": "assistant", "content": parts or None}
    if calls:
        message["tool_calls"] = calls
    if thinking:
        message["thinking_blocks"] = thinking
    if cache_control is not None:
        message["cache_control"] = cache_control
    return message


def _tool_call(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input")
    if not isinstance(call_id, str) or not isinstance(name, str):
        raise invalid("'id' and 'name' are required strings", where)
    if not isinstance(arguments, dict):
        raise invalid("Input should be an object", f"{where}.input")
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments).decode()},
    }


def _tool(tool: Any, where: str) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise invalid("Input should be an object", where)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise unsupported(f"the server tool '{kind}' (only custom tools can run behind a gateway)", f"{where}.type")
    for key, value in tool.items():
        if key not in _TOOL_KEYS and key not in _TOOL_IGNORED and not _asks_nothing(key, value):
            raise unsupported(f"the tool field '{key}'", f"{where}.{key}")
    name, schema = tool.get("name"), tool.get("input_schema")
    if not isinstance(name, str) or not name:
        raise invalid("Field required (a string)", f"{where}.name")
    if not isinstance(schema, dict):
        raise invalid("Field required (a JSON schema object)", f"{where}.input_schema")
    function: dict[str, Any] = {"name": name}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    function["parameters"] = schema
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return with_cache_control(tool, {"type": "function", "function": function})


def _asks_nothing(key: str, value: Any) -> bool:
    """Tool fields whose value is the default: accepted, as they change nothing."""
    if key == "allowed_callers":
        return value in (None, ["direct"])
    if key in ("defer_loading", "input_examples"):
        return not value
    return False


def _tool_choice(choice: Any, has_tools: bool, out: dict[str, Any]) -> None:
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind not in ("auto", "any", "tool", "none"):
        raise invalid("Input should be an object of type 'auto', 'any', 'tool' or 'none'", "tool_choice")
    if not has_tools:
        if kind in ("any", "tool"):
            raise invalid(f"tool_choice '{kind}' needs 'tools'", "tool_choice")
        return  # auto and none mean the same as no tool_choice when there are no tools
    if kind == "tool":
        name = choice.get("name")
        if not isinstance(name, str) or not name:
            raise invalid("Field required (a string)", "tool_choice.name")
        out["tool_choice"] = {"type": "function", "function": {"name": name}}
    else:
        out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    if choice.get("disable_parallel_tool_use") and kind != "none":
        out["parallel_tool_calls"] = False


def _output_config(config: Any, out: dict[str, Any]) -> None:
    if config is None:
        return
    if not isinstance(config, dict):
        raise invalid("Input should be an object", "output_config")
    for key in config:
        if key not in ("format", "effort"):
            raise unsupported(f"the output_config field '{key}'", f"output_config.{key}")
    fmt = config.get("format")
    if fmt is not None:
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or not isinstance(fmt.get("schema"), dict):
            raise invalid("Input should be {type: 'json_schema', schema: {...}}", "output_config.format")
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": fmt["schema"], "strict": True},
        }
    effort = config.get("effort")
    if effort is not None:
        if effort not in _EFFORTS:
            raise invalid(f"Input should be one of {', '.join(sorted(_EFFORTS))}", "output_config.effort")
        out["reasoning_effort"] = effort
