"""A real gateway in front of the fake Cohere API, driven by the official OpenAI SDK (sync and async)."""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any

import openai
import pytest

from tests.fakes.cohere import FakeCohere, embedding_vector
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

KEY = "co-upstream-secret-0123456789"
CONFIG = """
providers:
  co: {{type: cohere, api_key: "${{COHERE_API_KEY}}", base_url: "{url}"}}
  co-bad-key: {{type: cohere, api_key: "co-wrong-key-0123456789", base_url: "{url}"}}
models:
  chat: [{{provider: co, model: command-a-03-2025}}]
  vision: [{{provider: co, model: command-a-vision-07-2025}}]
  embed: [{{provider: co, model: embed-v4.0}}]
  limited: [{{provider: co, model: error-429}}]
  broken: [{{provider: co, model: error-500}}]
  unavailable: [{{provider: co, model: error-503}}]
  stream-error: [{{provider: co, model: error-stream}}]
  stream-reset: [{{provider: co, model: reset-stream}}]
  stream-cut: [{{provider: co, model: cut-stream}}]
  bad-key: [{{provider: co-bad-key, model: command-a-03-2025}}]
"""
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeCohere]:
    with FakeCohere(KEY, cached_tokens=3).start() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(server: FakeCohere) -> Iterator[RunningGateway]:
    with gateway_from_yaml(CONFIG.format(url=server.url), env={"COHERE_API_KEY": KEY}) as gw:
        yield gw


@pytest.fixture
def fake(server: FakeCohere) -> FakeCohere:
    server.reset()
    return server


@pytest.fixture
def client(gateway: RunningGateway, fake: FakeCohere) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(gateway: RunningGateway, fake: FakeCohere) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def create(client: openai.OpenAI, **kwargs: Any) -> dict[str, Any]:
    """A chat completion through the SDK, as the JSON the gateway sent, checked against OpenAI's schema."""
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    body: dict[str, Any] = json.loads(raw.text)
    validate("CreateChatCompletionResponse", body)
    raw.parse()
    return body


def stream(client: openai.OpenAI, **kwargs: Any) -> list[dict[str, Any]]:
    chunks = [chunk.to_dict() for chunk in client.chat.completions.create(stream=True, **kwargs)]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    return chunks


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


def hello() -> list[dict[str, Any]]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello to Ada."}]


# --- chat ---------------------------------------------------------------------------------------------


def test_a_chat_answer_is_translated_and_its_usage_is_cohere_s_token_count(
    client: openai.OpenAI, fake: FakeCohere
) -> None:
    body = create(client, model="chat", messages=hello(), user="u-1")
    assert body["choices"][0]["message"]["content"] == "echo: Say hello to Ada."
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["model"] == "command-a-03-2025"
    sent = fake.usages[-1]
    assert body["usage"]["prompt_tokens"] == sent["tokens"]["input_tokens"] == 7 + 7
    assert body["usage"]["completion_tokens"] == sent["tokens"]["output_tokens"] == 5
    assert body["usage"]["total_tokens"] == 19
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == sent["cached_tokens"] == 3


def test_the_fake_receives_the_exact_cohere_body_with_the_provider_key(client: openai.OpenAI, fake: FakeCohere) -> None:
    create(
        client,
        model="chat",
        messages=hello(),
        temperature=0.5,
        top_p=0.8,
        max_tokens=20,
        stop="END",
        seed=7,
        user="u-1",
        metadata={"team": "a"},
    )
    request = fake.requests[-1]
    assert (request.method, request.path) == ("POST", "/v2/chat")
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert MASTER_KEY not in json.dumps(request.headers)
    assert request.json == {
        "model": "command-a-03-2025",
        "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Say hello to Ada."}],
        "temperature": 0.5,
        "p": 0.8,
        "max_tokens": 20,
        "stop_sequences": ["END"],
        "seed": 7,
    }


def test_max_tokens_and_stop_sequences_give_length_and_stop(client: openai.OpenAI) -> None:
    cut = create(client, model="chat", messages=[{"role": "user", "content": "one two three four"}], max_tokens=2)
    assert cut["choices"][0]["message"]["content"] == "echo: one"
    assert cut["choices"][0]["finish_reason"] == "length"
    stopped = create(client, model="chat", messages=[{"role": "user", "content": "one two three"}], stop=["two"])
    assert stopped["choices"][0]["message"]["content"] == "echo: one "
    assert stopped["choices"][0]["finish_reason"] == "stop"


def test_a_streamed_answer_concatenates_to_the_plain_answer(client: openai.OpenAI, fake: FakeCohere) -> None:
    plain = create(client, model="chat", messages=hello())
    chunks = stream(client, model="chat", messages=hello())
    assert text_of(chunks) == plain["choices"][0]["message"]["content"]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in c or c["usage"] is None for c in chunks)
    assert fake.requests[-1].json["stream"] is True


