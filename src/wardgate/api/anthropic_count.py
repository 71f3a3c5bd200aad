"""Prompt tokens of a canonical chat body, counted offline, for ``POST /v1/messages/count_tokens``.

Anthropic's tokenizer is not public, and neither are most providers'; this count is an estimate of the same kind
their own client-side estimates are. Text is counted with OpenAI's ``cl100k_base`` BPE from the vocabulary the package
ships (accounting/tokens.py, decision 002: nothing is downloaded); without it, four characters a token.

What is counted: every message 3 tokens plus its text (content parts, tool-call names and arguments, thinking
text); 3 tokens for the reply's priming; each tool's name, description and JSON schema as JSON text. Images cost
a fixed ``IMAGE_TOKENS``: the most Anthropic charges for one image (width × height / 750 at its 1.15 megapixel
limit), since their size is not decoded here. A PDF costs ``PDF_PAGE_TOKENS`` a page (pages counted from its page
objects).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from wardgate.usage import tokens

IMAGE_TOKENS = 1600
PDF_PAGE_TOKENS = 1600
MESSAGE_TOKENS = 3
REPLY_TOKENS = 3

_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")
Counter = Callable[[str], int]


def estimate(text: str) -> int:
    """About four characters a token, the rule of thumb when no tokenizer is installed."""
    return math.ceil(len(text) / 4)


def load_counter() -> Counter:
    try:
        encoding = tokens.encoding(tokens.CL100K)
    except tokens.EncodingUnavailable:  # the shipped vocabulary is missing: estimate rather than download
        return estimate

    def count(text: str) -> int:
        return len(encoding.encode_ordinary(text))

    return count


class TextCounter:
    """The text counter of one worker: the BPE file is read once, off the event loop."""

    __slots__ = ("_count",)

    def __init__(self) -> None:
        self._count: Counter | None = None

    async def get(self) -> Counter:
        if self._count is None:
            self._count = await asyncio.to_thread(load_counter)
        return self._count


def prompt_tokens(body: Mapping[str, Any], count: Counter) -> int:
    total = REPLY_TOKENS
    for message in body.get("messages") or []:
        total += MESSAGE_TOKENS + _content_tokens(message.get("content"), count)
        for call in message.get("tool_calls") or []:
            fn = call.get("function") or {}
            total += count(str(fn.get("name") or "")) + count(str(fn.get("arguments") or ""))
        for block in message.get("thinking_blocks") or []:
            total += count(str(block.get("thinking") or ""))
    for tool in body.get("tools") or []:
        total += count(orjson.dumps(tool.get("function") or {}).decode())
    return total


def _content_tokens(content: Any, count: Counter) -> int:
    if isinstance(content, str):
        return count(content)
    if not isinstance(content, list):
        return 0
    return sum(_part_tokens(part, count) for part in content if isinstance(part, dict))


def _part_tokens(part: Mapping[str, Any], count: Counter) -> int:
    kind = part.get("type")
    if kind == "text":
        return count(str(part.get("text") or ""))
    if kind == "image_url":
        return IMAGE_TOKENS
    if kind == "file":
        return PDF_PAGE_TOKENS * pdf_pages((part.get("file") or {}).get("file_data"))
    return 0


def pdf_pages(data_url: Any) -> int:
    """Pages of a PDF sent as a base64 ``data:`` URL; at least one."""
    if not isinstance(data_url, str):
        return 1
    try:
        raw = base64.b64decode(data_url.partition(",")[2], validate=False)
    except (binascii.Error, ValueError):
        return 1
    return max(1, len(_PAGE.findall(raw)))
