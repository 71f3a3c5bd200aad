"""A real gateway in front of the Gemini fake (AI Studio and Vertex AI routes), driven by the official OpenAI SDK."""

from __future__ import annotations

import base64
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.gemini import FakeGemini
from tests.fakes.openai_logic import embedding_vector
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

API_KEY = "AIzaSyFakeGeminiUpstreamKey000000000000"
WRONG_KEY = "AIzaSyNotTheRightKey0000000000000000000"
CACHED, THOUGHTS = 2, 3
SIGNATURE = "c2lnbmF0dXJlLWZha2U="
PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeGemini]:
    with FakeGemini(API_KEY, cached_tokens=CACHED, thoughts_tokens=THOUGHTS, thought_signature=SIGNATURE) as fake:
        yield fake


@pytest.fixture(scope="module")
def key_file(upstream: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return upstream.write_service_account(tmp_path_factory.mktemp("vertex") / "sa.json")


@pytest.fixture(scope="module")
def gateway(upstream: FakeGemini, key_file: Path) -> Iterator[RunningGateway]:
    config = f"""
providers:
  gemini: {{type: gemini, api_key: "${{GEMINI_API_KEY}}", base_url: "{upstream.url}"}}
  gemini-wrong-key: {{type: gemini, api_key: {WRONG_KEY}, base_url: "{upstream.url}"}}
  vertex:
    type: vertex
    project: fake-project
    location: us-central1
    credentials_file: "{key_file}"
    base_url: "{upstream.vertex_url}"
models:
  gemini: [{{provider: gemini, model: gemini-2.5-flash}}]
  vertex: [{{provider: vertex, model: gemini-2.5-flash}}]
  gemini-embed: [{{provider: gemini, model: gemini-embedding-001}}]
  vertex-embed: [{{provider: vertex, model: text-embedding-005}}]
  rate-limited: [{{provider: gemini, model: error-429}}]
  broken: [{{provider: vertex, model: error-500}}]
  blocked: [{{provider: gemini, model: blocked}}]
  filtered: [{{provider: gemini, model: safety}}]
  fails-mid-stream: [{{provider: gemini, model: error-stream}}]
  reset-stream: [{{provider: vertex, model: reset-stream}}]
  misconfigured: [{{provider: gemini-wrong-key, model: gemini-2.5-flash}}]
"""
    with gateway_from_yaml(config, env={"GEMINI_API_KEY": API_KEY}) as gw:
        yield gw


@pytest.fixture(autouse=True)
def fresh(upstream: FakeGemini) -> None:
    upstream.reset()


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(gateway: RunningGateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture(params=["gemini", "vertex"])
def model(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def usage_numbers(usage: Any) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.prompt_tokens_details.cached_tokens,
        "reasoning_tokens": usage.completion_tokens_details.reasoning_tokens,
    }


# "ping pong" is one content of 2 words: 3 + 2 prompt tokens plus the cached ones (which Google counts inside the
# prompt); the reply "echo: ping pong" is 3 words, plus the thought tokens.
PING_USAGE = {
    "prompt_tokens": 5 + CACHED,
    "completion_tokens": 3 + THOUGHTS,
    "total_tokens": 5 + CACHED + 3 + THOUGHTS,
    "cached_tokens": CACHED,
    "reasoning_tokens": THOUGHTS,
}


# --- answers --------------------------------------------------------------------------------------------------


def test_a_chat_answer_is_translated_and_the_fake_receives_the_exact_wire_body(
    client: openai.OpenAI, upstream: FakeGemini
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gemini",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}],
        max_tokens=100,
        temperature=0.5,
        stop=["zzz"],
        user="u-42",
    )
    validate("CreateChatCompletionResponse", raw.http_response.json())
    response = raw.parse()
    assert response.choices[0].message.content == "echo: Hello there"
    assert response.choices[0].finish_reason == "stop"
    assert response.model == "gemini-2.5-flash"
    assert raw.headers["x-wardgate-provider"] == "gemini"
    sent = upstream.last
    assert (sent.method, sent.path, sent.query) == ("POST", "/v1beta/models/gemini-2.5-flash:generateContent", {})
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "contents": [{"role": "user", "parts": [{"text": "Hello there"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 100, "stopSequences": ["zzz"]},
    }


def test_vertex_reaches_the_publisher_model_with_one_cached_service_account_token(
    client: openai.OpenAI, upstream: FakeGemini
) -> None:
    for _ in range(3):
        response = client.chat.completions.create(model="vertex", messages=[{"role": "user", "content": "hi"}])
        assert response.choices[0].message.content == "echo: hi"
    paths = {r.path for r in upstream.requests}
    assert paths == {
        "/v1/projects/fake-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
    }
    presented = {r.headers["authorization"] for r in upstream.requests}
    assert len(presented) == 1 and presented.pop().removeprefix("Bearer ") in upstream.issued_tokens
    assert all("x-goog-api-key" not in r.headers for r in upstream.requests)
    assert len(upstream.token_requests) <= 1  # the gateway may have fetched its token in an earlier test


def test_the_usage_of_an_answer_is_the_providers_to_the_token(client: openai.OpenAI, model: str) -> None:
    response = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "ping pong"}])
    assert usage_numbers(response.usage) == PING_USAGE


def test_stop_sequences_and_max_tokens_set_the_finish_reason(client: openai.OpenAI, model: str) -> None:
    stopped = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "one two three"}], stop="two"
    )
    assert (stopped.choices[0].message.content, stopped.choices[0].finish_reason) == ("echo: one ", "stop")
    cut = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "one two three"}], max_completion_tokens=2
    )
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("echo: one", "length")


