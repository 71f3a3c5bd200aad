"""OpenAI embeddings ⇄ Gemini ``embedContent``/``batchEmbedContents`` and Vertex ``predict``, as pure functions.

``dimensions`` becomes ``outputDimensionality``; ``encoding_format: base64`` is produced here (little-endian
float32, as OpenAI sends it), since Google only answers with floats. Token ids cannot be sent (Google tokenises by
itself). Usage: Vertex reports each input's ``statistics.token_count`` and those are summed; the Gemini API reports
no token counts for embeddings, so its usage is 0 rather than an estimate.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from wardgate.core.errors import InvalidRequest, UnsupportedOperation, UpstreamError

_FIELDS = frozenset({"model", "input", "dimensions", "encoding_format", "user"})


def embedding_inputs(body: Mapping[str, Any], provider: str) -> list[str]:
    for key in body:
        if key not in _FIELDS:
            raise UnsupportedOperation(f"{provider} does not support '{key}' for embeddings", param=key)
    if body.get("encoding_format") not in (None, "float", "base64"):
        raise InvalidRequest("encoding_format must be 'float' or 'base64'", param="encoding_format")
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs:
        raise InvalidRequest("'input' must be a non-empty string or array of strings", param="input")
    for item in inputs:
        if not isinstance(item, str):
            raise UnsupportedOperation(f"{provider} does not support token ids as embedding input", param="input")
    return inputs


def _content(text: str) -> dict[str, Any]:
    return {"parts": [{"text": text}]}


def gemini_request(body: Mapping[str, Any], model: str) -> tuple[str, dict[str, Any]]:
    """(method, body): ``embedContent`` for one input, ``batchEmbedContents`` for several."""
    inputs = embedding_inputs(body, "gemini")
    extra = {"outputDimensionality": body["dimensions"]} if body.get("dimensions") is not None else {}
    if len(inputs) == 1:
        return "embedContent", {"content": _content(inputs[0]), **extra}
    name = model if "/" in model else f"models/{model}"
    return "batchEmbedContents", {"requests": [{"model": name, "content": _content(t), **extra} for t in inputs]}


def gemini_vectors(body: Mapping[str, Any]) -> list[list[float]]:
    if "embedding" in body:
        return [list(body["embedding"].get("values") or [])]
    if "embeddings" in body:
        return [list(e.get("values") or []) for e in body["embeddings"]]
    raise UpstreamError("gemini: the provider's embeddings answer had no embeddings.")


def vertex_request(body: Mapping[str, Any]) -> dict[str, Any]:
    inputs = embedding_inputs(body, "vertex")
    wire: dict[str, Any] = {"instances": [{"content": text} for text in inputs]}
    if body.get("dimensions") is not None:
        wire["parameters"] = {"outputDimensionality": body["dimensions"]}
    return wire


def vertex_vectors(body: Mapping[str, Any]) -> tuple[list[list[float]], int]:
    """(vectors, input tokens) of a ``predict`` answer."""
    predictions = body.get("predictions")
    if not isinstance(predictions, list):
        raise UpstreamError("vertex: the provider's embeddings answer had no predictions.")
    vectors, tokens = [], 0
    for prediction in predictions:
        embeddings = prediction.get("embeddings") or {}
        vectors.append(list(embeddings.get("values") or []))
        tokens += int((embeddings.get("statistics") or {}).get("token_count") or 0)
    return vectors, tokens


def openai_embeddings(vectors: list[list[float]], model: str, encoding: str | None, tokens: int) -> dict[str, Any]:
    data = []
    for index, vector in enumerate(vectors):
        value: Any = vector
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
