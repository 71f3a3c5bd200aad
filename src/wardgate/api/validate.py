"""Cheap structural checks of inbound OpenAI requests, so a malformed request gets a 400 naming the field instead of
an upstream error. Deliberately shallow: the provider remains the authority on semantics, and unknown fields pass."""

from __future__ import annotations

from typing import Any

from wardgate.core.errors import InvalidRequest

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _fail(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_value" if "must be" in message else None)


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequest("you must provide a model parameter", param="model", code="missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise _fail("'model' must be a non-empty string.", "model")
    return model


def _number(body: dict[str, Any], key: str, low: float, high: float) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _fail(f"'{key}' must be a number between {low:g} and {high:g}.", key)


def _integer(body: dict[str, Any], key: str, low: int, high: int | None = None) -> None:
    value = body.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise _fail(f"'{key}' must be an integer {bound}.", key)


def _stream(body: dict[str, Any]) -> bool:
    stream = body.get("stream")
    if stream is None:
        stream = False
    elif not isinstance(stream, bool):
        raise _fail("'stream' must be a boolean.", "stream")
    options = body.get("stream_options")
    if options is not None:
        if not stream:
            raise InvalidRequest(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
            )
        if not isinstance(options, dict):
            raise _fail("'stream_options' must be an object.", "stream_options")
    return bool(stream)


def chat(body: dict[str, Any]) -> tuple[str, bool]:
    model = _model(body)
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise _fail("'messages' must be a non-empty array.", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _fail(f"'messages[{i}]' must be an object.", f"messages[{i}]")
        role = message.get("role")
        if role not in _ROLES:
            raise _fail(
                f"'messages[{i}].role' must be one of {', '.join(sorted(_ROLES))} (got {role!r}).",
                f"messages[{i}].role",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise _fail(f"'messages[{i}].content' must be a string or an array of parts.", f"messages[{i}].content")
        if role == "tool" and not isinstance(message.get("tool_call_id"), str):
            raise InvalidRequest(
                f"Missing parameter 'tool_call_id': messages[{i}] with role 'tool' must answer a tool call.",
                param=f"messages[{i}].tool_call_id",
            )
    _number(body, "temperature", 0, 2)
    _number(body, "top_p", 0, 1)
    _number(body, "presence_penalty", -2, 2)
    _number(body, "frequency_penalty", -2, 2)
    _integer(body, "n", 1, 128)
    _integer(body, "max_tokens", 1)
    _integer(body, "max_completion_tokens", 1)
    _integer(body, "top_logprobs", 0, 20)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _fail("'tools' must be an array.", "tools")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
                raise _fail(f"'tools[{i}]' must be an object with a 'type'.", f"tools[{i}]")
            if tool["type"] == "function":
                fn = tool.get("function")
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise _fail(f"'tools[{i}].function.name' must be a string.", f"tools[{i}].function.name")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema")):
        raise _fail("'response_format.type' must be one of 'text', 'json_object', 'json_schema'.", "response_format")
    return model, _stream(body)


def completions(body: dict[str, Any]) -> tuple[str, bool]:
    model = _model(body)
    prompt = body.get("prompt")
    if prompt is None:
        raise InvalidRequest("Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter")
    if not isinstance(prompt, str | list):
        raise _fail("'prompt' must be a string or an array.", "prompt")
    _number(body, "temperature", 0, 2)
    _integer(body, "max_tokens", 0)
    _integer(body, "n", 1, 128)
    return model, _stream(body)


def embeddings(body: dict[str, Any]) -> str:
    model = _model(body)
    data = body.get("input")
    if data is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input", code="missing_required_parameter")
    if isinstance(data, str):
        if not data:
            raise _fail("'input' must be a non-empty string or array.", "input")
    elif not isinstance(data, list) or not data:
        raise _fail("'input' must be a non-empty string or array.", "input")
    elif (
        not all(isinstance(x, str) for x in data)
        and not all(isinstance(x, int) and not isinstance(x, bool) for x in data)
        and not all(isinstance(x, list) and x and all(isinstance(t, int) for t in x) for x in data)
    ):
        raise _fail("'input' must be a string, an array of strings, or an array of token arrays.", "input")
    if body.get("encoding_format", "float") not in ("float", "base64"):
        raise _fail("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
    _integer(body, "dimensions", 1)
    return model
