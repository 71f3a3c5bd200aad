"""Anthropic content blocks (text, image, document) → OpenAI content parts, and the surface's two refusals.

Split from anthropic_translate.py (the request as a whole); ``cache_control`` rides along on each part so that an
Anthropic upstream can restore it (decision 001: provider-only hints are extra fields of the canonical body)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wardgate.core.errors import InvalidRequest, UnsupportedOperation

SURFACE = "the Anthropic Messages surface"


def unsupported(feature: str, param: str) -> UnsupportedOperation:
    return UnsupportedOperation(f"{SURFACE} does not support {feature}", param=param)


def invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(f"{param}: {message}", param=param)


def with_cache_control(block: Mapping[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def text_part(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    text = block.get("text")
    if not isinstance(text, str):
        raise invalid("Field required (a string)", f"{where}.text")
    return with_cache_control(block, {"type": "text", "text": text})


def source_url(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source")
    if not isinstance(source, dict):
        raise invalid("Field required (an object)", f"{where}.source")
    return source


def image_part(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = source_url(block, where)
    kind = source.get("type")
    if kind == "base64":
        media_type, data = source.get("media_type"), source.get("data")
        if not isinstance(media_type, str) or not isinstance(data, str):
            raise invalid("a base64 source needs 'media_type' and 'data' strings", f"{where}.source")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        if not isinstance(source.get("url"), str):
            raise invalid("Field required (a string)", f"{where}.source.url")
        url = source["url"]
    else:
        raise unsupported(f"image sources of type '{kind}' (send base64 data or a URL)", f"{where}.source.type")
    if block.get("transformations"):
        raise unsupported("image transformations", f"{where}.transformations")
    return with_cache_control(block, {"type": "image_url", "image_url": {"url": url}})


def document_part(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    source = source_url(block, where)
    if block.get("context"):
        raise unsupported("document context", f"{where}.context")
    citations = block.get("citations")
    if isinstance(citations, dict) and citations.get("enabled"):
        raise unsupported("citations", f"{where}.citations")
    kind = source.get("type")
    if kind == "base64" and source.get("media_type") == "application/pdf" and isinstance(source.get("data"), str):
        title = block.get("title")
        file = {
            "filename": title if isinstance(title, str) and title else "document.pdf",
            "file_data": f"data:application/pdf;base64,{source['data']}",
        }
        return with_cache_control(block, {"type": "file", "file": file})
    if kind == "text" and isinstance(source.get("data"), str):
        return with_cache_control(block, {"type": "text", "text": source["data"]})
    raise unsupported(
        f"documents with a '{kind}' source (send a PDF as base64 data, or plain text)", f"{where}.source.type"
    )
