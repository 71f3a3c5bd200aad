"""OpenAI embeddings ⇄ Bedrock InvokeModel bodies of the embedding models, as pure functions.

The model family is read from the model id (which may carry an inference-profile prefix such as ``us.``):
- ``amazon.titan-embed-text-v2…``: ``{inputText, dimensions?, normalize: true}``, one text per call, answered with
  ``{embedding, inputTextTokenCount}``. OpenAI's vectors are unit length, hence ``normalize: true``. A batch is
  several calls, made concurrently, and answered in input order. Titan Text Embeddings G1 (``…-text-v1``) takes
  only ``inputText``.
- ``cohere.embed-…`` (v3): ``{texts, input_type: "search_document"}``, up to 96 texts a call, answered with
  ``{embeddings: [[…]]}`` (or ``{embeddings: {float: [[…]]}}`` when typed). Its token count is not in the body:
  Bedrock reports it in the ``X-Amzn-Bedrock-Input-Token-Count`` response header; without that header (or the
  ``meta.billed_units`` of Cohere's own API) the usage is 0.
``encoding_format: base64`` is produced here from the floats (little-endian float32, as OpenAI encodes them).
``user`` is ignored; token-array inputs and any other field are refused with a 400 naming them.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from wardgate.core.usage import Usage
from wardgate.providers.bedrock.translate import unsupported

Family = Literal["titan-v2", "titan-v1", "cohere"]
COHERE_BATCH = 96
TOKEN_COUNT_HEADER = "x-amzn-bedrock-input-token-count"
_KNOWN = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def family(model: str) -> Family:
    lowered = model.lower()
    if "cohere.embed" in lowered:
        return "cohere"
    if "amazon.titan-embed-text-v2" in lowered:
        return "titan-v2"
    if "amazon.titan-embed" in lowered:
        return "titan-v1"
    raise unsupported(
        f"embeddings with model {model!r} (Titan Text Embeddings and Cohere Embed models are supported)", "model"
    )


def texts(body: Mapping[str, Any]) -> list[str]:
    for key, value in body.items():
        if key not in _KNOWN and value is not None:
            raise unsupported(f"'{key}' for embeddings", key)
    raw = body["input"]
    items = [raw] if isinstance(raw, str) else raw
    if not all(isinstance(item, str) for item in items):
        raise unsupported("token arrays as embedding input (send text)", "input")
    return list(items)


def requests(body: Mapping[str, Any], model_family: Family, inputs: list[str]) -> list[dict[str, Any]]:
    """The InvokeModel bodies, in input order."""
    dimensions = body.get("dimensions")
    if model_family == "cohere":
        if dimensions is not None:
            raise unsupported("'dimensions' with Cohere Embed v3", "dimensions")
        return [
            {"texts": inputs[i : i + COHERE_BATCH], "input_type": "search_document"}
            for i in range(0, len(inputs), COHERE_BATCH)
        ]
    if model_family == "titan-v1":
        if dimensions is not None:
            raise unsupported("'dimensions' with Titan Text Embeddings G1", "dimensions")
        return [{"inputText": text} for text in inputs]
    extra: dict[str, Any] = {"dimensions": dimensions} if dimensions is not None else {}
    return [{"inputText": text, **extra, "normalize": True} for text in inputs]


def vectors_and_tokens(
    model_family: Family, answer: Mapping[str, Any], headers: Mapping[str, str]
) -> tuple[list[list[float]], int]:
    """The vectors of one InvokeModel answer and the input tokens it reports."""
    header = headers.get(TOKEN_COUNT_HEADER)
    if model_family == "cohere":
        found = answer.get("embeddings")
        vectors = found.get("float") if isinstance(found, dict) else found
        if header is not None:
            tokens = int(header)
        else:
            tokens = int(((answer.get("meta") or {}).get("billed_units") or {}).get("input_tokens") or 0)
        return list(vectors or []), tokens
    count = answer.get("inputTextTokenCount")
    tokens = int(count) if count is not None else int(header or 0)
    return [answer["embedding"]], tokens


def from_wire(
    vectors: Sequence[Sequence[float]], tokens: int, *, model: str, encoding_format: str | None
) -> tuple[dict[str, Any], Usage]:
    as_base64 = encoding_format == "base64"
    data = [
        {"object": "embedding", "index": index, "embedding": _base64(vector) if as_base64 else list(vector)}
        for index, vector in enumerate(vectors)
    ]
    body = {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return body, Usage(input_tokens=tokens)


def _base64(vector: Sequence[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
