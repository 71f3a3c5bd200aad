"""Structural checks of inbound OpenAI requests: the types of the fields the gateway or an adapter reads.

The provider is the authority on values (docs/providers.md): ``max_tokens: 0``, a temperature of 5 or
``stream_options`` without ``stream`` reach it unchanged, and it answers as it would directly. What is checked here
is what the gateway itself relies on: a field it reads has the JSON type it reads it as (a wrong one is a 400 naming
the field, never a 500 in a stage or a translation), integers it does arithmetic with are bounded, and tool-call
arguments that adapters parse from strings are not nested deeper than the body may be. Unknown fields pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from wardgate.api.body import MAX_DEPTH, too_deep
from wardgate.core.errors import InvalidRequest

# integers the limits stage multiplies into a budget hold stay far below 64-bit overflow: OpenAI's own are int32
_MAX_INT = 2**31 - 1
_MAX_N = 128

Check = Callable[[Any, str], None]


def _fail(param: str, expected: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid type for '{param}': expected {expected}.", param=param, code="invalid_type")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def string(value: Any, param: str) -> None:
    if not isinstance(value, str):
        raise _fail(param, "a string")


def boolean(value: Any, param: str) -> None:
    if not isinstance(value, bool):
        raise _fail(param, "a boolean")


def number(value: Any, param: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(param, "a number")


def obj(value: Any, param: str) -> None:
    if not isinstance(value, dict):
        raise _fail(param, "an object")


def array(value: Any, param: str) -> None:
    if not isinstance(value, list):
        raise _fail(param, "an array")


def integer(value: Any, param: str) -> None:
    if not _is_int(value):
        raise _fail(param, "an integer")


def count(value: Any, param: str) -> None:
    """An integer the gateway multiplies into a budget hold: not negative, and bounded."""
    integer(value, param)
    if not 0 <= value <= _MAX_INT:
        raise InvalidRequest(f"'{param}' must be between 0 and {_MAX_INT}.", param=param, code="invalid_value")


def choices(value: Any, param: str) -> None:
    """How many answers the hold multiplies by: at most OpenAI's own limit, so the product stays bounded."""
    integer(value, param)
    if not 0 <= value <= _MAX_N:
        raise InvalidRequest(f"'{param}' must be between 0 and {_MAX_N}.", param=param, code="invalid_value")


def stop(value: Any, param: str) -> None:
    if isinstance(value, str):
        return
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _fail(param, "a string or an array of strings")


def string_or_object(value: Any, param: str) -> None:
    if not isinstance(value, str | dict):
        raise _fail(param, "a string or an object")


def _fields(body: Mapping[str, Any], checks: Mapping[str, Check], where: str = "") -> None:
    """Check the fields of ``body`` that have a rule; null means absent, as in OpenAI's API."""
    for key, check in checks.items():
        value = body.get(key)
        if value is not None:
            check(value, where + key)


