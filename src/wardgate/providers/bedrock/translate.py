"""OpenAI Chat Completions ⇄ Bedrock Converse, as pure functions over dicts.

Request (``to_wire``):
- ``system`` and ``developer`` messages, wherever they stand, become the top-level ``system`` blocks, in order
  (Converse has no system turn inside ``messages``).
- ``user``/``assistant`` messages become Converse messages; consecutive messages of one role are merged, because
  Converse requires the roles to alternate. ``tool`` messages become ``toolResult`` blocks of a user message.
- Images must be ``data:`` URLs (png, jpeg, gif, webp): Converse takes the bytes, never a URL. ``detail`` has no
  Converse equivalent and is ignored.
- ``max_completion_tokens``/``max_tokens``, ``temperature``, ``top_p``, ``stop`` → ``inferenceConfig``.
- ``tools`` (functions) → ``toolConfig.tools``; ``tool_choice`` auto → ``auto``, required → ``any``, a named
  function → ``tool``. Converse has no "none": with ``tool_choice: "none"`` the tools are withheld, which is only
  possible while the conversation holds no tool calls (Converse demands ``toolConfig`` beside toolUse/toolResult
  blocks), so that case is refused.
- ``response_format`` ``json_schema`` → ``outputConfig.textFormat`` (its ``strict`` is implied: Converse always
  enforces the schema); ``text`` is the default and needs nothing.
- ``cache_control`` on a content part or a tool (the Anthropic-style extension) → a ``cachePoint`` after it.
- Ignored because they do not change the answer: ``user``, ``safety_identifier``, ``store``, ``metadata``,
  ``service_tier``, ``prompt_cache_key``, ``stream_options`` (the adapter reads it), a message's ``name``.
- Everything else that would change the answer and that Converse cannot express is refused with a 400 naming the
  field: ``n`` > 1, ``logprobs``, ``top_logprobs``, ``logit_bias``, ``presence_penalty``/``frequency_penalty`` other
  than 0, ``seed``, ``response_format: json_object``, ``parallel_tool_calls: false``, ``reasoning_effort``, audio
  input/output, ``prediction``, ``web_search_options``, the legacy ``functions``/``function_call``, non-function
  tools, http(s) image URLs, file parts, and any field this module does not know.

The message conversion itself is in ``messages.py``.

Answer (``from_wire``): text blocks are joined into ``content``, ``toolUse`` blocks become ``tool_calls`` (the
``toolUseId`` is kept as the call id, ``input`` is serialised to the JSON-string ``arguments``), reasoning text goes
to ``reasoning_content``. Usage: Bedrock's ``inputTokens`` counts only the uncached input, with cache reads and
writes reported beside it (the prompt-caching guide: total input = inputTokens + cacheReadInputTokens +
cacheWriteInputTokens), so they are added up into ``prompt_tokens``, as our Usage convention requires.
``outputTokens`` already includes any reasoning; Bedrock does not count reasoning apart, so ``reasoning_tokens`` is 0.
The stop reasons ``malformed_model_output``/``malformed_tool_use`` have no OpenAI equivalent and finish as ``stop``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from wardgate.core.errors import InvalidRequest
from wardgate.core.usage import Usage
from wardgate.providers.bedrock.messages import cache_point, convert_messages, unsupported

__all__ = ["from_wire", "to_wire", "unsupported", "usage_from_wire"]

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    # the model's output could not be parsed; OpenAI has no such reason, and the answer so far is what there is
    "malformed_model_output": "stop",
    "malformed_tool_use": "stop",
}

_IGNORED = frozenset(
    {
        "model",
        "stream",
        "stream_options",
        "user",
        "safety_identifier",
        "store",
        "metadata",
        "service_tier",
        "prompt_cache_key",
    }
)
_HANDLED = frozenset(
    {
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "tools",
        "tool_choice",
        "response_format",
    }
)
# fields accepted only at the value that asks for nothing (bool is an int in Python, hence the type checks)
_NEUTRAL: dict[str, Callable[[Any], bool]] = {
    "n": lambda v: v == 1 and not isinstance(v, bool),
    "logprobs": lambda v: v is False,
    "presence_penalty": lambda v: v == 0 and not isinstance(v, bool),
    "frequency_penalty": lambda v: v == 0 and not isinstance(v, bool),
    "logit_bias": lambda v: v == {},
    "parallel_tool_calls": lambda v: v is True,
    "modalities": lambda v: v == ["text"],
}
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


def to_wire(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The Converse request body for an OpenAI chat request.

    ``model`` (the Bedrock model id) is not part of the body: Converse takes it in the URL path. It is accepted so
    every adapter's ``to_wire`` has one signature.
    """
    _check_fields(body)
    system, messages = convert_messages(body["messages"])
    wire: dict[str, Any] = {"messages": messages}
    if system:
        wire["system"] = system
    inference = _inference_config(body)
    if inference:
        wire["inferenceConfig"] = inference
    tool_config = _tool_config(body, messages)
    if tool_config is not None:
        wire["toolConfig"] = tool_config
    output = _output_config(body.get("response_format"))
    if output is not None:
        wire["outputConfig"] = output
    return wire


