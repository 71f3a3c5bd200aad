"""What the fake OpenAI API answers: pure, deterministic builders of OpenAI wire bodies (no I/O).

The rules are a contract that end-to-end tests rely on, so a test can compute the exact answer. Chat
completions have their own module, `openai_chat`; this one holds the shared rules and the small endpoints.

Words. Text is cut into word tokens that keep their leading whitespace ("echo: hi there" → "echo:", " hi",
" there"); joining them restores the text exactly. One word is one token everywhere: in usage, for
`max_tokens`, for logprobs entries and for stream chunks.

A message's text (`content_text`) is its string content, or its parts joined by one space: text parts as
their text, image parts as "[image]", audio "[audio]", files "[file]".
prompt_tokens of a chat = `count_prompt_tokens(messages)` = Σ over messages of (3 + words of its text).

Limits (`limit_text`): `stop` (a string or a list) cuts before the earliest stop sequence (finish
"stop"); then a token limit keeps that many words (finish "length" if it cut anything).

Legacy completions answer "echo: " + the prompt (the first one of a list; token ids joined by spaces);
prompt_tokens = words of that prompt (or its number of ids), completion_tokens = words of the text.
Embeddings are unit vectors of float32 values derived from a hash of each input (`embedding_vector`);
prompt_tokens = Σ words (or ids) of the inputs.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

MODEL_CREATED = 1_686_935_002
MODEL_IDS = ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo-instruct", "text-embedding-3-small")

_WORD = re.compile(r"\s*\S+(?:\s+$)?|\s+")


class BadRequest(Exception):
    """A request the real API would refuse with 400; the server turns it into OpenAI's error body."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.param = param
        self.code = code


# --- words and counts ---------------------------------------------------------------------------------


def split_words(text: str) -> list[str]:
    return _WORD.findall(text)


def count_words(text: str) -> int:
    return len(text.split())


def content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(_part_text(part) for part in content)


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", ""))
    if kind == "refusal":
        return str(part.get("refusal", ""))
    return {"image_url": "[image]", "input_audio": "[audio]", "file": "[file]"}.get(kind, f"[{kind}]")


def count_prompt_tokens(messages: Iterable[dict[str, Any]]) -> int:
    return sum(3 + count_words(content_text(message.get("content"))) for message in messages)


def mask_api_key(key: str) -> str:
    """Mask a key the way OpenAI's 401 message does: enough to recognise it, not enough to use it."""
    if len(key) < 12:
        return "*" * len(key)
    return f"{key[:6]}***{key[-3:]}"


# --- errors -------------------------------------------------------------------------------------------


