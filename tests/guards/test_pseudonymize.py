"""`action: pseudonymize`: per-request placeholders upstream, the values restored in the answer (JSON, streams split
at any offset, tool-call arguments)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import orjson
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.guards.helpers import call, content, relay, stage, start, text_chunk
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.core.call import Chunk

GUARD = {"name": "pseudo", "type": "pii", "on": "both", "action": "pseudonymize"}


def test_the_same_value_gets_the_same_placeholder_and_the_answer_is_restored_at_any_split() -> None:
    guards = stage(GUARD)
    text = "mail jane@example.org or +44 20 7946 0958, again jane@example.org"
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    c = call(body)
    start(guards, c)
    assert c.body["messages"][0]["content"] == "mail <EMAIL_1> or <PHONE_1>, again <EMAIL_1>"
    assert c.cache_options is not None and c.cache_options.control == "no-store"  # never shared through the cache
    answer = "Sure: <EMAIL_1> and <PHONE_1>; <UNKNOWN_9> stays."
    expected = "Sure: jane@example.org and +44 20 7946 0958; <UNKNOWN_9> stays."
    for cut in range(1, len(answer)):
        for second in (None, min(cut + 3, len(answer) - 1)):
            c2 = call(body={"model": "m", "messages": [{"role": "user", "content": text}]})
            start(guards, c2)
            cuts = [0, cut, *([second] if second and second > cut else []), len(answer)]
            parts = [answer[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
            chunks = [text_chunk(p) for p in parts[:-1]] + [text_chunk(parts[-1], finish="stop")]
            assert content(relay(guards, c2, chunks)) == expected, cuts


def test_tool_call_arguments_are_restored_inside_json() -> None:
    guards = stage(GUARD)
    c = call({"model": "m", "messages": [{"role": "user", "content": "email jane@example.org"}]})
    start(guards, c)
    arguments = orjson.dumps({"to": "<EMAIL_1>"}).decode()
    chunks = [
        Chunk({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "send", "arguments": arguments[:9]}}
        ]}}]}),
        Chunk({"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": arguments[9:]}}]}, "finish_reason": "tool_calls"}]}),
    ]  # fmt: skip
    out = relay(guards, c, chunks)
    released = [d for ch in out for d in ch.data["choices"][0]["delta"].get("tool_calls") or ()]
    assert orjson.loads(released[0]["function"]["arguments"]) == {"to": "jane@example.org"}


@pytest.fixture(scope="module")
def gw() -> Iterator[tuple[RunningGateway, FakeOpenAI]]:
    with (
        FakeOpenAI(api_key="sk-up").start() as fake,
        gateway_from_yaml(f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini}}]
guards:
  - {{name: pseudo, type: pii, on: both, action: pseudonymize}}
""") as gateway,
    ):
        yield gateway, fake


def test_upstream_sees_placeholders_and_the_client_its_values(gw: tuple[RunningGateway, FakeOpenAI]) -> None:
    gateway, fake = gw
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        answer = c.chat.completions.create(
            model="small", messages=[{"role": "user", "content": "I am jane@example.org"}]
        )
        assert fake.requests[-1].json["messages"][0]["content"] == "I am <EMAIL_1>"
        assert answer.choices[0].message.content == "echo: I am jane@example.org"
        stream = c.chat.completions.create(
            model="small", messages=[{"role": "user", "content": "I am jane@example.org"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "echo: I am jane@example.org"