def _check_fields(body: Mapping[str, Any]) -> None:
    for key, value in body.items():
        if value is None or key in _IGNORED or key in _HANDLED:
            continue
        neutral = _NEUTRAL.get(key)
        if neutral is None:
            raise unsupported(f"'{key}'", key)
        if not neutral(value):
            raise unsupported(f"{key}={orjson.dumps(value).decode()}", key)


# --- parameters ---------------------------------------------------------------------------------------------


def _inference_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if limit is not None:
        config["maxTokens"] = limit
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
            raise InvalidRequest("'stop' must be a non-empty string or an array of them.", param="stop")
        if stops:
            config["stopSequences"] = stops
    return config


def _tool_config(body: Mapping[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    raw_tools = body.get("tools") or []
    choice = body.get("tool_choice")
    tools: list[dict[str, Any]] = []
    for i, tool in enumerate(raw_tools):
        if tool.get("type") != "function":
            raise unsupported(f"'{tool.get('type')}' tools (only functions)", f"tools[{i}].type")
        fn = tool["function"]
        spec: dict[str, Any] = {
            "name": fn["name"],
            "inputSchema": {"json": fn.get("parameters") or dict(_EMPTY_SCHEMA)},
        }
        if fn.get("description"):
            spec["description"] = fn["description"]
        if fn.get("strict") is not None:
            spec["strict"] = bool(fn["strict"])
        tools.append({"toolSpec": spec})
        if (point := cache_point(tool, f"tools[{i}]")) is not None:
            tools.append(point)
    if choice == "none":
        if _has_tool_blocks(messages):
            raise unsupported(
                "tool_choice 'none' once the conversation holds tool calls (Converse cannot withhold tools then)",
                "tool_choice",
            )
        return None
    if not tools:
        if choice is not None:
            raise InvalidRequest("'tool_choice' is only allowed when 'tools' are specified.", param="tool_choice")
        return None
    config: dict[str, Any] = {"tools": tools}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if not isinstance(name, str):
            raise InvalidRequest("'tool_choice.function.name' must be a string.", param="tool_choice.function.name")
        config["toolChoice"] = {"tool": {"name": name}}
    elif choice is not None:
        raise unsupported(f"tool_choice {orjson.dumps(choice).decode()}", "tool_choice")
    return config


def _has_tool_blocks(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in block or "toolResult" in block for m in messages for block in m["content"])


def _output_config(fmt: Any) -> dict[str, Any] | None:
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_object":
        raise unsupported("response_format 'json_object' (use 'json_schema')", "response_format")
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        raise InvalidRequest(
            "'response_format.json_schema.schema' must be an object.", param="response_format.json_schema.schema"
        )
    definition: dict[str, Any] = {"schema": orjson.dumps(spec["schema"]).decode()}
    if spec.get("name"):
        definition["name"] = spec["name"]
    if spec.get("description"):
        definition["description"] = spec["description"]
    return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}


# --- answers ------------------------------------------------------------------------------------------------


def usage_from_wire(usage: Mapping[str, Any]) -> Usage:
    cache_read = int(usage.get("cacheReadInputTokens") or 0)
    cache_write = int(usage.get("cacheWriteInputTokens") or 0)
    return Usage(
        input_tokens=int(usage.get("inputTokens") or 0) + cache_read + cache_write,
        output_tokens=int(usage.get("outputTokens") or 0),
        cached_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(str(stop_reason), "stop")


def from_wire(body: Mapping[str, Any], *, model: str, response_id: str, created: int) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` for a Converse answer."""
    message = (body.get("output") or {}).get("message") or {}
    texts: list[str] = []
    reasoning: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            tool_calls.append(
                {
                    "id": use["toolUseId"],
                    "type": "function",
                    "function": {"name": use["name"], "arguments": orjson.dumps(use.get("input", {})).decode()},
                }
            )
        elif "reasoningContent" in block:
            text = (block["reasoningContent"].get("reasoningText") or {}).get("text")
            if text:
                reasoning.append(text)
    out: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not tool_calls else None,
        "refusal": None,
    }
    if tool_calls:
        out["tool_calls"] = tool_calls
    if reasoning:
        out["reasoning_content"] = "".join(reasoning)
    return {
        "id": response_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {"index": 0, "message": out, "logprobs": None, "finish_reason": finish_reason(body.get("stopReason"))}
        ],
        "usage": usage_from_wire(body.get("usage") or {}).to_openai(),
    }
