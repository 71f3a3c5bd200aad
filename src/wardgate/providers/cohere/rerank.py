"""Pure translation between the gateway's rerank request (Cohere's own shape) and Cohere's ``POST /v2/rerank``.

The request is Cohere's already: documents given as v1 objects (``{"text": …}``) become v2 strings, and the fields
v2 knows pass through. ``return_documents`` (v1) is served by the gateway: v2 answers only indexes, so each result
gets its document back from the request. Usage: ``meta.billed_units.search_units`` (what Cohere bills, priced by
``price.search_units``) and the input tokens Cohere reports in ``meta.tokens``, when it does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.core.usage import Usage
from wardgate.providers.cohere.translate import unsupported

_PASSTHROUGH = ("top_n", "max_tokens_per_doc", "priority")
_HANDLED = frozenset({"model", "query", "documents", "return_documents", *_PASSTHROUGH})


def texts_of(documents: list[Any]) -> list[str]:
    return [d if isinstance(d, str) else str(d.get("text") or "") for d in documents]


def rerank_to_wire(body: Mapping[str, Any], model: str) -> dict[str, Any]:
    wire: dict[str, Any] = {"model": model, "query": body["query"], "documents": texts_of(body["documents"])}
    for key, value in body.items():
        if value is None:
            continue
        if key in _PASSTHROUGH:
            wire[key] = value
        elif key not in _HANDLED:
            raise unsupported(key, key)
    return wire


def rerank_usage(body: Mapping[str, Any]) -> Usage:
    meta = body.get("meta") or {}
    billed = meta.get("billed_units") or {}
    counted = meta.get("tokens") or {}
    return Usage(
        input_tokens=int(counted.get("input_tokens") or billed.get("input_tokens") or 0),
        search_units=int(billed.get("search_units") or 0),
    )


def rerank_answer(answer: dict[str, Any], request: Mapping[str, Any]) -> dict[str, Any]:
    """Cohere's answer as the client gets it: with each result's document when ``return_documents`` asked."""
    if request.get("return_documents"):
        texts = texts_of(request["documents"])
        for result in answer.get("results") or []:
            index = result.get("index") if isinstance(result, dict) else None
            if isinstance(index, int) and 0 <= index < len(texts):
                result["document"] = {"text": texts[index]}
    return answer