def _required(body: Mapping[str, Any], key: str, where: str = "") -> Any:
    value = body.get(key)
    if value is None:
        param = where + key
        raise InvalidRequest(f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    return value


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if model is None:
        raise InvalidRequest("you must provide a model parameter", param="model", code="missing_required_parameter")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' must be a non-empty string.", param="model", code="invalid_type")
    return model


def _stream(body: dict[str, Any]) -> bool:
    _fields(body, _STREAM)
    return body.get("stream") is True


_STREAM: dict[str, Check] = {"stream": boolean, "stream_options": obj}
_SAMPLING: dict[str, Check] = {
    "temperature": number, "top_p": number, "presence_penalty": number, "frequency_penalty": number,
    "seed": integer, "user": string, "logit_bias": obj, "metadata": obj, "stop": stop, "service_tier": string,
}  # fmt: skip
_CHAT: dict[str, Check] = {
    **_SAMPLING,
    "n": choices, "max_tokens": count, "max_completion_tokens": count, "logprobs": boolean, "top_logprobs": integer,
    "tools": array, "tool_choice": string_or_object, "parallel_tool_calls": boolean, "response_format": obj,
    "reasoning_effort": string, "modalities": array, "audio": obj, "prediction": obj, "store": boolean,
    "web_search_options": obj, "functions": array, "function_call": string_or_object,
}  # fmt: skip
_MESSAGE: dict[str, Check] = {
    "name": string, "tool_call_id": string, "tool_calls": array, "function_call": obj, "refusal": string,
    "thinking_blocks": array, "audio": obj,
}  # fmt: skip
_PART_FIELDS: dict[str, tuple[str, Check]] = {
    "text": ("text", string), "image_url": ("image_url", obj), "input_audio": ("input_audio", obj),
    "file": ("file", obj), "refusal": ("refusal", string),
}  # fmt: skip


def chat(body: dict[str, Any]) -> tuple[str, bool]:
    prompted = "wardgate_prompt" in body
    model = "" if prompted and body.get("model") is None else _model(body)  # the prompt's version names one
    if prompted or model.startswith("prompt:"):  # a managed prompt supplies the first messages
        messages = body.get("messages") or []
        if not isinstance(messages, list):
            raise InvalidRequest("'messages' must be an array.", param="messages", code="invalid_type")
    else:
        messages = _required(body, "messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("'messages' must be a non-empty array.", param="messages", code="invalid_type")
    for i, message in enumerate(messages):
        _message(message, f"messages[{i}]")
    _fields(body, _CHAT)
    for i, tool in enumerate(body.get("tools") or ()):
        _tool(tool, f"tools[{i}]")
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        _named(choice, "tool_choice")
    fmt = body.get("response_format")
    if fmt is not None:
        string(_required(fmt, "type", "response_format."), "response_format.type")
        schema = fmt.get("json_schema")
        if schema is not None:
            obj(schema, "response_format.json_schema")
            _fields(schema, {"name": string, "schema": obj, "strict": boolean}, "response_format.json_schema.")
    return model, _stream(body)


def _message(message: Any, where: str) -> None:
    obj(message, where)
    role = _required(message, "role", where + ".")
    string(role, where + ".role")
    content = message.get("content")
    if isinstance(content, list):
        for k, part in enumerate(content):
            _part(part, f"{where}.content[{k}]")
    elif content is not None and not isinstance(content, str):
        raise _fail(where + ".content", "a string or an array of content parts")
    _fields(message, _MESSAGE, where + ".")
    if role == "tool" and message.get("tool_call_id") is None:
        raise InvalidRequest(
            f"Missing parameter 'tool_call_id': {where} with role 'tool' must answer a tool call.",
            param=f"{where}.tool_call_id",
            code="missing_required_parameter",
        )
    if role == "tool" and isinstance(content, str):
        _nested_json(content, where + ".content")  # some adapters parse a tool's answer as JSON
    for k, tool_call in enumerate(message.get("tool_calls") or ()):
        at = f"{where}.tool_calls[{k}]"
        obj(tool_call, at)
        _fields(tool_call, {"id": string, "type": string, "function": obj}, at + ".")
        function = tool_call.get("function")
        if function is not None:
            _fields(function, {"name": string, "arguments": string}, at + ".function.")
            if isinstance(function.get("arguments"), str):
                _nested_json(function["arguments"], at + ".function.arguments")
    for k, block in enumerate(message.get("thinking_blocks") or ()):
        obj(block, f"{where}.thinking_blocks[{k}]")


def _part(part: Any, where: str) -> None:
    obj(part, where)
    kind = _required(part, "type", where + ".")
    string(kind, where + ".type")
    field = _PART_FIELDS.get(kind)
    if field is not None:
        key, check = field
        check(_required(part, key, where + "."), f"{where}.{key}")
    if kind == "image_url":
        _fields(part["image_url"], {"url": string, "detail": string}, where + ".image_url.")
    elif kind == "file":
        _fields(part["file"], {"file_data": string, "file_id": string, "filename": string}, where + ".file.")
    elif kind == "input_audio":
        _fields(part["input_audio"], {"data": string, "format": string}, where + ".input_audio.")


def _tool(tool: Any, where: str) -> None:
    obj(tool, where)
    string(_required(tool, "type", where + "."), where + ".type")
    function = tool.get("function")
    if tool["type"] == "function" or function is not None:
        obj(_required(tool, "function", where + "."), where + ".function")
        string(_required(function, "name", where + ".function."), where + ".function.name")
        _fields(function, {"description": string, "parameters": obj, "strict": boolean}, where + ".function.")


def _named(choice: dict[str, Any], where: str) -> None:
    _fields(choice, {"type": string, "function": obj}, where + ".")
    function = choice.get("function")
    if function is not None:
        string(_required(function, "name", where + ".function."), where + ".function.name")


def _nested_json(text: str, param: str) -> None:
    """Adapters parse tool-call arguments (and some a tool's answer) from their string: the same depth limit holds."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return
    if too_deep(value, text):
        raise InvalidRequest(
            f"'{param}' is nested more than {MAX_DEPTH} levels deep.", param=param, code="invalid_value"
        )


_COMPLETIONS: dict[str, Check] = {
    **_SAMPLING,
    "n": choices, "best_of": count, "max_tokens": count, "echo": boolean, "logprobs": integer, "suffix": string,
}  # fmt: skip


def completions(body: dict[str, Any]) -> tuple[str, bool]:
    model = _model(body)
    prompt = _required(body, "prompt")
    if not isinstance(prompt, str) and not _is_prompt_array(prompt):
        raise _fail("prompt", "a string, an array of strings, an array of tokens or an array of token arrays")
    _fields(body, _COMPLETIONS)
    return model, _stream(body)


def embeddings(body: dict[str, Any]) -> str:
    model = _model(body)
    data = _required(body, "input")
    if not isinstance(data, str) and not _is_prompt_array(data):
        raise _fail("input", "a string, an array of strings, an array of tokens or an array of token arrays")
    _fields(body, {"encoding_format": string, "dimensions": count, "user": string})
    return model


DEFAULT_MODERATION_MODEL = "omni-moderation-latest"  # OpenAI's default when a request names no model


def moderations(body: dict[str, Any]) -> str:
    """The model (OpenAI's default when none is named): ``input`` is a string, strings, or text and image parts."""
    model = body.get("model", DEFAULT_MODERATION_MODEL)
    if not isinstance(model, str) or not model:
        raise _fail("model", "a non-empty string")
    data = _required(body, "input")
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        for n, part in enumerate(data):
            kind = part.get("type")
            if kind == "text":
                string(_required(part, "text", f"input[{n}]."), f"input[{n}].text")
            elif kind == "image_url":
                obj(_required(part, "image_url", f"input[{n}]."), f"input[{n}].image_url")
            else:
                raise _fail(f"input[{n}].type", "'text' or 'image_url'")
    elif not isinstance(data, str) and not (isinstance(data, list) and all(isinstance(x, str) for x in data)):
        raise _fail("input", "a string, an array of strings or an array of text and image parts")
    return model


_RERANK: dict[str, Check] = {"top_n": count, "max_tokens_per_doc": count, "return_documents": boolean}
MAX_RERANK_DOCUMENTS = 10_000


def rerank(body: dict[str, Any]) -> str:
    """Cohere's rerank shape (v2, and v1's ``{"text": ...}`` documents): ``query`` and a non-empty ``documents``."""
    model = _model(body)
    string(_required(body, "query"), "query")
    documents = _required(body, "documents")
    if not isinstance(documents, list) or not documents or len(documents) > MAX_RERANK_DOCUMENTS:
        raise _fail("documents", f"a non-empty array of at most {MAX_RERANK_DOCUMENTS} documents")
    for n, document in enumerate(documents):
        if not isinstance(document, str) and not (isinstance(document, dict) and isinstance(document.get("text"), str)):
            raise _fail(f"documents[{n}]", "a string or an object with a string 'text'")
    _fields(body, _RERANK)
    return model


def _is_prompt_array(value: Any) -> bool:
    """An array of strings, of token ids, or of token-id arrays: what completions and embeddings take."""
    if not isinstance(value, list):
        return False
    return (
        all(isinstance(x, str) for x in value)
        or all(_is_int(x) for x in value)
        or all(isinstance(x, list) and all(_is_int(t) for t in x) for x in value)
    )


# OpenAI's defaults when a client-secret request's session names no model
DEFAULT_REALTIME_MODELS = {"realtime_secret": "gpt-realtime", "translate_secret": "gpt-realtime-translate"}


def realtime_secret(body: dict[str, Any], operation: str) -> str:
    """The model of a Realtime client-secret request (``session.model``, else OpenAI's default for the kind):
    ``session`` is an object (required for translation sessions), ``expires_after`` one too."""
    session = body.get("session")
    if session is None and operation == "translate_secret":
        raise InvalidRequest("Missing required parameter: 'session'.", param="session")
    if session is not None:
        obj(session, "session")
    if body.get("expires_after") is not None:
        obj(body["expires_after"], "expires_after")
        seconds = body["expires_after"].get("seconds")
        if seconds is not None:
            integer(seconds, "expires_after.seconds")
    model = session.get("model") if isinstance(session, dict) else None
    if model is None:
        return DEFAULT_REALTIME_MODELS[operation]
    if not isinstance(model, str) or not model or len(model) > 256:
        raise _fail("session.model", "a non-empty string")
    return model