def test_stream_usage_is_the_last_chunk_and_equals_cohere_s_numbers(client: openai.OpenAI, fake: FakeCohere) -> None:
    chunks = stream(client, model="chat", messages=hello(), stream_options={"include_usage": True})
    last = chunks[-1]
    sent = fake.usages[-1]
    assert last["choices"] == []
    assert last["usage"]["prompt_tokens"] == sent["tokens"]["input_tokens"]
    assert last["usage"]["completion_tokens"] == sent["tokens"]["output_tokens"]
    assert last["usage"]["total_tokens"] == sent["tokens"]["input_tokens"] + sent["tokens"]["output_tokens"]
    assert last["usage"]["prompt_tokens_details"]["cached_tokens"] == 3
    assert "stream_options" not in fake.requests[-1].json


async def test_async_client_gets_the_same_text_streamed_and_not(aclient: openai.AsyncOpenAI) -> None:
    plain = await aclient.chat.completions.create(model="chat", messages=hello())  # type: ignore[arg-type]
    parts = []
    async for chunk in await aclient.chat.completions.create(
        model="chat",
        messages=hello(),
        stream=True,  # type: ignore[arg-type]
    ):
        validate("CreateChatCompletionStreamResponse", chunk.to_dict())
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
    assert "".join(parts) == plain.choices[0].message.content == "echo: Say hello to Ada."


def test_reasoning_is_returned_as_reasoning_content(client: openai.OpenAI) -> None:
    body = create(client, model="chat", messages=hello(), extra_body={"thinking": {"type": "enabled"}})
    assert body["choices"][0]["message"]["reasoning_content"] == "Thinking it over."
    chunks = stream(client, model="chat", messages=hello(), extra_body={"thinking": {"type": "enabled"}})
    thought = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"])
    assert thought == "Thinking it over."
    assert text_of(chunks) == body["choices"][0]["message"]["content"]


def test_logprobs_come_back_per_piece_of_text(client: openai.OpenAI) -> None:
    body = create(client, model="chat", messages=[{"role": "user", "content": "hi"}], logprobs=True)
    entries = body["choices"][0]["logprobs"]["content"]
    assert [e["token"] for e in entries] == ["echo:", " hi"]
    assert [e["logprob"] for e in entries] == [-0.25, -0.5]


# --- tools and images ---------------------------------------------------------------------------------


def test_a_tool_round_trip_keeps_ids_and_ends_with_the_answer(client: openai.OpenAI, fake: FakeCohere) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather in Paris?"}]
    first = create(client, model="chat", messages=messages, tools=[WEATHER])
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I will call get_weather."
    call = choice["message"]["tool_calls"][0]
    assert call == {
        "id": "call_get_weather_0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city":"x"}'},
    }
    messages += [choice["message"], {"role": "tool", "tool_call_id": call["id"], "content": '{"temp_c": 21}'}]
    final = create(client, model="chat", messages=messages, tools=[WEATHER])
    assert final["choices"][0]["message"]["content"] == 'tool said: {"temp_c": 21}'
    assert final["choices"][0]["finish_reason"] == "stop"
    sent = fake.requests[-1].json["messages"]
    assert sent[1] == {"role": "assistant", "tool_plan": "I will call get_weather.", "tool_calls": [call]}
    assert sent[2] == {"role": "tool", "tool_call_id": "call_get_weather_0", "content": '{"temp_c": 21}'}


def test_streamed_tool_calls_assemble_to_the_plain_ones(client: openai.OpenAI) -> None:
    tools = [WEATHER, {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]
    messages = [{"role": "user", "content": "Weather and time?"}]
    plain = create(client, model="chat", messages=messages, tools=tools)
    chunks = stream(client, model="chat", messages=messages, tools=tools)
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in chunk["choices"][0]["delta"].get("tool_calls") or [] if chunk["choices"] else []:
            entry = calls.setdefault(delta["index"], {"id": None, "name": "", "arguments": ""})
            entry["id"] = delta.get("id") or entry["id"]
            entry["name"] += delta.get("function", {}).get("name") or ""
            entry["arguments"] += delta.get("function", {}).get("arguments") or ""
    expected = [
        {"id": c["id"], "name": c["function"]["name"], "arguments": c["function"]["arguments"]}
        for c in plain["choices"][0]["message"]["tool_calls"]
    ]
    assert [calls[i] for i in sorted(calls)] == expected
    assert len(expected) == 2
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert text_of(chunks) == plain["choices"][0]["message"]["content"]


def test_tool_choice_none_answers_in_text(client: openai.OpenAI, fake: FakeCohere) -> None:
    body = create(
        client, model="chat", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER], tool_choice="none"
    )
    assert body["choices"][0]["message"]["content"] == "echo: hi"
    assert fake.requests[-1].json["tool_choice"] == "NONE"


