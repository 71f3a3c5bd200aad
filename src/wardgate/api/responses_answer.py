"""A chat completion → the Responses API's ``response`` object: pure functions over dicts, no I/O.

The response echoes what was asked (instructions, tools, sampling, metadata …) as OpenAI's does, with the
public model name the client asked for; its ``output`` holds, in order, a ``reasoning`` item (when the provider
streamed or returned reasoning text), the assistant ``message`` (``output_text`` or ``refusal``) and one
``function_call`` item per tool call. The usage is the provider's, renamed (``input_tokens``, cached and reasoning
details): it is the same ``Usage`` accounting bills.
"""

from __future__ import annotations

import time
from typing import Any

from wardgate.api.responses_translate import new_id
from wardgate.core.usage import Usage

# a chat finish reason → the response's status and incomplete reason
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def response_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": usage.cache_write_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens,
    }


def skeleton(body: dict[str, Any], response_id: str, model: str, created_at: int) -> dict[str, Any]:
    """The response as it starts (``in_progress``, no output): every field the request decides."""
    reasoning = body.get("reasoning")
    text = body.get("text") if isinstance(body.get("text"), dict) else None
    response: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": "in_progress",
        "background": False,
        "completed_at": None,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": reasoning if isinstance(reasoning, dict) else {"effort": None, "summary": None},
        "service_tier": body.get("service_tier") or "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}, "verbosity": "medium", **(text or {})},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation") or "disabled",
        "metadata": body.get("metadata") or {},
    }
    if isinstance(body.get("user"), str):
        response["user"] = body["user"]
    return response


def finish(response: dict[str, Any], output: list[dict[str, Any]], reason: str | None, usage: Usage | None) -> None:
    """Complete ``response`` in place: its output, status, completion time and usage."""
    response["output"] = output
    incomplete = _INCOMPLETE.get(reason or "")
    response["status"] = "incomplete" if incomplete else "completed"
    response["incomplete_details"] = {"reason": incomplete} if incomplete else None
    response["completed_at"] = int(time.time())
    if usage is not None:
        response["usage"] = response_usage(usage)


def reasoning_item(text: str, item_id: str | None = None) -> dict[str, Any]:
    return {
        "type": "reasoning",
        "id": item_id or new_id("rs_"),
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }


def message_item(text: str | None, refusal: str | None, item_id: str | None = None) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if text:
        content.append(text_part(text))
    if refusal:
        content.append({"type": "refusal", "refusal": refusal})
    return {"type": "message", "id": item_id or new_id("msg_"), "status": "completed", "role": "assistant",
            "content": content}  # fmt: skip


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(call_id: str, name: str, arguments: str, item_id: str | None = None) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id or new_id("fc_"), "call_id": call_id, "name": name,
            "arguments": arguments, "status": "completed"}  # fmt: skip


def output_of(completion: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The output items of a chat completion's first choice, and its finish reason."""
    choices = completion.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    output: list[dict[str, Any]] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        output.append(reasoning_item(reasoning))
    text, refusal = message.get("content"), message.get("refusal")
    if isinstance(text, str) and text or isinstance(refusal, str) and refusal:
        output.append(message_item(text if isinstance(text, str) else None, refusal))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        if not isinstance(call, dict):
            continue
        function = call.get("function")
        if not isinstance(function, dict):
            function = {}
        output.append(
            function_call_item(
                str(call.get("id") or new_id("call_")),
                str(function.get("name") or ""),
                str(function.get("arguments") or ""),
            )  # fmt: skip
        )
    reason = choice.get("finish_reason")
    return output, reason if isinstance(reason, str) else None
