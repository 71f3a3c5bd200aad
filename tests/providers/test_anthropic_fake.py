"""The Anthropic fake speaks the real wire format: Anthropic's own SDK, validating strictly, reads it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from tests.fakes.anthropic import FakeAnthropic

KEY = "sk-ant-fake-key"
TOOL: Any = {
    "name": "get_weather",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(KEY, cache_read_tokens=3, cache_creation_tokens=4) as f:
        yield f


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    fake.reset()
    with anthropic.Anthropic(api_key=KEY, base_url=fake.url, max_retries=0, _strict_response_validation=True) as c:
        yield c


def test_a_message_parses_and_reports_the_configured_cache_numbers(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-x", max_tokens=100, system="s", messages=[{"role": "user", "content": "hello you"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "echo: hello you"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 4 + 5  # (3 + 1 word of system) + (3 + 2 words)
    assert (message.usage.cache_read_input_tokens, message.usage.cache_creation_input_tokens) == (3, 4)
    assert message.usage.output_tokens == 3


def test_a_stream_accumulates_to_the_same_message(client: anthropic.Anthropic, fake: FakeAnthropic) -> None:
    kwargs: Any = {
        "model": "claude-x",
        "max_tokens": 2000,
        "messages": [{"role": "user", "content": "weather?"}],
        "tools": [TOOL],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    plain = client.messages.create(**kwargs)
    with client.messages.stream(**kwargs) as stream:
        streamed = stream.get_final_message()
    assert [b.to_dict() for b in streamed.content] == [b.to_dict() for b in plain.content]
    assert streamed.stop_reason == plain.stop_reason == "tool_use"
    assert streamed.usage.output_tokens == plain.usage.output_tokens
    assert streamed.usage.input_tokens == plain.usage.input_tokens
    assert fake.last.headers["anthropic-version"]


def test_errors_have_anthropics_shape_and_statuses(client: anthropic.Anthropic) -> None:
    messages: Any = [{"role": "user", "content": "x"}]
    with pytest.raises(anthropic.RateLimitError) as limited:
        client.messages.create(model="error-429", max_tokens=5, messages=messages)
    assert limited.value.response.headers["retry-after"] == "7"
    assert limited.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": limited.value.body["error"]["message"]},  # type: ignore[index]
        "request_id": limited.value.body["request_id"],  # type: ignore[index]
    }
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(model="error-529", max_tokens=5, messages=messages)
    with pytest.raises(anthropic.BadRequestError, match="roles must alternate"):
        client.messages.create(model="m", max_tokens=5, messages=[*messages, *messages])
    with pytest.raises(anthropic.BadRequestError, match="tool_use_id"):
        client.messages.create(
            model="m",
            max_tokens=5,
            messages=[{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_nope"}]}],
        )


def test_a_wrong_key_is_an_authentication_error(fake: FakeAnthropic) -> None:
    with (
        anthropic.Anthropic(api_key="sk-ant-wrong", base_url=fake.url, max_retries=0) as c,
        pytest.raises(anthropic.AuthenticationError),
    ):
        c.messages.create(model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}])


def test_an_error_event_mid_stream_is_raised_by_the_sdk(client: anthropic.Anthropic) -> None:
    text = ""
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded_error"),
        client.messages.stream(
            model="error-stream", max_tokens=50, messages=[{"role": "user", "content": "a b"}]
        ) as stream,
    ):
        for piece in stream.text_stream:
            text += piece
    assert text == "echo:"