def test_an_image_part_reaches_cohere_as_an_image_url(client: openai.OpenAI, fake: FakeCohere) -> None:
    url = "data:image/png;base64,iVBORw0KGgo="
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
    ]
    body = create(client, model="vision", messages=[{"role": "user", "content": content}])
    assert body["choices"][0]["message"]["content"] == "echo: What is this? [image]"
    assert fake.requests[-1].json["messages"][0]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": url, "detail": "high"},
    }


def test_json_mode_is_sent_as_cohere_json_object(client: openai.OpenAI, fake: FakeCohere) -> None:
    body = create(
        client, model="chat", messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"}
    )
    assert json.loads(body["choices"][0]["message"]["content"]) == {"echo": "hi"}
    assert fake.requests[-1].json["response_format"] == {"type": "json_object"}


# --- embeddings ---------------------------------------------------------------------------------------


def test_embeddings_in_float_and_base64(client: openai.OpenAI, fake: FakeCohere) -> None:
    raw = client.embeddings.with_raw_response.create(
        model="embed", input=["hello world", "bye"], encoding_format="float"
    )
    body = json.loads(raw.text)
    validate("CreateEmbeddingResponse", body)
    assert [d["embedding"] for d in body["data"]] == [embedding_vector("hello world", 8), embedding_vector("bye", 8)]
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert fake.requests[-1].path == "/v2/embed"
    assert fake.requests[-1].json == {
        "model": "embed-v4.0",
        "texts": ["hello world", "bye"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }
    b64 = client.embeddings.create(model="embed", input="hello world", encoding_format="base64")
    packed = base64.b64decode(b64.data[0].embedding)  # type: ignore[arg-type]
    assert list(struct.unpack("<8f", packed)) == embedding_vector("hello world", 8)
    decoded = client.embeddings.create(model="embed", input="bye")  # the SDK asks for base64 and decodes it
    assert decoded.data[0].embedding == embedding_vector("bye", 8)


async def test_embeddings_take_input_type_and_dimensions(aclient: openai.AsyncOpenAI, fake: FakeCohere) -> None:
    out = await aclient.embeddings.create(
        model="embed", input="q", dimensions=4, extra_body={"input_type": "search_query"}
    )
    assert out.data[0].embedding == embedding_vector("q", 4)
    assert fake.requests[-1].json["input_type"] == "search_query"
    assert fake.requests[-1].json["output_dimension"] == 4


# --- errors -------------------------------------------------------------------------------------------


def test_a_provider_429_is_a_rate_limit_error_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="limited", messages=hello())
    assert caught.value.response.headers["retry-after"] == "7"
    body = caught.value.response.json()
    validate("ErrorResponse", body)
    assert body["error"]["message"].startswith("co: You are past the per minute request limit")
    assert body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize(("model", "status"), [("broken", 502), ("unavailable", 503)])
def test_a_provider_server_error_is_an_openai_shaped_error(client: openai.OpenAI, model: str, status: int) -> None:
    """A provider 500 is the gateway's 502 (bad gateway); a 503 stays a 503."""
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=model, messages=hello())
    assert caught.value.status_code == status
    body = caught.value.response.json()
    validate("ErrorResponse", body)
    assert body["error"]["type"] == "api_error"
    assert "co: " in body["error"]["message"]


def test_a_provider_500_raises_internal_server_error_when_streaming(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="broken", messages=hello(), stream=True)


def test_a_rejected_provider_key_is_an_operator_problem_and_never_shown(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="bad-key", messages=hello())
    assert caught.value.status_code == 502
    assert "co-wrong-key" not in caught.value.response.text
    assert caught.value.response.json()["error"]["code"] == "upstream_auth_error"


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"logit_bias": {"1": 5}}, "logit_bias"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
    ],
)
def test_a_feature_cohere_lacks_is_a_400_naming_it(
    client: openai.OpenAI, fake: FakeCohere, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="chat", messages=hello(), tools=[WEATHER], **fields)  # type: ignore[arg-type]
    error = caught.value.response.json()["error"]
    assert error["param"] == param
    assert error["code"] == "unsupported_by_provider"
    assert param in error["message"]
    assert fake.requests == []


def test_an_error_at_the_end_of_a_stream_reaches_the_client(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError, match="invalid output"):
        stream(client, model="stream-error", messages=hello())


@pytest.mark.parametrize("model", ["stream-reset", "stream-cut"])
def test_a_stream_cut_short_is_an_error_not_a_short_answer(client: openai.OpenAI, model: str) -> None:
    with pytest.raises(openai.APIError) as caught:
        stream(client, model=model, messages=hello())
    assert "co: " in caught.value.message