def test_n_gives_that_many_choices(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="gemini", messages=[{"role": "user", "content": "x"}], n=2)
    assert [(c.index, c.message.content) for c in response.choices] == [(0, "echo: x"), (1, "echo: x")]


def test_a_streamed_answer_concatenates_to_the_plain_answer(client: openai.OpenAI, model: str) -> None:
    messages: Any = [{"role": "user", "content": "stream these four words"}]
    plain = client.chat.completions.create(model=model, messages=messages)
    text = ""
    finish = None
    with client.chat.completions.create(model=model, messages=messages, stream=True) as stream:
        for chunk in stream:
            validate("CreateChatCompletionStreamResponse", chunk.to_dict())
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert text == plain.choices[0].message.content == "echo: stream these four words"
    assert finish == "stop"


async def test_a_streamed_usage_chunk_carries_the_providers_numbers(aclient: openai.AsyncOpenAI, model: str) -> None:
    stream = await aclient.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "ping pong"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.to_dict())
    assert chunks[-1].choices == []
    assert usage_numbers(chunks[-1].usage) == PING_USAGE
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert "".join(c.choices[0].delta.content or "" for c in chunks[:-1]) == "echo: ping pong"


async def test_without_include_usage_no_usage_chunk_is_sent(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="gemini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert chunks and all(chunk.choices for chunk in chunks)


async def test_the_async_client_gets_a_plain_answer(aclient: openai.AsyncOpenAI, model: str) -> None:
    response = await aclient.chat.completions.create(model=model, messages=[{"role": "user", "content": "async"}])
    assert response.choices[0].message.content == "echo: async"


def test_a_tool_round_trip_reaches_a_final_answer_and_keeps_the_thought_signature(
    client: openai.OpenAI, upstream: FakeGemini, model: str
) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER])
    validate("CreateChatCompletionResponse", first.to_dict())
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    call: Any = calls[0]
    assert call.function.name == "get_weather"
    assert call.function.arguments == '{"city":"x"}'
    assert call.id.startswith("call_")
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    final = client.chat.completions.create(model=model, messages=messages, tools=[WEATHER], tool_choice="none")
    assert final.choices[0].message.content == 'tool said: {"temp_c":21}'
    assert final.choices[0].finish_reason == "stop"
    sent = upstream.last.json
    assert sent["contents"][1]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "x"}}, "thoughtSignature": SIGNATURE}
    ]
    assert sent["contents"][2] == {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}}],
    }
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "NONE"}}


def test_a_streamed_tool_call_has_the_same_id_and_arguments(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "Weather?"}]
    plain = client.chat.completions.create(model="gemini", messages=messages, tools=[WEATHER])
    heads, arguments, finish = [], "", None
    with client.chat.completions.create(model="gemini", messages=messages, tools=[WEATHER], stream=True) as stream:
        for chunk in stream:
            validate("CreateChatCompletionStreamResponse", chunk.to_dict())
            for delta in chunk.choices[0].delta.tool_calls or []:
                if delta.id:
                    heads.append((delta.id, delta.function.name if delta.function else None))
                arguments += (delta.function.arguments or "") if delta.function else ""
            finish = chunk.choices[0].finish_reason or finish
    expected: Any = plain.choices[0].message.tool_calls
    assert heads == [(expected[0].id, "get_weather")]
    assert arguments == expected[0].function.arguments
    assert finish == "tool_calls"


def test_an_image_reaches_gemini_as_inline_data(client: openai.OpenAI, upstream: FakeGemini, model: str) -> None:
    content: Any = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    response = client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])
    assert response.choices[0].message.content == "echo: What is this? [image]"
    assert upstream.last.json["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": PIXEL.split(",", 1)[1]}
    }


# --- embeddings -----------------------------------------------------------------------------------------------


