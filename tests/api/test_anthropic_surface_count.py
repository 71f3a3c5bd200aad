"""Offline prompt-token counting for /v1/messages/count_tokens: the rules, with and without the BPE tokenizer."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from wardgate.api.anthropic_count import (
    IMAGE_TOKENS,
    MESSAGE_TOKENS,
    PDF_PAGE_TOKENS,
    REPLY_TOKENS,
    TextCounter,
    estimate,
    load_counter,
    pdf_pages,
    prompt_tokens,
)


def words(text: str) -> int:
    """A stand-in tokenizer, so the rules are checked independently of any BPE."""
    return len(text.split())


def test_each_message_costs_its_text_plus_a_fixed_overhead() -> None:
    body = {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "one two three"}]}
    assert prompt_tokens(body, words) == REPLY_TOKENS + 2 * MESSAGE_TOKENS + 2 + 3


def test_tool_calls_tools_and_thinking_count_as_text() -> None:
    function = {"name": "get_weather", "parameters": {"type": "object"}}
    body = {
        "messages": [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "a b"}}],
                "thinking_blocks": [{"type": "thinking", "thinking": "x y z", "signature": "s"}],
            }
        ],
        "tools": [{"type": "function", "function": function}],
    }
    tool_text = orjson.dumps(function).decode()
    assert prompt_tokens(body, words) == REPLY_TOKENS + MESSAGE_TOKENS + 1 + 2 + 3 + words(tool_text)


def test_images_and_pdf_pages_cost_a_fixed_amount() -> None:
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Pages /Count 2 >>\n2 0 obj << /Type /Page >>\n3 0 obj <</Type/Page>>\n"
    data_url = "data:application/pdf;base64," + base64.b64encode(pdf).decode()
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": data_url}},
    ]
    body = {"messages": [{"role": "user", "content": parts}]}
    assert pdf_pages(data_url) == 2
    assert prompt_tokens(body, words) == REPLY_TOKENS + MESSAGE_TOKENS + IMAGE_TOKENS + 2 * PDF_PAGE_TOKENS


def test_a_pdf_without_readable_pages_counts_one() -> None:
    assert pdf_pages("data:application/pdf;base64,!!!") == 1
    assert pdf_pages(None) == 1


def test_without_a_tokenizer_four_characters_make_a_token() -> None:
    assert estimate("") == 0
    assert estimate("abcd") == 1
    assert estimate("abcde") == 2


async def test_the_counter_loads_once_per_worker() -> None:
    counter = TextCounter()
    first = await counter.get()
    assert await counter.get() is first


def test_with_the_shipped_bpe_text_is_counted_in_cl100k_tokens() -> None:
    count = load_counter()
    assert count is not estimate
    assert count("hello world") == 2
    assert count("<|endoftext|>") > 1  # special tokens in a prompt are text, never a control token
    assert prompt_tokens({"messages": [{"role": "user", "content": "hello world"}]}, count) == 8
