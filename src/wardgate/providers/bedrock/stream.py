"""ConverseStream events → OpenAI ``chat.completion.chunk``s, one decoded event-stream message at a time.

Events arrive as ``messageStart``, then per content block ``contentBlockStart`` (tool calls only: id and name),
``contentBlockDelta`` (text, partial tool-input JSON, reasoning text) and ``contentBlockStop``, then
``messageStop`` (the stop reason) and ``metadata`` (usage, metrics). A message whose ``:message-type`` is
``exception`` replaces the rest of the stream: its ``:exception-type`` names the error, which is raised as the
WardgateError the same error gets before a stream starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from wardgate.core.call import Chunk
from wardgate.core.errors import UpstreamError, WardgateError
from wardgate.core.usage import Usage
from wardgate.providers.bedrock.translate import finish_reason, usage_from_wire
from wardgate.providers.framing.eventstream import EventStreamMessage, string_header
from wardgate.providers.http import error_from_status, scrub

# ConverseStreamOutput's exception members and the status each one carries (botocore's service model)
EXCEPTION_STATUS = {
    "throttlingException": 429,
    "validationException": 400,
    "modelStreamErrorException": 424,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
}


def upstream_status(status: int) -> int:
    """424 (ModelError, ModelStreamError) says the model failed, not the request: a gateway error to the client."""
    return 502 if status == 424 else status


@dataclass(slots=True)
class StreamState:
    response_id: str
    model: str
    created: int
    include_usage: bool
    tool_index: dict[int, int] = field(default_factory=dict)  # contentBlockIndex → OpenAI tool_calls index
    stopped: bool = False  # messageStop seen
    usage: Usage | None = None  # from the metadata event


def chunks_from_message(
    message: EventStreamMessage, state: StreamState, provider: str, secrets: tuple[str, ...] = ()
) -> list[Chunk]:
    kind = string_header(message, ":message-type")
    if kind == "exception":
        raise stream_exception(message, provider, secrets)
    if kind == "error":
        code = string_header(message, ":error-code") or "error"
        text = string_header(message, ":error-message") or "stream error"
        raise UpstreamError(f"{provider}: {code}: {scrub(text, secrets)}")
    event = string_header(message, ":event-type")
    try:
        payload: dict[str, Any] = orjson.loads(message.payload) if message.payload else {}
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(f"{provider}: the provider sent an event that is not JSON ({event}).") from exc
    if event == "contentBlockDelta":
        return _delta(payload, state, provider)
    if event == "messageStart":
        return [_chunk(state, {"role": "assistant", "content": ""})]
    if event == "contentBlockStart":
        use = (payload.get("start") or {}).get("toolUse")
        if use is None:
            return []
        index = len(state.tool_index)
        state.tool_index[int(payload.get("contentBlockIndex", 0))] = index
        header = {
            "index": index,
            "id": use["toolUseId"],
            "type": "function",
            "function": {"name": use["name"], "arguments": ""},
        }
        return [_chunk(state, {"tool_calls": [header]})]
    if event == "messageStop":
        state.stopped = True
        return [_chunk(state, {}, finish_reason(payload.get("stopReason")))]
    if event == "metadata":
        usage = usage_from_wire(payload.get("usage") or {})
        state.usage = usage
        if not state.include_usage:
            return []
        data = {
            "id": state.response_id,
            "object": "chat.completion.chunk",
            "created": state.created,
            "model": state.model,
            "choices": [],
            "usage": usage.to_openai(),
        }
        return [Chunk(data, usage=usage)]
    return []  # contentBlockStop, and event types added after this was written


def _delta(payload: dict[str, Any], state: StreamState, provider: str) -> list[Chunk]:
    delta = payload.get("delta") or {}
    if "text" in delta:
        return [_chunk(state, {"content": delta["text"]})]
    if "toolUse" in delta:
        index = state.tool_index.get(int(payload.get("contentBlockIndex", 0)))
        if index is None:
            raise UpstreamError(f"{provider}: tool input arrived for a content block that did not start a tool call.")
        piece = delta["toolUse"].get("input", "")
        return [_chunk(state, {"tool_calls": [{"index": index, "function": {"arguments": piece}}]})]
    reasoning = delta.get("reasoningContent") or {}
    if reasoning.get("text"):
        return [_chunk(state, {"reasoning_content": reasoning["text"]})]
    return []  # reasoning signatures, redacted reasoning, citations: nothing OpenAI-shaped to say


def stream_exception(message: EventStreamMessage, provider: str, secrets: tuple[str, ...] = ()) -> WardgateError:
    name = string_header(message, ":exception-type") or "exception"
    try:
        body = orjson.loads(message.payload) if message.payload else {}
    except orjson.JSONDecodeError:
        body = {}
    text = body.get("message") or body.get("Message") if isinstance(body, dict) else None
    status = upstream_status(EXCEPTION_STATUS.get(name, 502))
    return error_from_status(provider, status, f"{name}: {text or 'the stream failed'}", secrets=secrets)


def _chunk(state: StreamState, delta: dict[str, Any], finish: str | None = None) -> Chunk:
    return Chunk(
        {
            "id": state.response_id,
            "object": "chat.completion.chunk",
            "created": state.created,
            "model": state.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
    )
