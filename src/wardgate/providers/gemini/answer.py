"""Gemini ``generateContent`` answers → OpenAI ``chat.completion`` objects, as pure functions.

Candidates become choices (by ``index``, which Google omits when it is 0); text parts are joined, ``thought`` parts
left out, ``functionCall`` parts become tool calls with ids made here (see ``tool_call_id``). Finish reasons:
``STOP`` → ``stop`` (``tool_calls`` when the candidate called functions), ``MAX_TOKENS`` → ``length``, the safety
family (``SAFETY``, ``RECITATION``, ``BLOCKLIST``, ``PROHIBITED_CONTENT``, ``SPII``, image variants) →
``content_filter``; a malformed or unexpected function call has no OpenAI equivalent and is a 502. A prompt Gemini
refuses (``promptFeedback.blockReason``, no candidates) is a 400 with code ``content_policy_violation``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import InvalidRequest, UpstreamError
from wardgate.core.usage import Usage

SIGNATURE_MARK = "__thought__"
_FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_BROKEN_CALLS = frozenset({"MALFORMED_FUNCTION_CALL", "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS"})


def usage_from_wire(meta: Mapping[str, Any]) -> Usage:
    """Gemini's ``usageMetadata`` in our convention.

    ``promptTokenCount`` already includes ``cachedContentTokenCount``; tool-use prompt tokens (server-side tools)
    are input too, and ``thoughtsTokenCount`` is output, so the two sides add up to ``totalTokenCount``.
    """
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    return Usage(
        input_tokens=int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0),
        output_tokens=int(meta.get("candidatesTokenCount") or 0) + thoughts,
        cached_tokens=int(meta.get("cachedContentTokenCount") or 0),
        reasoning_tokens=thoughts,
    )


def check_prompt(body: Mapping[str, Any], provider: str) -> None:
    """Gemini answers a refused prompt with 200, no candidates and a block reason: a 400 for the client."""
    reason = (body.get("promptFeedback") or {}).get("blockReason")
    if reason and not body.get("candidates"):
        raise InvalidRequest(
            f"{provider}: the prompt was blocked by the provider's content policy ({reason}).",
            code="content_policy_violation",
        )


def finish_reason(reason: str | None, calls: int, provider: str) -> str:
    if reason in _BROKEN_CALLS:
        raise UpstreamError(f"{provider}: the model produced an invalid function call ({reason}).")
    if reason in _FILTERED:
        return "content_filter"
    if reason == "MAX_TOKENS":
        return "length"
    return "tool_calls" if calls else "stop"


def tool_call_id(candidate: int, position: int, call: Mapping[str, Any], signature: str | None) -> str:
    """A stable id for a function call: the same call in the same place of an answer gets the same id."""
    key = orjson.dumps([candidate, position, call.get("name"), call.get("args") or {}], option=orjson.OPT_SORT_KEYS)
    base = "call_" + hashlib.sha256(key).hexdigest()[:24]
    return f"{base}{SIGNATURE_MARK}{signature}" if signature else base


def tool_call(candidate: int, position: int, part: Mapping[str, Any]) -> dict[str, Any]:
    call = part["functionCall"]
    return {
        "id": tool_call_id(candidate, position, call, part.get("thoughtSignature")),
        "type": "function",
        "function": {"name": call.get("name", ""), "arguments": orjson.dumps(call.get("args") or {}).decode()},
    }


def logprobs_from_wire(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not result:
        return None
    tops = result.get("topCandidates") or []
    content = []
    for j, chosen in enumerate(result.get("chosenCandidates") or []):
        alternatives = tops[j].get("candidates") or [] if j < len(tops) else []
        entry = _logprob(chosen)
        entry["top_logprobs"] = [_logprob(alt) for alt in alternatives]
        content.append(entry)
    return {"content": content, "refusal": None}


def _logprob(candidate: Mapping[str, Any]) -> dict[str, Any]:
    token = str(candidate.get("token", ""))
    return {"token": token, "logprob": float(candidate.get("logProbability", 0.0)), "bytes": list(token.encode())}


def visible_parts(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [p for p in (candidate.get("content") or {}).get("parts") or [] if not p.get("thought")]


def completion_id(body: Mapping[str, Any]) -> str:
    response_id = body.get("responseId")
    if response_id:
        return f"chatcmpl-{response_id}"
    return "chatcmpl-" + hashlib.sha256(orjson.dumps(body)).hexdigest()[:24]


def from_wire(
    body: Mapping[str, Any], *, model: str | None = None, created: int | None = None, provider: str = "gemini"
) -> dict[str, Any]:
    """The OpenAI ``chat.completion`` for a ``generateContent`` answer."""
    check_prompt(body, provider)
    candidates = body.get("candidates") or []
    if not candidates:
        raise UpstreamError(f"{provider}: the provider answered with no candidates.")
    choices = []
    for candidate in sorted(candidates, key=lambda c: int(c.get("index", 0))):
        index = int(candidate.get("index", 0))
        parts = visible_parts(candidate)
        texts = [p["text"] for p in parts if "text" in p]
        calls = [tool_call(index, k, p) for k, p in enumerate(q for q in parts if "functionCall" in q)]
        message: dict[str, Any] = {
            "role": "assistant",
            "content": "".join(texts) if texts else (None if calls else ""),
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": index,
                "message": message,
                "logprobs": logprobs_from_wire(candidate.get("logprobsResult")),
                "finish_reason": finish_reason(candidate.get("finishReason"), len(calls), provider),
            }
        )
    return {
        "id": completion_id(body),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": body.get("modelVersion") or model or "",
        "choices": choices,
        "usage": usage_from_wire(body.get("usageMetadata") or {}).to_openai(),
    }
