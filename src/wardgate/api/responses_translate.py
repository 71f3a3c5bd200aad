"""The OpenAI Responses API request → the canonical chat body: pure functions over dicts, no I/O.

Every provider is reached through chat completions, so the request is translated once here and every stage
(limits, cache, routing, accounting) and every adapter sees the body it already knows. Every top-level field is
translated, kept for the answer only (it does not reach the provider), or refused with a 400 that names it:

- ``instructions`` → a leading ``system`` message (not carried over by ``previous_response_id``, as OpenAI does);
  ``input``: a string → one user message; items: messages (``input_text`` → text part, ``input_image`` →
  ``image_url`` part, ``input_file`` → ``file`` part, an assistant's ``output_text``/``refusal`` → its text),
  ``developer`` → ``system``; ``function_call`` items → one assistant message with ``tool_calls`` (consecutive calls
  merged); ``function_call_output`` → a ``tool`` message; ``reasoning`` items are dropped (chat has no place for
  them).
- ``max_output_tokens`` → ``max_completion_tokens``; ``temperature``, ``top_p``, ``parallel_tool_calls``, ``user``
  (and ``safety_identifier``, which replaces it), ``top_logprobs`` (with ``logprobs: true``), ``prompt_cache_key``,
  ``service_tier``; ``tools`` (function tools only) → chat function tools; ``tool_choice``; ``text.format``
  (``json_object``, ``json_schema``) → ``response_format``; ``reasoning.effort`` → ``reasoning_effort``;
  ``stream`` → ``stream`` with ``stream_options.include_usage`` (the final event carries the usage).
- Kept for the answer only: ``metadata``, ``store``, ``truncation``, ``include``, ``previous_response_id``,
  ``text.verbosity``, ``reasoning.summary``, ``stream_options``.
- Refused (400): hosted tools (web and file search, computer use, code interpreter, MCP, image generation, …),
  ``background: true``, ``conversation``, ``prompt`` (stored prompts), ``item_reference`` items and any other field.
"""

from __future__ import annotations

import os
from typing import Any

from wardgate.core.errors import InvalidRequest

_KNOWN = frozenset(
    {
        "model", "input", "instructions", "max_output_tokens", "temperature", "top_p", "parallel_tool_calls",
        "user", "safety_identifier", "top_logprobs", "prompt_cache_key", "service_tier", "tools", "tool_choice",
        "text", "reasoning", "stream", "stream_options", "metadata", "store", "truncation", "include",
        "previous_response_id", "background", "max_tool_calls",
    }
)  # fmt: skip
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
MAX_METADATA = 16  # OpenAI's limits on ``metadata``: 16 pairs, 64-character keys, 512-character values


def invalid(message: str, param: str | None) -> InvalidRequest:
    return InvalidRequest(message, param=param)


def new_id(prefix: str) -> str:
    """An id in OpenAI's style: ``resp_``, ``msg_``, ``fc_`` and 48 random hex characters."""
    return prefix + os.urandom(24).hex()


