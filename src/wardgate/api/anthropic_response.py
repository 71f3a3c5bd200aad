"""An OpenAI ``chat.completion`` → an Anthropic ``message``, usage, stop reasons and errors: pure functions.

Shared by the JSON answer (``to_message``) and the stream (``anthropic_stream``), so both say the same thing:
``msg_`` ids derived from the provider's, Anthropic's usage semantics (cache reads and writes apart from
``input_tokens``), finish reasons mapped (stop → end_turn, length → max_tokens, tool_calls → tool_use,
content_filter → refusal), tool-call arguments parsed into ``input`` objects, and WardgateErrors in Anthropic's
error shape with the status they carry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from wardgate.core.errors import UpstreamError, WardgateError
from wardgate.core.usage import Usage

FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
STOP_REASONS = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal", "model_context_window_exceeded"}
)


def message_id(openai_id: Any, fallback: str) -> str:
    """``msg_…`` from the provider's id (``chatcmpl-abc`` → ``msg_abc``), so one answer keeps one id."""
    if not isinstance(openai_id, str) or not openai_id:
        return f"msg_{fallback}"
    if openai_id.startswith("msg_"):
        return openai_id
    return "msg_" + openai_id.removeprefix("chatcmpl-")


def anthropic_usage(usage: Usage | None) -> dict[str, int]:
    """Anthropic counts cache reads and writes apart from ``input_tokens``; our Usage counts them inside."""
    u = usage or Usage()
    return {
        "input_tokens": max(0, u.input_tokens - u.cached_tokens - u.cache_write_tokens),
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "output_tokens": u.output_tokens,
    }


def stop_reason(
    finish: Any, choice: Mapping[str, Any], stop_sequences: Sequence[str], *, used_tools: bool, refused: bool
) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence). OpenAI's ``stop`` does not say whether a stop sequence ended the text; a
    provider that does say (vLLM's ``stop_reason`` on the choice: the matched string) gets ``stop_sequence``."""
    matched = choice.get("stop_reason")
    if finish == "stop" and isinstance(matched, str) and matched in stop_sequences:
        return "stop_sequence", matched
    if refused and finish in ("stop", "content_filter"):
        return "refusal", None
    reason = FINISH_TO_STOP.get(finish) or (finish if finish in STOP_REASONS else "end_turn")
    if reason == "end_turn" and used_tools:  # some providers end a turn of tool calls with "stop"
        reason = "tool_use"
    return reason, None


def tool_input(arguments: Any, where: str) -> dict[str, Any]:
    """Anthropic's ``input`` is an object; arguments that are not one cannot be passed on as if they were, so the
    answer fails (502) rather than reach the client altered. An empty string means no arguments."""
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) else None
    except orjson.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise UpstreamError(
            f"The provider returned arguments for tool call {where} that are not a JSON object, which the Anthropic "
            f"Messages API cannot carry: {str(arguments)[:200]!r}"
        )
    return value


def reasoning_text(holder: Mapping[str, Any]) -> str | None:
    """The reasoning text of an OpenAI message or delta (``reasoning_content``: DeepSeek, vLLM; ``reasoning``)."""
    for key in ("reasoning_content", "reasoning"):
        value = holder.get(key)
        if isinstance(value, str):
            return value
    return None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def to_message(
    body: Mapping[str, Any], *, model: str, fallback_id: str, usage: Usage | None, stop_sequences: Sequence[str] = ()
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` → an Anthropic ``message``.

    ``usage`` is the call's own (set by the adapter from the provider's numbers, cache writes included, which the
    OpenAI body cannot carry); without it the body's ``usage`` is read. Thinking: the ``thinking_blocks`` an
    Anthropic upstream returned (signatures intact), else ``reasoning_content`` as one unsigned thinking block.
    """
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamError("The provider's answer has no choices.")
    choice = choices[0]
    message = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    blocks = message.get("thinking_blocks")
    if isinstance(blocks, list) and blocks:
        content.extend(dict(b) for b in blocks if isinstance(b, dict))
    else:
        reasoning = reasoning_text(message)
        if reasoning:
            content.append({"type": "thinking", "thinking": reasoning, "signature": ""})
    text = _text_of(message.get("content"))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        text += refusal
    if text:
        content.append({"type": "text", "text": text})
    calls = message.get("tool_calls") or []
    for k, call in enumerate(calls):
        fn = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{fallback_id}_{k}",
                "name": fn.get("name") or "",
                "input": tool_input(fn.get("arguments"), f"{k}"),
            }
        )
    if usage is None and isinstance(body.get("usage"), dict):
        usage = Usage.from_openai(body["usage"])
    reason, sequence = stop_reason(
        choice.get("finish_reason"),
        choice,
        stop_sequences,
        used_tools=bool(calls),
        refused=isinstance(refusal, str) and bool(refusal),
    )
    return {
        "id": message_id(body.get("id"), fallback_id),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        "usage": anthropic_usage(usage),
    }


# --- errors ---------------------------------------------------------------------------------------------------

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int, code: str | None = None) -> str:
    """Anthropic's error ``type`` for an HTTP status (its documented table; 504 is ``timeout_error``)."""
    if code == "upstream_overloaded":
        return "overloaded_error"
    found = _ERROR_TYPES.get(status)
    if found is not None:
        return found
    return "api_error" if status >= 500 else "invalid_request_error"


def error_body(exc: WardgateError, request_id: str | None = None) -> dict[str, Any]:
    return error_object(exc.status, exc.message, exc.code, request_id)


def error_object(status: int, message: str, code: str | None = None, request_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "error", "error": {"type": error_type(status, code), "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def error_from_openai(status: int, body: Mapping[str, Any], request_id: str | None = None) -> dict[str, Any]:
    """An OpenAI-shaped error answer (a stage's refusal) → Anthropic's shape."""
    error = body.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return error_object(status, str(message or "error"), code if isinstance(code, str) else None, request_id)
