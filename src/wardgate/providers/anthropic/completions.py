"""Legacy completions over the Messages API: the prompt becomes one user message, and the chat answer (or each
chat chunk) is reshaped as a ``text_completion``. Anything that only a completion model can do is refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.core.call import Chunk
from wardgate.core.usage import Usage
from wardgate.providers.anthropic.request import IGNORED, unsupported

# passed on to the chat translation as they are
_SHARED = frozenset(
    {
        "model",
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "stop",
        "stream",
        "stream_options",
        "user",
        "n",
        "logprobs",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
    }
)


def completion_to_chat(body: Mapping[str, Any]) -> dict[str, Any]:
    chat: dict[str, Any] = {}
    for key, value in body.items():
        if key in _SHARED:
            chat[key] = value
        elif key not in IGNORED and key not in ("prompt", "echo", "best_of", "suffix"):
            raise unsupported(f"the '{key}' parameter", key)
    if body.get("echo"):
        raise unsupported("echo", "echo")
    if body.get("best_of") not in (None, 1):
        raise unsupported("best_of", "best_of")
    if body.get("suffix"):
        raise unsupported("suffix (fill-in-the-middle)", "suffix")
    if body.get("logprobs") is not None:
        raise unsupported("logprobs", "logprobs")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise unsupported("prompts that are token arrays or several prompts (send one string)", "prompt")
    chat["messages"] = [{"role": "user", "content": prompt}]
    return chat


def plain_usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


def completion_from_chat(chat: dict[str, Any], usage: Usage) -> dict[str, Any]:
    choice = chat["choices"][0]
    return {
        "id": chat["id"],
        "object": "text_completion",
        "created": chat["created"],
        "model": chat["model"],
        "choices": [
            {
                "text": choice["message"]["content"] or "",
                "index": 0,
                "logprobs": None,
                "finish_reason": choice["finish_reason"],
            }
        ],
        "usage": plain_usage(usage),
    }


def completion_chunk(chunk: Chunk) -> Chunk | None:
    """A chat chunk as a legacy completion chunk; the role chunk (no text yet) has no counterpart."""
    data = chunk.data
    head = {"id": data["id"], "object": "text_completion", "created": data["created"], "model": data["model"]}
    if not data["choices"]:
        assert chunk.usage is not None
        return Chunk({**head, "choices": [], "usage": plain_usage(chunk.usage)}, usage=chunk.usage)
    choice = data["choices"][0]
    text = choice["delta"].get("content")
    finish = choice["finish_reason"]
    if not text and finish is None:
        return None
    out = {"text": text or "", "index": 0, "logprobs": None, "finish_reason": finish}
    return Chunk({**head, "choices": [out]})