def check_request(body: dict[str, Any]) -> str:
    """The model, after checking every field this surface reads; a 400 naming the first bad one."""
    for key in body:
        if key not in _KNOWN:
            raise invalid(f"Unsupported parameter: '{key}'.", key)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("Missing required parameter: 'model'.", "model")
    if body.get("background"):
        raise invalid("Background responses are not supported by this gateway.", "background")
    source = body.get("input")
    if source is None:
        raise invalid("Missing required parameter: 'input'.", "input")
    if not isinstance(source, str | list):
        raise invalid("Invalid type for 'input': expected a string or an array of input items.", "input")
    for name, kind in (("stream", bool), ("store", bool), ("parallel_tool_calls", bool)):
        if body.get(name) is not None and not isinstance(body[name], kind):
            raise invalid(f"Invalid type for '{name}': expected a boolean.", name)
    for name in ("previous_response_id", "instructions", "user", "safety_identifier", "prompt_cache_key"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise invalid(f"Invalid type for '{name}': expected a string.", name)
    if body.get("truncation") not in (None, "auto", "disabled"):
        raise invalid("Invalid 'truncation': expected 'auto' or 'disabled'.", "truncation")
    if body.get("service_tier") is not None and not isinstance(body["service_tier"], str):
        raise invalid("Invalid type for 'service_tier': expected a string.", "service_tier")
    for name in ("top_logprobs", "max_tool_calls"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31):
            raise invalid(f"Invalid '{name}': expected a non-negative integer.", name)
    for name in ("reasoning", "text"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            raise invalid(f"Invalid type for '{name}': expected an object.", name)
    tokens = body.get("max_output_tokens")
    if tokens is not None and (isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 16):
        raise invalid("Invalid 'max_output_tokens': expected an integer of at least 16.", "max_output_tokens")
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise invalid(f"Invalid type for '{name}': expected a number.", name)
    _check_metadata(body.get("metadata"))
    return model


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or len(metadata) > MAX_METADATA:
        raise invalid("Invalid 'metadata': expected an object of at most 16 string pairs.", "metadata")
    for key, value in metadata.items():
        if len(key) > 64 or not isinstance(value, str) or len(value) > 512:
            raise invalid("Invalid 'metadata': keys are at most 64 characters, values strings of 512.", "metadata")


def input_items(source: str | list[Any]) -> list[dict[str, Any]]:
    """The request's input as stored items (``input_items``): each with an ``id`` and a ``type``."""
    if isinstance(source, str):
        return [_message_item("user", [{"type": "input_text", "text": source}])]
    items = []
    for n, item in enumerate(source):
        if not isinstance(item, dict):
            raise invalid("Invalid input item: expected an object.", f"input[{n}]")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if not isinstance(role, str) or role not in _ROLES:
                raise invalid(f"Invalid value for 'role': {role!r}.", f"input[{n}].role")
            content = item.get("content")
            if isinstance(content, str):
                content = [{"type": "output_text" if role == "assistant" else "input_text", "text": content}]
            if not isinstance(content, list):
                raise invalid("Invalid 'content': expected a string or an array.", f"input[{n}].content")
            stored = _message_item(role, content, item.get("id"))
            if role == "assistant":
                stored["status"] = "completed"
            items.append(stored)
        elif kind in ("function_call", "function_call_output"):
            items.append({**item, "id": _item_id(item.get("id"), "fc_" if kind == "function_call" else "fco_")})
        elif kind == "reasoning":
            items.append(item)
        else:
            raise invalid(f"Input items of type {kind!r} are not supported by this gateway.", f"input[{n}].type")
    return items


def _message_item(role: str, content: list[Any], item_id: Any = None) -> dict[str, Any]:
    return {"type": "message", "id": _item_id(item_id, "msg_"), "role": role, "content": content}


def _item_id(value: Any, prefix: str) -> str:
    return value if isinstance(value, str) and 0 < len(value) <= 128 else new_id(prefix)


def to_messages(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored input items → chat messages."""
    messages: list[dict[str, Any]] = []
    for n, item in enumerate(items):
        kind = item["type"]
        if kind == "message":
            role = _ROLES[item["role"]]
            messages.append({"role": role, "content": _content(item["content"], role, n)})
        elif kind == "function_call":
            call = _tool_call(item, n)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and last.get("tool_calls") and not last["content"]:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str) or not call_id:
                raise invalid("Missing required parameter: 'call_id'.", f"input[{n}].call_id")
            if isinstance(output, list):
                output = "".join(p.get("text", "") for p in output if isinstance(p, dict))
            if not isinstance(output, str):
                raise invalid("Invalid 'output': expected a string.", f"input[{n}].output")
            messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
    return messages


def _tool_call(item: dict[str, Any], n: int) -> dict[str, Any]:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    for field, value in (("call_id", call_id), ("name", name), ("arguments", arguments)):
        if not isinstance(value, str) or (field != "arguments" and not value):
            raise invalid(f"Missing required parameter: '{field}'.", f"input[{n}].{field}")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _content(parts: list[Any], role: str, n: int) -> str | list[dict[str, Any]]:
    if role == "assistant" or role == "system":  # chat takes only text from these roles
        texts = []
        for part in parts:
            if not isinstance(part, dict) or part.get("type") not in ("output_text", "input_text", "refusal"):
                raise invalid("Assistant and system messages carry only text.", f"input[{n}].content")
            text = part.get("text") if part["type"] != "refusal" else part.get("refusal")
            if not isinstance(text, str):
                raise invalid("Invalid 'text': expected a string.", f"input[{n}].content")
            texts.append(text)
        return "".join(texts)
    out: list[dict[str, Any]] = []
    for m, part in enumerate(parts):
        out.append(_user_part(part, f"input[{n}].content[{m}]"))
    return out


def _user_part(part: Any, param: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "input_text" and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise invalid("Images by file id are not supported by this gateway; send image_url.", param)
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        file: dict[str, Any] = {
            k: part[k] for k in ("file_data", "file_id", "filename") if isinstance(part.get(k), str)
        }
        if "file_data" not in file and "file_id" not in file:
            raise invalid("An input_file needs file_data or file_id.", param)
        return {"type": "file", "file": file}
    raise invalid(f"Invalid content part of type {kind!r}.", param)


def to_chat(body: dict[str, Any], conversation: list[dict[str, Any]]) -> dict[str, Any]:
    """The canonical chat body: the instructions, then ``conversation`` (the chat messages of
    ``previous_response_id``'s conversation and this request's input)."""
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    messages.extend(conversation)
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_completion_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "parallel_tool_calls", "prompt_cache_key", "service_tier"):
        if body.get(name) is not None:
            chat[name] = body[name]
    user = body.get("safety_identifier") or body.get("user")
    if user:
        chat["user"] = user
    if isinstance(body.get("top_logprobs"), int) and body["top_logprobs"] > 0:
        chat["logprobs"], chat["top_logprobs"] = True, body["top_logprobs"]
    tools = body.get("tools")
    if tools:
        chat["tools"] = _tools(tools)
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    _text_format(body.get("text"), chat)
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        chat["reasoning_effort"] = reasoning["effort"]
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise invalid("Invalid 'tools': expected an array.", "tools")
    out = []
    for n, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise invalid(f"Tools of type {kind!r} are not supported by this gateway.", f"tools[{n}].type")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise invalid("Missing required parameter: 'name'.", f"tools[{n}].name")
        function: dict[str, Any] = {"name": name}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise invalid("Invalid 'tool_choice': only auto, none, required and function choices are supported.", "tool_choice")


def _text_format(text: Any, chat: dict[str, Any]) -> None:
    if text is None:
        return
    if not isinstance(text, dict):
        raise invalid("Invalid 'text': expected an object.", "text")
    fmt = text.get("format")
    if fmt is None or (isinstance(fmt, dict) and fmt.get("type") == "text"):
        return
    if not isinstance(fmt, dict):
        raise invalid("Invalid 'text.format': expected an object.", "text.format")
    if fmt.get("type") == "json_object":
        chat["response_format"] = {"type": "json_object"}
    elif fmt.get("type") == "json_schema":
        if not isinstance(fmt.get("name"), str) or not isinstance(fmt.get("schema"), dict):
            raise invalid("A json_schema format needs a name and a schema.", "text.format")
        schema = {k: fmt[k] for k in ("name", "schema", "description", "strict") if fmt.get(k) is not None}
        chat["response_format"] = {"type": "json_schema", "json_schema": schema}
    else:
        raise invalid(f"Invalid 'text.format.type': {fmt.get('type')!r}.", "text.format.type")
