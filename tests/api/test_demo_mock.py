"""The built-in mock provider behind the OpenAI surface, driven by the official SDK (what `make run` serves)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator

import openai
import pytest

from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

CONFIG = """
providers:
  demo: {type: mock, embedding_dim: 16}
models:
  chat-model:
    - {provider: demo, model: demo-chat}
  embed-model:
    - {provider: demo, model: demo-embed}
"""


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningGateway]:
    with gateway_from_yaml(CONFIG) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def test_a_chat_answer_echoes_the_prompt_and_reports_usage(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="chat-model", messages=[{"role": "user", "content": "ping"}])
    assert response.choices[0].message.content is not None
    assert response.choices[0].message.content.endswith("You said: ping")
    assert response.usage is not None and response.usage.total_tokens > 0


def test_a_streamed_answer_concatenates_to_the_plain_answer(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="chat-model", messages=[{"role": "user", "content": "a b c"}])
    stream = client.chat.completions.create(
        model="chat-model", messages=[{"role": "user", "content": "a b c"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == plain.choices[0].message.content


def test_tools_get_a_call_with_arguments_from_the_schema(client: openai.OpenAI) -> None:
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    response = client.chat.completions.create(
        model="chat-model",
        messages=[{"role": "user", "content": "weather?"}],
        tools=[tool],  # type: ignore[list-item]
    )
    call = response.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert response.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert call.function.arguments == '{"city":"example"}'  # type: ignore[union-attr]


def test_embeddings_are_unit_vectors_in_float_and_base64(client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model="embed-model", input=["one", "two"])
    assert [len(d.embedding) for d in floats.data] == [16, 16]
    assert abs(sum(v * v for v in floats.data[0].embedding) - 1) < 1e-6
    b64 = client.embeddings.with_raw_response.create(model="embed-model", input="one", encoding_format="base64")
    packed = base64.b64decode(b64.http_response.json()["data"][0]["embedding"])
    assert struct.unpack("<16f", packed) == pytest.approx(floats.data[0].embedding, abs=1e-6)
