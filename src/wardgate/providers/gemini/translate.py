"""OpenAI Chat Completions ⇄ Gemini ``generateContent``, as pure functions over dicts.

The same wire format serves Google AI Studio (``type: gemini``) and Vertex AI (``type: vertex``); ``provider``
names the type in error messages and selects the one difference in requests (``gs://`` URIs are Vertex-only).

Requests. ``system``/``developer`` messages become ``systemInstruction`` (hoisted, in order, wherever they stand);
``user``/``assistant`` become ``contents`` with roles ``user``/``model``, consecutive turns of one role merged.
Images: ``data:`` URLs → ``inlineData``; ``http(s)://`` (and ``gs://`` on Vertex) → ``fileData`` with the MIME type
guessed from the path, a 400 when it cannot be. One ``detail`` for every image becomes
``generationConfig.mediaResolution`` (per-part resolution is Gemini 3 only, so mixed details are refused).
Tools go out as ``parametersJsonSchema`` and ``response_format: json_schema`` as ``responseJsonSchema``: both take
JSON Schema as written (``additionalProperties``, ``$ref``/``$defs``, ``anyOf``), so nothing is stripped but the
top-level ``$schema`` annotation; keywords Google does not enforce are ignored by Google.
A tool result becomes a ``functionResponse`` named after the call it answers (looked up by ``tool_call_id`` in the
history); its content is parsed as JSON and, since Gemini wants an object, anything else is sent as
``{"result": <value>}``.

Ids. Gemini does not number its function calls, so ``answer.py`` makes ids: ``call_`` + 24 hex digits of a hash
of the call. Gemini 3 attaches a ``thoughtSignature`` to a function call and refuses the next turn without it; the
signature rides in the id (``call_<hex>__thought__<signature>``) and is put back on the ``functionCall`` part when
the client sends the history, so no state is kept between requests.

Ignored, because they do not change the answer: ``user``, ``store``, ``metadata``, ``safety_identifier``,
``prompt_cache_key``, ``service_tier`` ``auto``/``default``, a message's ``name``, a tool's ``strict`` (Gemini checks
arguments against the declared schema on its own terms). ``top_k`` (not OpenAI's, but common) becomes ``topK``.
Every other field Gemini cannot express is a 400 naming it. Thought summaries are not requested, so ``thought``
parts never reach the answer.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

from wardgate.core.errors import InvalidRequest, UnsupportedOperation
from wardgate.providers.gemini.answer import SIGNATURE_MARK, from_wire, usage_from_wire

__all__ = ["from_wire", "to_wire", "usage_from_wire"]

_IGNORED = frozenset(
    {"model", "stream", "stream_options", "user", "store", "metadata", "safety_identifier", "prompt_cache_key"}
)
_CONFIG_NUMBERS = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
    "n": "candidateCount",
}
_HANDLED = frozenset(
    {
        *_CONFIG_NUMBERS,
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "stop",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "logprobs",
        "top_logprobs",
        "reasoning_effort",
        "service_tier",
    }
)
_RESOLUTION = {"low": "MEDIA_RESOLUTION_LOW", "high": "MEDIA_RESOLUTION_HIGH"}
_AUDIO_TYPES = {"wav": "audio/wav", "mp3": "audio/mp3"}
# Google's OpenAI-compatibility mapping for the budget-based (2.x) models.
_THINKING_BUDGET = {"none": 0, "minimal": 1024, "low": 1024, "medium": 8192, "high": 24576}
_THINKING_LEVEL = {"minimal": "MINIMAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH"}


def _unsupported(provider: str, what: str, param: str) -> UnsupportedOperation:
    return UnsupportedOperation(f"{provider} does not support {what}", param=param)


# --- requests -----------------------------------------------------------------------------------------


def to_wire(body: Mapping[str, Any], model: str, *, provider: str = "gemini") -> dict[str, Any]:
    """The ``generateContent`` body for an OpenAI chat completions body."""
    for key in body:
        if key not in _HANDLED and key not in _IGNORED:
            raise _unsupported(provider, f"'{key}'", key)
    details: set[str] = set()
    system, contents = _messages(body.get("messages") or [], provider, details)
    wire: dict[str, Any] = {"contents": contents}
    if system:
        wire["systemInstruction"] = {"parts": system}
    if body.get("tools"):
        wire["tools"] = [{"functionDeclarations": _declarations(body["tools"], provider)}]
    tool_config = _tool_config(body, provider)
    if tool_config is not None:
        wire["toolConfig"] = tool_config
    config = _generation_config(body, model, provider)
    if len(details) > 1:
        raise _unsupported(provider, "different image 'detail' levels in one request", "messages")
    if details:
        config["mediaResolution"] = _RESOLUTION[details.pop()]
    if config:
        wire["generationConfig"] = config
    return wire


def _messages(
    messages: list[Any], provider: str, details: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name, for the tool results that answer them
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"text": text} for text in _texts(message.get("content"), provider, where))
        elif role == "user":
            _append(contents, "user", _user_parts(message.get("content"), provider, where, details))
        elif role == "assistant":
            _append(contents, "model", _assistant_parts(message, provider, where, names))
        elif role == "tool":
            _append(contents, "user", [_function_response(message, provider, where, names)])
        else:
            raise _unsupported(provider, f"messages with role '{role}' (use tools and tool messages)", where)
    return system, contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _texts(content: Any, provider: str, where: str) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    texts = []
    for j, part in enumerate(content):
        kind = part.get("type")
        if kind == "text":
            texts.append(part.get("text", ""))
        elif kind == "refusal":
            texts.append(part.get("refusal", ""))
        else:
            raise _unsupported(provider, f"'{kind}' parts in this message", f"{where}.content[{j}]")
    return texts


def _user_parts(content: Any, provider: str, where: str, details: set[str]) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}]
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type")
        if kind == "text":
            parts.append({"text": part.get("text", "")})
        elif kind == "image_url":
            image = part.get("image_url") or {}
            parts.append(_media_part(str(image.get("url", "")), provider, f"{at}.image_url.url"))
            detail = image.get("detail")
            if detail in _RESOLUTION:
                details.add(detail)
            elif detail not in (None, "auto"):
                raise _unsupported(provider, f"image detail '{detail}'", f"{at}.image_url.detail")
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            mime = _AUDIO_TYPES.get(audio.get("format", ""))
            if mime is None:
                raise _unsupported(provider, f"audio format '{audio.get('format')}'", f"{at}.input_audio.format")
            parts.append({"inlineData": {"mimeType": mime, "data": audio.get("data", "")}})
        elif kind == "file":
            parts.append(_file_part(part.get("file") or {}, provider, at))
        else:
            raise _unsupported(provider, f"'{kind}' content parts", at)
    return parts


def _media_part(url: str, provider: str, param: str) -> dict[str, Any]:
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        mime, _, encoding = header[5:].partition(";")
        if encoding != "base64" or not mime:
            raise InvalidRequest("a data: URL must be of the form data:<mime type>;base64,<data>", param=param)
        return {"inlineData": {"mimeType": mime, "data": data}}
    scheme = urlsplit(url).scheme
    if scheme in ("http", "https") or (scheme == "gs" and provider == "vertex"):
        guessed, _ = mimetypes.guess_type(urlsplit(url).path)
        if guessed is None:
            raise _unsupported(
                provider,
                "URLs whose type cannot be told from the path (send a data: URL, or a path ending .png, .jpg, …)",
                param,
            )
        return {"fileData": {"mimeType": guessed, "fileUri": url}}
    raise _unsupported(provider, f"'{scheme}:' URLs", param)


def _file_part(file: Mapping[str, Any], provider: str, at: str) -> dict[str, Any]:
    data = file.get("file_data")
    if not isinstance(data, str):
        raise _unsupported(provider, "file ids (send the file's data)", f"{at}.file")
    if data.startswith("data:"):
        return _media_part(data, provider, f"{at}.file.file_data")
    mime, _ = mimetypes.guess_type(str(file.get("filename") or ""))
    if mime is None:
        raise _unsupported(provider, "files of unknown type (name it, e.g. report.pdf)", f"{at}.file.filename")
    return {"inlineData": {"mimeType": mime, "data": data}}


def _assistant_parts(
    message: Mapping[str, Any], provider: str, where: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    if message.get("function_call") is not None:
        raise _unsupported(provider, "the legacy 'function_call' (use tool_calls)", f"{where}.function_call")
    if message.get("audio") is not None:
        raise _unsupported(provider, "assistant audio", f"{where}.audio")
    parts: list[dict[str, Any]] = [{"text": text} for text in _texts(message.get("content"), provider, where) if text]
    for k, call in enumerate(message.get("tool_calls") or []):
        at = f"{where}.tool_calls[{k}]"
        if call.get("type", "function") != "function":
            raise _unsupported(provider, f"'{call.get('type')}' tool calls", f"{at}.type")
        function = call.get("function") or {}
        name = str(function.get("name", ""))
        try:
            args = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            raise InvalidRequest(
                "tool call arguments must be a JSON object", param=f"{at}.function.arguments"
            ) from None
        if not isinstance(args, dict):
            raise InvalidRequest("tool call arguments must be a JSON object", param=f"{at}.function.arguments")
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        call_id = str(call.get("id", ""))
        signature = call_id.partition(SIGNATURE_MARK)[2]
        if signature:
            part["thoughtSignature"] = signature
        names[call_id] = name
        parts.append(part)
    return parts


def _function_response(message: Mapping[str, Any], provider: str, where: str, names: dict[str, str]) -> dict[str, Any]:
    name = names.get(str(message.get("tool_call_id")))
    if name is None:
        raise InvalidRequest(
            "a tool message must answer a tool call of an earlier assistant message (no call has this id)",
            param=f"{where}.tool_call_id",
        )
    text = "".join(_texts(message.get("content"), provider, where))
    try:
        value: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = text
    return {"functionResponse": {"name": name, "response": value if isinstance(value, dict) else {"result": value}}}


def _json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$schema"}


def _declarations(tools: list[Any], provider: str) -> list[dict[str, Any]]:
    declarations = []
    for k, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise _unsupported(provider, f"'{tool.get('type')}' tools", f"tools[{k}].type")
        function = tool.get("function") or {}
        declaration: dict[str, Any] = {"name": function.get("name")}
        if function.get("description"):
            declaration["description"] = function["description"]
        if function.get("parameters"):
            declaration["parametersJsonSchema"] = _json_schema(function["parameters"])
        declarations.append(declaration)
    return declarations


def _tool_config(body: Mapping[str, Any], provider: str) -> dict[str, Any] | None:
    if body.get("parallel_tool_calls") is False:
        raise _unsupported(provider, "turning parallel tool calls off", "parallel_tool_calls")
    choice = body.get("tool_choice")
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]
        return {"functionCallingConfig": {"mode": mode}}
    if isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    if isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        if allowed.get("mode") != "required":
            raise _unsupported(provider, "allowed_tools in 'auto' mode", "tool_choice.allowed_tools.mode")
        names = [(tool.get("function") or {}).get("name") for tool in allowed.get("tools") or []]
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": names}}
    kind = choice.get("type") if isinstance(choice, dict) else choice
    raise _unsupported(provider, f"tool_choice '{kind}'", "tool_choice")


def _generation_config(body: Mapping[str, Any], model: str, provider: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for key, name in _CONFIG_NUMBERS.items():
        if body.get(key) is not None:
            config[name] = body[key]
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if limit is not None:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("logprobs"):
        config["responseLogprobs"] = True
    if body.get("top_logprobs") is not None:
        config["logprobs"] = body["top_logprobs"]
    _response_format(body.get("response_format"), config, provider)
    effort = body.get("reasoning_effort")
    if effort is not None:
        config["thinkingConfig"] = _thinking(effort, model, provider)
    if body.get("service_tier") not in (None, "auto", "default"):
        raise _unsupported(provider, f"service_tier '{body['service_tier']}'", "service_tier")
    return config


def _response_format(fmt: Any, config: dict[str, Any], provider: str) -> None:
    kind = fmt.get("type") if isinstance(fmt, dict) else fmt
    if kind in (None, "text"):
        return
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        config["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = _json_schema(schema)
    else:
        raise _unsupported(provider, f"response_format '{kind}'", "response_format")


def _thinking(effort: Any, model: str, provider: str) -> dict[str, Any]:
    """Gemini 2.x takes a token budget, later models a level; the model id tells which."""
    if model.rpartition("/")[2].startswith("gemini-2"):
        if effort in _THINKING_BUDGET:
            return {"thinkingBudget": _THINKING_BUDGET[effort]}
    elif effort in _THINKING_LEVEL:
        return {"thinkingLevel": _THINKING_LEVEL[effort]}
    raise _unsupported(provider, f"reasoning_effort '{effort}' for {model}", "reasoning_effort")