def error_body(message: str, kind: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def invalid_api_key_body(presented: str | None) -> dict[str, Any]:
    if not presented:
        return error_body(
            "You didn't provide an API key. You need to provide your API key in an Authorization header "
            "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank "
            "username) if you're accessing the API from your browser and are prompted for a username. "
            "You can obtain an API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
        )
    return error_body(
        f"Incorrect API key provided: {mask_api_key(presented)}. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        code="invalid_api_key",
    )


RATE_LIMIT_HEADERS = {
    "retry-after": "7",
    "x-ratelimit-limit-requests": "3",
    "x-ratelimit-remaining-requests": "0",
    "x-ratelimit-reset-requests": "7s",
    "x-ratelimit-limit-tokens": "40000",
    "x-ratelimit-remaining-tokens": "39990",
    "x-ratelimit-reset-tokens": "15ms",
}


def scripted_failure(model: str) -> tuple[int, dict[str, Any], dict[str, str]] | None:
    """The error a failure-mode model name (`error-<status>`) selects, or None for a normal model."""
    if model == "error-400":
        body = error_body(
            "Invalid value for 'messages': scripted failure of model error-400.",
            "invalid_request_error",
            param="messages",
            code="invalid_value",
        )
        return 400, body, {}
    if model == "error-404":
        body = error_body(
            "The model `error-404` does not exist or you do not have access to it.",
            "invalid_request_error",
            code="model_not_found",
        )
        return 404, body, {}
    if model == "error-429":
        body = error_body(
            "Rate limit reached for error-429 in organization org-fake on requests per min (RPM): "
            "Limit 3, Used 3, Requested 1. Please try again in 7s. "
            "Visit https://platform.openai.com/account/rate-limits to learn more.",
            "requests",
            code="rate_limit_exceeded",
        )
        return 429, body, dict(RATE_LIMIT_HEADERS)
    if model == "error-500":
        body = error_body("The server had an error while processing your request. Sorry about that!", "server_error")
        return 500, body, {}
    if model == "error-503":
        body = error_body("The engine is currently overloaded, please try again later", "server_error")
        return 503, body, {}
    return None


# --- shared by the answers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Meta:
    """What the server decides per call and the pure builders cannot: identity, time and model label."""

    id: str
    created: int
    model: str
    cached_tokens: int = 0
    reasoning_tokens: int = 0


def limit_text(text: str, stop: str | list[str] | None, max_tokens: int | None) -> tuple[str, str]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    cuts = [index for index in (text.find(s) for s in stops if s) if index >= 0]
    if cuts:
        text = text[: min(cuts)]
    words = split_words(text)
    if max_tokens is not None and count_words(text) > max_tokens:
        return "".join(words[:max_tokens]), "length"
    return text, "stop"


def token_logprobs(text: str, top: int) -> list[dict[str, Any]]:
    return [token_logprob(token, position, top) for position, token in enumerate(split_words(text))]


def token_logprob(token: str, position: int, top: int) -> dict[str, Any]:
    logprob = -round(0.01 * (position + 1), 4)
    alternatives = [(token, logprob)] + [(f" alt{k}", logprob - k) for k in range(1, top)]
    return {
        "token": token,
        "logprob": logprob,
        "bytes": list(token.encode()),
        "top_logprobs": [
            {"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in alternatives[: max(top, 0)]
        ],
    }


def interleave(sequences: list[list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    for row in itertools.zip_longest(*sequences):
        yield from (item for item in row if item is not None)


# --- legacy completions -------------------------------------------------------------------------------


def completion_prompt(prompt: Any) -> tuple[str, int]:
    """The prompt the fake answers (the first of a list) and its token count."""
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], (str, list)):
        prompt = prompt[0]
    if isinstance(prompt, list):
        return " ".join(str(token) for token in prompt), len(prompt)
    if isinstance(prompt, str):
        return prompt, count_words(prompt)
    raise BadRequest("'prompt' must be a string, an array of strings or an array of tokens.", param="prompt")


def _completion_logprobs(text: str, top: int) -> dict[str, Any]:
    words = split_words(text)
    entries = [token_logprob(word, position, top) for position, word in enumerate(words)]
    offsets = list(itertools.accumulate((len(w) for w in words[:-1]), initial=0)) if words else []
    return {
        "tokens": words,
        "token_logprobs": [entry["logprob"] for entry in entries],
        "top_logprobs": [{alt["token"]: alt["logprob"] for alt in entry["top_logprobs"]} for entry in entries],
        "text_offset": offsets,
    }


def completion(body: dict[str, Any], meta: Meta) -> dict[str, Any]:
    prompt, prompt_tokens = completion_prompt(body.get("prompt"))
    text, finish_reason = limit_text("echo: " + prompt, body.get("stop"), body.get("max_tokens"))
    n = body.get("n") or 1
    logprobs = _completion_logprobs(text, body["logprobs"]) if body.get("logprobs") is not None else None
    return {
        "id": meta.id,
        "object": "text_completion",
        "created": meta.created,
        "model": meta.model,
        "choices": [
            {"text": text, "index": index, "logprobs": logprobs, "finish_reason": finish_reason} for index in range(n)
        ],
        "usage": _plain_usage(prompt_tokens, n * count_words(text)),
    }


def completion_chunks(body: dict[str, Any], meta: Meta) -> list[dict[str, Any]]:
    """Legacy stream: the usage, when asked for, rides only on the last chunk (no `"usage": null`)."""
    prompt, prompt_tokens = completion_prompt(body.get("prompt"))
    text, finish_reason = limit_text("echo: " + prompt, body.get("stop"), body.get("max_tokens"))
    n = body.get("n") or 1
    head = {"id": meta.id, "object": "text_completion", "created": meta.created, "model": meta.model}

    def choice(index: int, piece: str, finish: str | None) -> dict[str, Any]:
        return {"text": piece, "index": index, "logprobs": None, "finish_reason": finish}

    per_choice = [
        [choice(index, word, None) for word in split_words(text)] + [choice(index, "", finish_reason)]
        for index in range(n)
    ]
    chunks = [{**head, "choices": [item]} for item in interleave(per_choice)]
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**head, "choices": [], "usage": _plain_usage(prompt_tokens, n * count_words(text))})
    return chunks


