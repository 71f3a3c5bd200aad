"""OpenAI Chat Completions body → Anthropic Messages body: pure functions over dicts.

Every field of the canonical body is either translated, ignored because it cannot change the answer (``IGNORED``),
or refused with a 400 that names it: a request is never answered as if a field it sent had been honoured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import InvalidRequest, UnsupportedOperation

TYPE = "anthropic"

# OpenAI fields that do not change the answer and have no Anthropic meaning: accepted and not sent.
IGNORED = frozenset(
    {"store", "metadata", "prompt_cache_key", "prompt_cache_retention", "prompt_cache_options", "service_tier"}
)
_TRANSLATED = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "stream",
        "stream_options",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "user",
        "safety_identifier",
        "response_format",
        "reasoning_effort",
        "thinking",
        "cache_control",
        # accepted only at the value that asks for nothing (checked in _refuse_values)
        "n",
        "logprobs",
        "top_logprobs",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "modalities",
    }
)
_EFFORTS = frozenset({"low", "medium", "high", "xhigh", "max"})
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def unsupported(feature: str, param: str) -> UnsupportedOperation:
    return UnsupportedOperation(f"{TYPE} does not support {feature}", param=param)


def to_wire(body: Mapping[str, Any], model: str, *, default_max_tokens: int = 4096) -> dict[str, Any]:
    """The ``POST /v1/messages`` body for an OpenAI chat completions body."""
    for key in body:
        if key not in _TRANSLATED and key not in IGNORED:
            raise unsupported(f"the '{key}' parameter", key)
    _refuse_values(body)
    system, messages = _messages(body["messages"])
    wire: dict[str, Any] = {"model": model}
    limit = body.get("max_completion_tokens")
    wire["max_tokens"] = limit if limit is not None else body.get("max_tokens") or default_max_tokens
    if system is not None:
        wire["system"] = system
    wire["messages"] = messages
    tools = body.get("tools")
    if tools:
        wire["tools"] = [_tool(tool, i) for i, tool in enumerate(tools)]
    choice = _tool_choice(body, bool(tools))
    if choice is not None:
        wire["tool_choice"] = choice
    stop = body.get("stop")
    if stop:
        wire["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    for key in ("temperature", "top_p", "top_k", "thinking", "cache_control"):
        if body.get(key) is not None:
            wire[key] = body[key]
    user = body.get("user") or body.get("safety_identifier")
    if user:
        wire["metadata"] = {"user_id": user}
    output = _output_config(body)
    if output:
        wire["output_config"] = output
    if body.get("stream"):
        wire["stream"] = True
    return wire


def _refuse_values(body: Mapping[str, Any]) -> None:
    if body.get("n") not in (None, 1):
        raise unsupported("several choices (n > 1)", "n")
    if body.get("logprobs"):
        raise unsupported("logprobs", "logprobs")
    if body.get("top_logprobs"):
        raise unsupported("logprobs", "top_logprobs")
    for key in ("presence_penalty", "frequency_penalty"):
        if body.get(key) not in (None, 0):
            raise unsupported(key, key)
    if body.get("logit_bias"):
        raise unsupported("logit_bias", "logit_bias")
    if body.get("modalities") not in (None, ["text"]):
        raise unsupported("output modalities other than text", "modalities")


def _output_config(body: Mapping[str, Any]) -> dict[str, Any]:
    """``response_format: json_schema`` → structured outputs (``output_config.format``); ``reasoning_effort`` →
    ``output_config.effort``. JSON mode without a schema has no documented equivalent."""
    out: dict[str, Any] = {}
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        schema = (fmt or {}).get("json_schema") or {}
        if not isinstance(schema.get("schema"), dict):
            raise InvalidRequest("'response_format.json_schema.schema' must be an object.", param="response_format")
        out["format"] = {"type": "json_schema", "schema": schema["schema"]}
    elif kind == "json_object":
        raise unsupported(
            "response_format json_object (JSON mode without a schema); send a json_schema instead",
            "response_format",
        )
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in _EFFORTS:
            raise unsupported(f"reasoning_effort '{effort}' (use low, medium, high, xhigh or max)", "reasoning_effort")
        out["effort"] = effort
    return out


# --- messages -------------------------------------------------------------------------------------------------


def _messages(messages: list[dict[str, Any]]) -> tuple[str | list[dict[str, Any]] | None, list[dict[str, Any]]]:
    """System and developer messages become the top-level ``system`` (wherever they stood); the others become
    alternating turns, consecutive messages of one role (tool results count as user) merged into one turn."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        for key in ("function_call", "audio"):
            if message.get(key) is not None:
                raise unsupported(f"'{key}' in messages", f"{where}.{key}")
        if role in ("system", "developer"):
            system.extend(_with_message_cache_control(message, _text_blocks(message.get("content"), where)))
            continue
        if role == "user":
            wire_role, blocks = "user", _user_blocks(message.get("content"), where)
        elif role == "assistant":
            wire_role, blocks = "assistant", _assistant_blocks(message, where)
        elif role == "tool":
            wire_role, blocks = "user", [_tool_result(message, where)]
        else:
            raise unsupported(f"messages with role '{role}' (use tools and tool messages)", f"{where}.role")
        blocks = _with_message_cache_control(message, blocks)
        if turns and turns[-1]["role"] == wire_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": wire_role, "content": blocks})
    for turn in turns:
        content = turn["content"]
        if len(content) == 1 and content[0].keys() == {"type", "text"}:
            turn["content"] = content[0]["text"]
    if not system:
        return None, turns
    if any("cache_control" in block for block in system):
        return system, turns
    return "\n\n".join(block["text"] for block in system), turns


