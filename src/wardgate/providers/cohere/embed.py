"""Pure translation between the OpenAI embeddings request and answer and Cohere's ``POST /v2/embed``.

Only floats are asked for (``embedding_types: ["float"]``); ``encoding_format: base64`` is encoded here, as OpenAI
does it (little-endian float32). Usage is ``meta.billed_units.input_tokens``, the count Cohere reports for Embed.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from typing import Any

from wardgate.core.errors import InvalidRequest
from wardgate.core.usage import Usage
from wardgate.providers.cohere.translate import unsupported

IGNORED_EMBED_FIELDS = frozenset({"user"})
PASSTHROUGH_EMBED_FIELDS = ("truncate", "max_tokens", "priority")


def embed_to_wire(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The ``POST /v2/embed`` body for an OpenAI embeddings request (text inputs only)."""
    data = body.get("input")
    texts = [data] if isinstance(data, str) else data
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise unsupported("token arrays as embedding input (send text)", "input")
    input_type = body.get("input_type") or "search_document"
    if not isinstance(input_type, str):
        raise InvalidRequest("'input_type' must be a string.", param="input_type")
    wire: dict[str, Any] = {"model": model, "texts": texts, "input_type": input_type, "embedding_types": ["float"]}
    if body.get("dimensions") is not None:
        wire["output_dimension"] = body["dimensions"]
    for key, value in body.items():
        if value is None or key in ("model", "input", "input_type", "dimensions", "encoding_format"):
            continue
        if key in PASSTHROUGH_EMBED_FIELDS:
            wire[key] = value
        elif key not in IGNORED_EMBED_FIELDS:
            raise unsupported(key, key)
    return wire


def embed_usage_from_wire(body: Mapping[str, Any]) -> Usage:
    meta = body.get("meta") or {}
    units = meta.get("billed_units") or meta.get("tokens") or {}
    return Usage(input_tokens=int(units.get("input_tokens") or 0))


def embed_from_wire(body: Mapping[str, Any], model: str, *, encoding_format: str = "float") -> dict[str, Any]:
    """The OpenAI embeddings list for a ``POST /v2/embed`` answer; ``base64`` is little-endian float32, as OpenAI."""
    vectors = (body.get("embeddings") or {}).get("float") or []
    data = []
    for i, vector in enumerate(vectors):
        value: Any = vector
        if encoding_format == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": value})
    tokens = embed_usage_from_wire(body).input_tokens
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