def _plain_usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


# --- embeddings ---------------------------------------------------------------------------------------


def embedding_inputs(raw: Any) -> list[str | list[int]]:
    if isinstance(raw, str):
        inputs: list[Any] = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(item, int) for item in raw):
        inputs = [raw]
    elif isinstance(raw, list) and raw:
        inputs = raw
    else:
        raise BadRequest("'input' is a required property and must not be empty.", param="input")
    for item in inputs:
        if item == "" or item == [] or not isinstance(item, (str, list)):
            raise BadRequest("'input' must be a non-empty string or array of tokens.", param="input")
    return inputs


def embedding_vector(item: str | list[int], dimensions: int) -> list[float]:
    """A unit vector of float32 values that depends only on the input and the dimension count."""
    key = item if isinstance(item, str) else json.dumps(item)
    raw = struct.unpack(f"<{dimensions}I", hashlib.shake_256(key.encode()).digest(4 * dimensions))
    centred = [value / 2**31 - 1.0 for value in raw]
    norm = sum(value * value for value in centred) ** 0.5 or 1.0
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in centred))))


def encode_base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


def decode_base64(encoded: str) -> list[float]:
    raw = base64.b64decode(encoded)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def embeddings(body: dict[str, Any], model: str, default_dimensions: int) -> dict[str, Any]:
    inputs = embedding_inputs(body.get("input"))
    dimensions = body.get("dimensions") or default_dimensions
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = embedding_vector(item, dimensions)
        data.append(
            {
                "object": "embedding",
                "index": index,
                "embedding": encode_base64(vector) if as_base64 else vector,
            }
        )
    tokens = sum(count_words(item) if isinstance(item, str) else len(item) for item in inputs)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


# --- models -------------------------------------------------------------------------------------------


def model_object(model_id: str) -> dict[str, Any]:
    owner = "openai" if model_id.startswith(("text-embedding", "gpt-3.5")) else "system"
    return {"id": model_id, "object": "model", "created": MODEL_CREATED, "owned_by": owner}


def model_list() -> dict[str, Any]:
    return {"object": "list", "data": [model_object(model_id) for model_id in MODEL_IDS]}


def client_secret(body: dict[str, Any], value: str, now: int) -> dict[str, Any]:
    """A Realtime client secret as OpenAI mints it: the value, when it expires (``expires_after.seconds`` from now,
    600 by default) and the effective session (the request's, with its id and object)."""
    expires = body.get("expires_after") if isinstance(body.get("expires_after"), dict) else {}
    seconds = expires.get("seconds", 600)
    if not isinstance(seconds, int) or not 10 <= seconds <= 7200:
        message = "Invalid 'expires_after.seconds': expected an integer from 10 to 7200."
        raise BadRequest(message, param="expires_after.seconds")
    session = body.get("session") if isinstance(body.get("session"), dict) else {}
    effective = {"object": "realtime.session", "id": "sess_" + value[3:], **session, "expires_at": 0}
    return {"value": value, "expires_at": now + seconds, "session": effective}
