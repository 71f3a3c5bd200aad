"""OpenAI chat messages → Converse ``system`` blocks and ``messages`` (the rules are in translate.py's docstring)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import InvalidRequest, UnsupportedOperation

PROVIDER = "bedrock"
_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def unsupported(feature: str, param: str) -> UnsupportedOperation:
    return UnsupportedOperation(f"{PROVIDER} does not support {feature}", param=param)


def convert_messages(raw: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for i, message in enumerate(raw):
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_system_blocks(message.get("content"), where))
            continue
        if role == "user":
            wire_role, blocks = "user", _user_blocks(message.get("content"), where)
        elif role == "assistant":
            wire_role, blocks = "assistant", _assistant_blocks(message, where)
        elif role == "tool":
            wire_role, blocks = "user", [_tool_result(message, where)]
        else:
            raise unsupported(f"messages with role '{role}' (use tool_calls and role 'tool')", f"{where}.role")
        if messages and messages[-1]["role"] == wire_role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": wire_role, "content": blocks})
    return system, messages


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if content is None:
        return []
    if not isinstance(content, list):
        raise InvalidRequest(f"'{where}.content' must be a string or an array of parts.", param=f"{where}.content")
    for j, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise InvalidRequest(
                f"'{where}.content[{j}]' must be an object with a 'type'.", param=f"{where}.content[{j}]"
            )
    return content


def cache_point(part: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    control = part.get("cache_control")
    if control is None:
        return None
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise unsupported('cache_control other than {"type": "ephemeral"}', f"{where}.cache_control")
    point: dict[str, Any] = {"type": "default"}
    ttl = control.get("ttl")
    if ttl is not None:
        if ttl not in ("5m", "1h"):
            raise unsupported(f"cache_control ttl {ttl!r} (use '5m' or '1h')", f"{where}.cache_control.ttl")
        point["ttl"] = ttl
    return {"cachePoint": point}


def _text(part: Mapping[str, Any], where: str) -> str:
    text = part.get("text")
    if not isinstance(text, str):
        raise InvalidRequest(f"'{where}.text' must be a string.", param=f"{where}.text")
    return text


def _system_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(content, where)):
        at = f"{where}.content[{j}]" if isinstance(content, list) else f"{where}.content"
        if part["type"] != "text":
            raise unsupported(f"'{part['type']}' parts in system messages", at)
        blocks.append({"text": _text(part, at)})
        if (point := cache_point(part, at)) is not None:
            blocks.append(point)
    return blocks


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(content, where)):
        at = f"{where}.content[{j}]" if isinstance(content, list) else f"{where}.content"
        kind = part["type"]
        if kind == "text":
            blocks.append({"text": _text(part, at)})
        elif kind == "image_url":
            blocks.append(_image(part.get("image_url"), at))
        else:
            raise unsupported(f"'{kind}' content parts", at)
        if (point := cache_point(part, at)) is not None:
            blocks.append(point)
    return blocks


def _image(image_url: Any, where: str) -> dict[str, Any]:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise InvalidRequest(f"'{where}.image_url.url' must be a string.", param=f"{where}.image_url.url")
    if url.startswith(("http://", "https://")):
        raise unsupported(
            "image URLs (Converse takes the image bytes: send a data:image/...;base64 URL)", f"{where}.image_url.url"
        )
    head, comma, data = url.partition(",")
    if not url.startswith("data:") or not comma or not head.endswith(";base64"):
        raise InvalidRequest(
            f"'{where}.image_url.url' must be a base64 data URL (data:image/png;base64,...).",
            param=f"{where}.image_url.url",
        )
    media_type = head[5:-7].lower()
    fmt = _IMAGE_FORMATS.get(media_type)
    if fmt is None:
        raise unsupported(f"images of type {media_type!r} (png, jpeg, gif and webp are)", f"{where}.image_url.url")
    return {"image": {"format": fmt, "source": {"bytes": data}}}


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    content = message.get("content")
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(content, where)):
        at = f"{where}.content[{j}]" if isinstance(content, list) else f"{where}.content"
        kind = part["type"]
        if kind == "text":
            text = _text(part, at)
        elif kind == "refusal":
            text = part.get("refusal") or ""
        else:
            raise unsupported(f"'{kind}' parts in assistant messages", at)
        if text:  # an empty text block is a Converse validation error; "" beside tool_calls is routine
            blocks.append({"text": text})
        if (point := cache_point(part, at)) is not None:
            blocks.append(point)
    if message.get("function_call") is not None:
        raise unsupported("the legacy 'function_call' (use tool_calls)", f"{where}.function_call")
    for k, call in enumerate(message.get("tool_calls") or []):
        blocks.append(_tool_use(call, f"{where}.tool_calls[{k}]"))
    return blocks


def _tool_use(call: Any, where: str) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(call, dict) or call.get("type", "function") != "function" or not isinstance(fn, dict):
        raise unsupported("tool calls other than functions", where)
    if not isinstance(call.get("id"), str) or not isinstance(fn.get("name"), str):
        raise InvalidRequest(f"'{where}' needs an 'id' and a 'function.name'.", param=where)
    arguments = fn.get("arguments") or "{}"
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str) else None
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequest(
            f"'{where}.function.arguments' must be a JSON object in a string (Converse takes the input as an object).",
            param=f"{where}.function.arguments",
        )
    return {"toolUse": {"toolUseId": call["id"], "name": fn["name"], "input": parsed}}


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    content = message.get("content")
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(content, where)):
        at = f"{where}.content[{j}]" if isinstance(content, list) else f"{where}.content"
        if part["type"] != "text":
            raise unsupported(f"'{part['type']}' parts in tool messages", at)
        text = _text(part, at)
        if text:  # Converse rejects empty text blocks; an empty result is an empty content list
            blocks.append({"text": text})
    return {"toolResult": {"toolUseId": message["tool_call_id"], "content": blocks}}
