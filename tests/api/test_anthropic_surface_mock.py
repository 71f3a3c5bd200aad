"""The Anthropic surface in front of the built-in mock provider, driven by the official ``anthropic`` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx2
import pytest

from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.api.anthropic_count import TextCounter, prompt_tokens
from wardgate.api.anthropic_translate import to_canonical
from wardgate.store.usage import by_request_id

CONFIG = """
providers:
  demo: {type: mock}
models:
  claude-mock:
    - {provider: demo, model: demo-chat}
"""
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER: Any = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningGateway]:
    with gateway_from_yaml(CONFIG) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.root, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(gateway: RunningGateway) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=gateway.root, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def text_of(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def test_a_text_answer_with_a_system_prompt(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-mock", max_tokens=100, system="Be brief.", messages=[{"role": "user", "content": "ping"}]
    )
    assert text_of(message) == "Hello from Wardgate's mock provider. You said: ping"
    assert message.model == "claude-mock" and message.role == "assistant" and message.type == "message"
    assert message.id.startswith("msg_")
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    assert message._request_id is not None


def test_the_request_id_is_the_gateways_and_the_clients_own_is_echoed(
    client: anthropic.Anthropic, gateway: RunningGateway
) -> None:
    raw = client.messages.with_raw_response.create(
        model="claude-mock",
        max_tokens=10,
        messages=[{"role": "user", "content": "ping"}],
        extra_headers={"x-client-request-id": "trace-7"},
    )
    ours = raw.headers["x-wardgate-request-id"]
    assert ours != "trace-7" and raw.headers["request-id"] == ours == raw.headers["x-request-id"]
    assert raw.parse()._request_id == ours  # what the Anthropic SDK reports
    assert raw.headers["x-wardgate-client-request-id"] == "trace-7"
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, ours))
    assert row is not None and row["client_request_id"] == "trace-7" and row["surface"] == "anthropic"


async def test_a_streamed_answer_equals_the_plain_answer(aclient: anthropic.AsyncAnthropic) -> None:
    kwargs: dict[str, Any] = {
        "model": "claude-mock",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "a b c"}],
    }
    plain = await aclient.messages.create(**kwargs)
    async with aclient.messages.stream(**kwargs) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == text_of(plain) == text_of(final)
    assert len(pieces) > 1
    assert final.usage == plain.usage
    assert final.stop_reason == "end_turn"


def test_a_tool_round_trip(client: anthropic.Anthropic) -> None:
    question: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.messages.create(model="claude-mock", max_tokens=100, tools=[WEATHER], messages=question)
    assert first.stop_reason == "tool_use"
    (call,) = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "example"}
    result: Any = {"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees"}
    second = client.messages.create(
        model="claude-mock",
        max_tokens=100,
        tools=[WEATHER],
        messages=[*question, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}],
    )
    assert second.stop_reason == "end_turn"
    assert text_of(second) == "The tool answered: 18 degrees"


def test_a_streamed_tool_call_carries_its_input(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="claude-mock", max_tokens=100, tools=[WEATHER], messages=[{"role": "user", "content": "Weather?"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [("tool_use", {"city": "example"})]


def test_an_image_reaches_the_model(client: anthropic.Anthropic) -> None:
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    message = client.messages.create(
        model="claude-mock",
        max_tokens=100,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "what is this"}]}],
    )
    assert text_of(message) == "Hello from Wardgate's mock provider. You said: [image] what is this"


def test_stop_sequences_cut_the_answer(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-mock", max_tokens=100, stop_sequences=["You said"], messages=[{"role": "user", "content": "x"}]
    )
    assert text_of(message) == "Hello from Wardgate's mock provider. "


async def test_count_tokens_counts_the_translated_request(aclient: anthropic.AsyncAnthropic) -> None:
    request: dict[str, Any] = {
        "model": "claude-mock",
        "system": "Be brief.",
        "tools": [WEATHER],
        "messages": [{"role": "user", "content": "How is the weather in Paris today?"}],
    }
    counted = await aclient.messages.count_tokens(**request)
    expected = prompt_tokens(to_canonical(request, counting=True), await TextCounter().get())
    assert counted.input_tokens == expected > 0


def test_a_wrong_key_is_an_authentication_error(gateway: RunningGateway) -> None:
    with anthropic.Anthropic(base_url=gateway.root, api_key="sk-wrong", max_retries=0) as c:
        with pytest.raises(anthropic.AuthenticationError) as caught:
            c.messages.create(model="claude-mock", max_tokens=10, messages=[{"role": "user", "content": "x"}])
        assert caught.value.status_code == 401
        assert caught.value.type == "authentication_error"
        with pytest.raises(anthropic.AuthenticationError):
            c.messages.count_tokens(model="claude-mock", messages=[{"role": "user", "content": "x"}])


def test_the_key_may_come_as_a_bearer_token(gateway: RunningGateway) -> None:
    with anthropic.Anthropic(base_url=gateway.root, auth_token=MASTER_KEY, max_retries=0) as c:
        message = c.messages.create(model="claude-mock", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert message.stop_reason in ("end_turn", "max_tokens")


def test_an_unknown_model_is_not_found(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="claude-nope", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.type == "not_found_error"
    assert "claude-nope" in (caught.value.api_message or "")
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="claude-nope", messages=[{"role": "user", "content": "x"}])


def test_a_server_tool_is_refused_naming_it(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(
            model="claude-mock",
            max_tokens=10,
            tools=[{"type": "web_search_20250305", "name": "web_search"}],
            messages=[{"role": "user", "content": "x"}],
        )
    assert caught.value.type == "invalid_request_error"
    assert "web_search_20250305" in (caught.value.api_message or "")


def test_a_missing_max_tokens_is_an_anthropic_invalid_request(gateway: RunningGateway) -> None:
    response = httpx2.post(
        gateway.root + "/v1/messages",
        headers={"x-api-key": MASTER_KEY, "anthropic-version": "2023-06-01"},
        json={"model": "claude-mock", "messages": [{"role": "user", "content": "x"}]},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("max_tokens:")
    assert body["request_id"] == response.headers["request-id"]


def test_a_body_that_is_not_json_is_an_invalid_request(gateway: RunningGateway) -> None:
    response = httpx2.post(gateway.root + "/v1/messages", headers={"x-api-key": MASTER_KEY}, content=b"{not json")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
