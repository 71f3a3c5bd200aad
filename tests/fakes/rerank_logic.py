"""What the fakes answer to rerank requests: pure and deterministic.

Cohere (``POST /v2/rerank``, docs.cohere.com/reference/rerank) and the Cohere-compatible ``POST /v1/rerank`` of Jina,
vLLM and Together. A document's relevance is the share of the query's distinct words it contains (0 to 1); results
come best first (ties by index), cut to ``top_n``. Tokens: one per word of the query, counted once per document, plus
the words of every document. Cohere bills one search unit per 100 documents (``meta.billed_units.search_units``); the
Cohere-compatible servers report ``usage.total_tokens``.
"""

from __future__ import annotations

import math
from typing import Any

COHERE_FIELDS = frozenset({"model", "query", "documents", "top_n", "max_tokens_per_doc", "priority"})


class RerankError(ValueError):
    pass


def _texts(documents: Any) -> list[str]:
    if not isinstance(documents, list) or not documents:
        raise RerankError("documents must be a non-empty array")
    return [d if isinstance(d, str) else str((d or {}).get("text") or "") for d in documents]


def ranked(body: dict[str, Any]) -> list[tuple[int, float]]:
    query = body.get("query")
    if not isinstance(query, str) or not query:
        raise RerankError("query is required")
    words = set(query.lower().split())
    texts = _texts(body.get("documents"))
    scores = [(i, round(len(words & set(t.lower().split())) / len(words), 4)) for i, t in enumerate(texts)]
    scores.sort(key=lambda pair: (-pair[1], pair[0]))
    top_n = body.get("top_n")
    return scores[:top_n] if isinstance(top_n, int) and top_n > 0 else scores


def tokens(body: dict[str, Any]) -> int:
    texts = _texts(body.get("documents"))
    query_words = len(str(body.get("query")).split())
    return sum(query_words + len(t.split()) for t in texts)


def search_units(body: dict[str, Any]) -> int:
    return math.ceil(len(_texts(body.get("documents"))) / 100)


def check_cohere(body: Any) -> None:
    if not isinstance(body, dict):
        raise RerankError("invalid request body")
    unknown = sorted(set(body) - COHERE_FIELDS)
    if unknown:
        raise RerankError(f"invalid request: unknown field {unknown[0]}")
    if not isinstance(body.get("model"), str):
        raise RerankError("model is required")
    if not all(isinstance(d, str) for d in _texts(body.get("documents"))):
        raise RerankError("documents must be strings")


def cohere_answer(body: dict[str, Any], answer_id: str) -> dict[str, Any]:
    return {
        "id": answer_id,
        "results": [{"index": i, "relevance_score": s} for i, s in ranked(body)],
        "meta": {
            "api_version": {"version": "2"},
            "billed_units": {"search_units": search_units(body)},
            "tokens": {"input_tokens": tokens(body)},
        },
    }


def compatible_answer(body: dict[str, Any], model: str, answer_id: str) -> dict[str, Any]:
    texts = _texts(body.get("documents"))
    results = []
    for i, s in ranked(body):
        result: dict[str, Any] = {"index": i, "relevance_score": s}
        if body.get("return_documents"):
            result["document"] = {"text": texts[i]}
        results.append(result)
    return {"id": answer_id, "model": model, "results": results, "usage": {"total_tokens": tokens(body)}}