def _with_message_cache_control(message: Mapping[str, Any], blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A ``cache_control`` on the message itself marks its last block, the breakpoint Anthropic caches up to."""
    control = message.get("cache_control")
    if control is not None and blocks:
        blocks[-1] = {**blocks[-1], "cache_control": control}
    return blocks


def _text_block(part: Mapping[str, Any], text: str) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _text_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for j, part in enumerate(content or []):
        if part.get("type") != "text":
            raise unsupported(f"'{part.get('type')}' parts in system messages", f"{where}.content[{j}]")
        blocks.append(_text_block(part, part["text"]))
    return blocks


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks = []
    for j, part in enumerate(content or []):
        kind = part.get("type")
        if kind == "text":
            blocks.append(_text_block(part, part["text"]))
        elif kind == "image_url":
            blocks.append(_image(part, f"{where}.content[{j}]"))
        elif kind == "file":
            blocks.append(_document(part, f"{where}.content[{j}]"))
        else:
            raise unsupported(f"'{kind}' content parts", f"{where}.content[{j}]")
    return blocks


def _data_url(url: str, param: str) -> tuple[str, str]:
    """(media type, base64 data) of a ``data:<type>;base64,<data>`` URL."""
    header, comma, data = url[5:].partition(",")
    params = header.split(";")
    if not comma or params[-1] != "base64":
        raise unsupported("data: URLs that are not base64-encoded", param)
    return params[0], data


def _image(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    param = f"{where}.image_url"
    if not isinstance(url, str):
        raise InvalidRequest(f"'{param}.url' must be a string.", param=param)
    if url.startswith("data:"):
        media_type, data = _data_url(url, param)
        source = {"type": "base64", "media_type": media_type, "data": data}
    elif url.startswith(("https://", "http://")):
        source = {"type": "url", "url": url}
    else:
        raise InvalidRequest(f"'{param}.url' must be an http(s) URL or a data: URL.", param=param)
    block: dict[str, Any] = {"type": "image", "source": source}
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _document(part: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A PDF sent inline (``file.file_data`` as a data: URL) → a document block; uploaded OpenAI file ids mean
    nothing to Anthropic."""
    file = part.get("file") or {}
    data_url = file.get("file_data")
    if not isinstance(data_url, str) or not data_url.startswith("data:"):
        raise unsupported("file parts other than inline PDF data (file_data as a data: URL)", f"{where}.file")
    media_type, data = _data_url(data_url, f"{where}.file.file_data")
    if media_type != "application/pdf":
        raise unsupported(f"file parts of type '{media_type}' (only application/pdf)", f"{where}.file.file_data")
    block: dict[str, Any] = {
        "type": "document",
        "source": {"type": "base64", "media_type": media_type, "data": data},
    }
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """Thinking blocks first (``thinking_blocks``, as this adapter returned them, signatures intact), then text,
    then tool calls: the order Anthropic produced them in and requires them back in."""
    blocks: list[dict[str, Any]] = []
    for j, block in enumerate(message.get("thinking_blocks") or []):
        if not isinstance(block, dict) or block.get("type") not in ("thinking", "redacted_thinking"):
            raise InvalidRequest(
                f"'{where}.thinking_blocks[{j}]' must be a thinking or redacted_thinking block as returned.",
                param=f"{where}.thinking_blocks[{j}]",
            )
        blocks.append(dict(block))
    content = message.get("content")
    if isinstance(content, str):
        if content:
            blocks.append({"type": "text", "text": content})
    else:
        for j, part in enumerate(content or []):
            kind = part.get("type")
            text = part.get("text") if kind == "text" else part.get("refusal") if kind == "refusal" else None
            if text is None:
                raise unsupported(f"'{kind}' parts in assistant messages", f"{where}.content[{j}]")
            if text:
                blocks.append(_text_block(part, text))
    if message.get("refusal"):
        blocks.append({"type": "text", "text": message["refusal"]})
    for j, call in enumerate(message.get("tool_calls") or []):
        blocks.append(_tool_use(call, f"{where}.tool_calls[{j}]"))
    return blocks


def _tool_use(call: Mapping[str, Any], where: str) -> dict[str, Any]:
    if call.get("type", "function") != "function":
        raise unsupported(f"tool calls of type '{call.get('type')}'", f"{where}.type")
    fn = call.get("function") or {}
    arguments = fn.get("arguments") or ""
    try:
        value = orjson.loads(arguments) if arguments.strip() else {}
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InvalidRequest(
            f"'{where}.function.arguments' must be a JSON object.", param=f"{where}.function.arguments"
        )
    return {"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": value}


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    content = message.get("content")
    result: str | list[dict[str, Any]]
    if isinstance(content, str) or content is None:
        result = content or ""
    else:
        result = []
        for j, part in enumerate(content):
            kind = part.get("type")
            if kind == "text":
                result.append(_text_block(part, part["text"]))
            elif kind == "image_url":
                result.append(_image(part, f"{where}.content[{j}]"))
            else:
                raise unsupported(f"'{kind}' parts in tool messages", f"{where}.content[{j}]")
    return {"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": result}


# --- tools ----------------------------------------------------------------------------------------------------


def _tool(tool: Mapping[str, Any], i: int) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise unsupported(f"tools of type '{tool.get('type')}'", f"tools[{i}].type")
    fn = tool["function"]
    out: dict[str, Any] = {"name": fn["name"]}
    if fn.get("description"):
        out["description"] = fn["description"]
    out["input_schema"] = fn.get("parameters") or _EMPTY_SCHEMA
    if isinstance(fn.get("strict"), bool):
        out["strict"] = fn["strict"]
    if tool.get("cache_control") is not None:
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(body: Mapping[str, Any], has_tools: bool) -> dict[str, Any] | None:
    choice = body.get("tool_choice")
    if not has_tools:
        if choice not in (None, "none", "auto"):
            raise InvalidRequest("'tool_choice' is only allowed when 'tools' are specified.", param="tool_choice")
        return None
    wire: dict[str, Any] | None
    if choice is None:
        wire = None
    elif choice in ("auto", "none"):
        wire = {"type": choice}
    elif choice == "required":
        wire = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        wire = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    else:
        kind = choice.get("type") if isinstance(choice, dict) else choice
        raise unsupported(f"tool_choice '{kind}'", "tool_choice")
    if body.get("parallel_tool_calls") is False and (wire is None or wire["type"] != "none"):
        wire = {**(wire or {"type": "auto"}), "disable_parallel_tool_use": True}
    return wire