def test_gemini_embeddings_one_and_many_in_float_and_base64(client: openai.OpenAI, upstream: FakeGemini) -> None:
    one = client.embeddings.with_raw_response.create(
        model="gemini-embed", input="alpha beta", dimensions=4, encoding_format="float"
    )
    validate("CreateEmbeddingResponse", one.http_response.json())
    assert one.parse().data[0].embedding == pytest.approx(embedding_vector("alpha beta", 4))
    assert upstream.last.path == "/v1beta/models/gemini-embedding-001:embedContent"
    assert upstream.last.json == {"content": {"parts": [{"text": "alpha beta"}]}, "outputDimensionality": 4}
    assert one.parse().usage.prompt_tokens == 0  # the Gemini API reports no token counts for embeddings
    many = client.embeddings.create(model="gemini-embed", input=["a", "b c"])
    assert upstream.last.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert [d.embedding for d in many.data] == [
        pytest.approx(embedding_vector("a", 8)),
        pytest.approx(embedding_vector("b c", 8)),
    ]
    b64 = client.embeddings.with_raw_response.create(model="gemini-embed", input="alpha beta", encoding_format="base64")
    body = b64.http_response.json()
    packed = base64.b64decode(body["data"][0]["embedding"])
    floats = list(struct.unpack("<8f", packed))
    assert floats == embedding_vector("alpha beta", 8)  # float32 both ways: exact
    validate("CreateEmbeddingResponse", {**body, "data": [{**body["data"][0], "embedding": floats}]})


def test_vertex_embeddings_use_predict_and_report_tokens(client: openai.OpenAI, upstream: FakeGemini) -> None:
    raw = client.embeddings.with_raw_response.create(
        model="vertex-embed", input=["one two", "three"], dimensions=4, encoding_format="float"
    )
    validate("CreateEmbeddingResponse", raw.http_response.json())
    response = raw.parse()
    assert [d.embedding for d in response.data] == [
        pytest.approx(embedding_vector("one two", 4)),
        pytest.approx(embedding_vector("three", 4)),
    ]
    assert response.usage.prompt_tokens == 3
    assert upstream.last.path.endswith("/publishers/google/models/text-embedding-005:predict")
    assert upstream.last.json == {
        "instances": [{"content": "one two"}, {"content": "three"}],
        "parameters": {"outputDimensionality": 4},
    }


# --- errors ---------------------------------------------------------------------------------------------------


def test_a_rate_limited_provider_is_a_rate_limit_error_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="rate-limited", messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "7"
    validate("ErrorResponse", caught.value.response.json())


def test_a_provider_error_is_an_openai_shaped_server_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    body = caught.value.response.json()
    validate("ErrorResponse", body)
    assert body["error"]["message"].startswith("vertex: An internal error has occurred.")


def test_an_unsupported_feature_is_a_400_naming_it(client: openai.OpenAI, upstream: FakeGemini) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gemini", messages=[{"role": "user", "content": "x"}], logit_bias={"1": 2})
    assert caught.value.param == "logit_bias"
    assert caught.value.code == "unsupported_by_provider"
    assert "gemini does not support 'logit_bias'" in caught.value.message
    assert upstream.requests == []


def test_a_blocked_prompt_is_a_400_content_policy_error_streamed_or_not(client: openai.OpenAI) -> None:
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="blocked", messages=[{"role": "user", "content": "bad"}], stream=stream
            )
        assert caught.value.code == "content_policy_violation"


def test_a_filtered_answer_finishes_with_content_filter(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="filtered", messages=[{"role": "user", "content": "x"}])
    assert response.choices[0].finish_reason == "content_filter"
    with client.chat.completions.create(
        model="filtered", messages=[{"role": "user", "content": "x"}], stream=True
    ) as stream:
        finishes = [c.choices[0].finish_reason for c in stream if c.choices and c.choices[0].finish_reason]
    assert finishes == ["content_filter"]


def test_an_error_event_mid_stream_reaches_the_client_as_an_error(client: openai.OpenAI) -> None:
    text = ""
    with pytest.raises(openai.APIError) as caught:
        stream = client.chat.completions.create(
            model="fails-mid-stream", messages=[{"role": "user", "content": "a b c d"}], stream=True
        )
        for chunk in stream:
            text += chunk.choices[0].delta.content or ""
    assert text == "echo: a"
    assert "An internal error has occurred" in caught.value.message


def test_a_connection_dropped_mid_stream_reaches_the_client_as_an_error(client: openai.OpenAI) -> None:
    text = ""
    with pytest.raises(openai.APIError) as caught:
        stream = client.chat.completions.create(
            model="reset-stream", messages=[{"role": "user", "content": "a b c d"}], stream=True
        )
        for chunk in stream:
            text += chunk.choices[0].delta.content or ""
    assert text == "echo: a"
    assert "vertex" in caught.value.message


def test_a_rejected_provider_key_is_a_502_that_does_not_show_the_key(gateway: RunningGateway) -> None:
    with httpx.Client() as http:
        response = http.post(
            gateway.url + "/chat/completions",
            json={"model": "misconfigured", "messages": [{"role": "user", "content": "x"}]},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
    assert response.status_code == 502
    validate("ErrorResponse", response.json())
    assert response.json()["error"]["code"] == "upstream_auth_error"
    assert WRONG_KEY not in response.text and API_KEY not in response.text
