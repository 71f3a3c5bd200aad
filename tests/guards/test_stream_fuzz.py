"""Streaming: a value split at any offset over 1–5 chunks is never released, in the OpenAI chunks and in the
Anthropic events made from them; the hold-back stays bounded; tool calls are released only once checked.

The case count is asserted (>= 10,000: over 5,000 split streams, each checked in both formats), so the fuzz cannot
shrink silently."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from tests.guards.helpers import call, content, relay, stage, start, text_chunk
from tests.guards.test_detectors import SECRETS
from wardgate.api.anthropic_stream import MessageStream, encode
from wardgate.core.call import Chunk
from wardgate.guards.errors import GuardBlocked
from wardgate.guards.scan import redact

GUARDS = (
    {"name": "pii", "type": "pii", "on": "response", "action": "redact", "sensitivity": "strict"},
    {"name": "secrets", "type": "secrets", "on": "response", "action": "redact"},
)
PII_VALUES = [
    "jane.doe+tag@mail.example.org",
    "+1 415 555 0132",
    "(415) 555-0132",
    "020 7946 0958",
    "4111 1111 1111 1111",
    "5500-0000-0000-0004",
    "GB82 WEST 1234 5698 7654 32",
    "DE89370400440532013000",
    "203.0.113.77",
    "2001:db8:85a3::8a2e:370:7334",
    "078-05-1120",
    "AB 12 34 56 C",
    "2 55 08 14 168 025 38",
    "12345678Z",
    "RSSMRA85T10A562S",
    "811218-9876",
    "529.982.247-25",
]
VALUES = PII_VALUES + [value for _, value in SECRETS]


def splits(n: int, rng: random.Random) -> list[list[int]]:
    """Cut points: every single offset, then each offset with 1–3 more random cuts (3–5 chunks)."""
    out = [[]] + [[i] for i in range(1, n)]
    for i in range(1, n):
        for extra in (1, 2, 3):
            cuts = {i, *rng.sample(range(1, n), min(extra, n - 1))}
            out.append(sorted(cuts))
    return out


def pieces(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def anthropic_text(chunks: list[Chunk]) -> str:
    stream = MessageStream("m", "msg_1")
    events = []
    for chunk in chunks:
        events.extend(stream.feed(chunk.data, chunk.usage))
    text = ""
    for name, data in events:
        if name == "content_block_delta" and data["delta"]["type"] == "text_delta":
            text += data["delta"]["text"]
    assert encode(events)  # the events encode (as the surface sends them)
    return text


def test_no_value_leaks_whatever_the_split() -> None:
    rng = random.Random(14)
    guards = stage(*GUARDS)
    cases = 0
    for value in VALUES:
        text = f"Sure: {value} is it."
        probe = call()
        start(guards, probe)
        assert probe.guards is not None
        scanner = probe.guards.response  # type: ignore[attr-defined]
        expected = redact(text, scanner.hits(text))
        assert value not in expected, value
        for cuts in splits(len(text), rng):
            c = call()
            start(guards, c)
            parts = pieces(text, cuts)
            chunks = [text_chunk("", role=True)] + [text_chunk(p) for p in parts[:-1]]
            chunks.append(text_chunk(parts[-1], finish="stop"))
            out = relay(guards, c, chunks)
            got = content(out)
            assert got == expected, (value, cuts)
            assert anthropic_text(out) == expected
            held = [r.held for r in c.guards.texts.values()]  # type: ignore[attr-defined]
            assert max(held) <= guards.holdback
            cases += 2  # one stream, checked as the OpenAI chunks and as the Anthropic events
    assert cases >= 10_000


@pytest.mark.parametrize(
    "value",
    [
        "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z" * 5,  # 168 characters, far past the 64 held back
        "-----BEGIN PRIVATE KEY-----\n" + "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n" * 6 + "-----END PRIVATE KEY-----",
    ],
)
def test_values_longer_than_the_hold_back_are_cut_from_their_start(value: str) -> None:
    guards = stage(*GUARDS)
    text = f"Here: {value} done."
    for size in (1, 3, 7, 16):
        c = call()
        start(guards, c)
        chunks = [text_chunk(text[i : i + size]) for i in range(0, len(text), size)]
        chunks[-1] = text_chunk(chunks[-1].data["choices"][0]["delta"]["content"], finish="stop")
        out = relay(guards, c, chunks)
        got = content(out)
        secret = value.split("-----")[2] if value.startswith("-----") else value[8:]
        assert secret[:12] not in got and secret[-12:] not in got
        assert got.startswith("Here: [") and got.endswith(" done.")


def test_the_first_words_are_not_held_back_for_the_whole_window() -> None:
    guards = stage(*GUARDS)
    c = call()
    start(guards, c)
    out = relay(guards, c, [text_chunk("", role=True), text_chunk("Hello"), text_chunk(" there"), text_chunk(" you")])
    assert content(out) == "Hello there "  # a word is released once the next one starts, not after 64 characters


def _tool_chunk(
    index: int, *, id_: str | None = None, name: str | None = None, args: str = "", finish: Any = None
) -> Chunk:
    delta: dict[str, Any] = {"index": index, "function": {"arguments": args}}
    if id_:
        delta.update(id=id_, type="function")
        delta["function"]["name"] = name
    return Chunk({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [delta]}, "finish_reason": finish}]})


def _tool_stream(arguments: str) -> list[Chunk]:
    chunks = [_tool_chunk(0, id_="call_1", name="send_mail")]
    chunks += [_tool_chunk(0, args=arguments[i : i + 5]) for i in range(0, len(arguments), 5)]
    chunks += [_tool_chunk(1, id_="call_2", name="noop", args="{}")]
    chunks.append(Chunk({"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}))
    return chunks


def test_tool_call_arguments_are_released_whole_and_checked() -> None:
    guards = stage(*GUARDS)
    c = call()
    start(guards, c)
    arguments = orjson.dumps({"to": "jane.doe@example.org", "body": "hi"}).decode()
    out = relay(guards, c, _tool_stream(arguments))
    released = [d for chunk in out for d in chunk.data["choices"][0]["delta"].get("tool_calls") or ()]
    assert [d["function"]["name"] for d in released] == ["send_mail", "noop"]
    assert orjson.loads(released[0]["function"]["arguments"]) == {"to": "[EMAIL]", "body": "hi"}
    assert released[0]["id"] == "call_1"
    # the Anthropic surface makes tool_use blocks of the released calls, with the checked arguments
    stream = MessageStream("m", "msg_1")
    events = [e for chunk in out for e in stream.feed(chunk.data, chunk.usage)]
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert [(b["type"], b["name"]) for b in starts] == [("tool_use", "send_mail"), ("tool_use", "noop")]
    partial = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta" and d["index"] == 0)
    assert orjson.loads(partial) == {"to": "[EMAIL]", "body": "hi"}


def test_a_blocked_tool_call_never_reaches_the_client() -> None:
    guards = stage({"name": "nokeys", "type": "secrets", "on": "response", "action": "block"})
    c = call()
    start(guards, c)
    arguments = orjson.dumps({"key": "AKIAIOSFODNN7EXAMPLE"}).decode()
    chunks = _tool_stream(arguments)
    released = []
    with pytest.raises(GuardBlocked) as caught:
        for chunk in chunks:
            seen = guards.on_chunk(c, chunk)
            if seen is not None:
                released.extend(seen.data["choices"][0]["delta"].get("tool_calls") or ())
    assert released == [] and caught.value.param == "nokeys" and caught.value.code == "guard_blocked"
    assert "AKIA" not in caught.value.message
