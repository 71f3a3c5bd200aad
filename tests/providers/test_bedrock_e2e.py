"""A real gateway in front of the fake Bedrock Runtime, driven by the official OpenAI SDK (sync and async).

The fake verifies every SigV4 signature with botocore, so each passing request here was signed as AWS requires.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.bedrock import (
    ACCESS_KEY_ID,
    SECRET_ACCESS_KEY,
    FakeBedrock,
    converse_reply,
    count_words,
    embedding_vector,
    usage_of,
)
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PROFILE = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0"
TOKEN = "FwoGZXIvYXdzEFAKEsessiontoken0123456789"
CONFIG = """
providers:
  aws: {{type: bedrock, region: us-east-1, access_key_id: "${{AWS_ACCESS_KEY_ID}}",
         secret_access_key: "${{AWS_SECRET_ACCESS_KEY}}", base_url: "{url}"}}
  aws-wrong-secret: {{type: bedrock, region: us-east-1, access_key_id: "{key}",
                      secret_access_key: "not-the-secret-0123456789", base_url: "{url}"}}
  aws-other-region: {{type: bedrock, region: eu-west-1, access_key_id: "{key}",
                      secret_access_key: "${{AWS_SECRET_ACCESS_KEY}}", base_url: "{url}"}}
  aws-temporary: {{type: bedrock, region: us-east-1, access_key_id: "{key}",
                   secret_access_key: "${{AWS_SECRET_ACCESS_KEY}}", session_token: "{token}", base_url: "{temp_url}"}}
models:
  claude: [{{provider: aws, model: "{claude}"}}]
  profile: [{{provider: aws, model: "{profile}"}}]
  titan: [{{provider: aws, model: "amazon.titan-embed-text-v2:0"}}]
  cohere: [{{provider: aws, model: cohere.embed-english-v3}}]
  missing: [{{provider: aws, model: "missing.model-v1:0"}}]
  wrong-secret: [{{provider: aws-wrong-secret, model: "{claude}"}}]
  other-region: [{{provider: aws-other-region, model: "{claude}"}}]
  temporary: [{{provider: aws-temporary, model: "{claude}"}}]
"""
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def server() -> Iterator[FakeBedrock]:
    with FakeBedrock().start() as fake:
        yield fake


@pytest.fixture(scope="module")
def temporary_server() -> Iterator[FakeBedrock]:
    with FakeBedrock(session_token=TOKEN).start() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(server: FakeBedrock, temporary_server: FakeBedrock) -> Iterator[RunningGateway]:
    text = CONFIG.format(
        url=server.url, temp_url=temporary_server.url, key=ACCESS_KEY_ID, token=TOKEN, claude=CLAUDE, profile=PROFILE
    )
    env = {"AWS_ACCESS_KEY_ID": ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY}
    with gateway_from_yaml(text, env=env) as gw:
        yield gw


@pytest.fixture
def fake(server: FakeBedrock) -> Iterator[FakeBedrock]:
    server.reset()
    yield server
    server.cache_read_tokens = server.cache_write_tokens = 0
    server.reasoning = None


@pytest.fixture
def client(gateway: RunningGateway, fake: FakeBedrock) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(gateway: RunningGateway, fake: FakeBedrock) -> AsyncIterator[openai.AsyncOpenAI]:
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


def sent_usage(fake: FakeBedrock) -> dict[str, Any]:
    """The usage the fake reported for its last Converse request."""
    reply = converse_reply(fake.requests[-1].json, fake.reasoning)
    return usage_of(reply, fake.cache_read_tokens, fake.cache_write_tokens)


def error_body(exc: openai.APIStatusError) -> dict[str, Any]:
    body: dict[str, Any] = exc.response.json()
    validate("ErrorResponse", body)
    return body["error"]


# --- chat ---------------------------------------------------------------------------------------------


def test_a_chat_answer_is_translated_and_the_fake_got_the_exact_signed_converse_body(
    client: openai.OpenAI, fake: FakeBedrock
) -> None:
    body = create(client, model="claude", messages=hello(), temperature=0.5, top_p=0.8, max_tokens=20, stop="END",
                  user="u-1", metadata={"team": "a"})  # fmt: skip
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "You said: Say hello to Ada.",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["model"] == CLAUDE
    request = fake.requests[-1]
    assert (request.method, request.raw_path) == ("POST", "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse")
    assert request.json == {
        "messages": [{"role": "user", "content": [{"text": "Say hello to Ada."}]}],
        "system": [{"text": "You are terse."}],
        "inferenceConfig": {"maxTokens": 20, "temperature": 0.5, "topP": 0.8, "stopSequences": ["END"]},
    }
    assert request.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
    assert request.headers["content-type"] == "application/json"
    assert MASTER_KEY not in json.dumps(request.headers)
    assert SECRET_ACCESS_KEY not in json.dumps(request.headers)


def test_the_usage_of_an_answer_is_bedrock_s_including_cache_reads_and_writes(
    client: openai.OpenAI, fake: FakeBedrock
) -> None:
    fake.cache_read_tokens, fake.cache_write_tokens = 300, 40
    body = create(client, model="claude", messages=hello())
    sent = sent_usage(fake)
    assert sent["inputTokens"] == 7 and sent["outputTokens"] == 6
    assert body["usage"]["prompt_tokens"] == sent["inputTokens"] + 300 + 40
    assert body["usage"]["completion_tokens"] == sent["outputTokens"]
    assert body["usage"]["total_tokens"] == sent["totalTokens"]
    assert body["usage"]["prompt_tokens_details"]["cached_tokens"] == 300


def test_max_tokens_and_stop_sequences_give_length_and_stop(client: openai.OpenAI) -> None:
    cut = create(client, model="claude", messages=[{"role": "user", "content": "one two three four"}], max_tokens=3)
    assert cut["choices"][0]["message"]["content"] == "You said: one"
    assert cut["choices"][0]["finish_reason"] == "length"
    stopped = create(client, model="claude", messages=[{"role": "user", "content": "one two three"}], stop=["two"])
    assert stopped["choices"][0]["message"]["content"] == "You said: one "
    assert stopped["choices"][0]["finish_reason"] == "stop"


def test_an_inference_profile_arn_is_encoded_into_one_path_segment_and_signed(
    client: openai.OpenAI, fake: FakeBedrock
) -> None:
    body = create(client, model="profile", messages=hello())
    assert body["choices"][0]["message"]["content"] == "You said: Say hello to Ada."
    assert fake.requests[-1].raw_path == (
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F"
        "us.anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"
    )


def test_temporary_credentials_send_the_session_token(client: openai.OpenAI, temporary_server: FakeBedrock) -> None:
    body = create(client, model="temporary", messages=hello())
    assert body["choices"][0]["message"]["content"] == "You said: Say hello to Ada."
    assert temporary_server.requests[-1].headers["x-amz-security-token"] == TOKEN


def test_a_streamed_answer_concatenates_to_the_plain_answer(client: openai.OpenAI, fake: FakeBedrock) -> None:
    plain = create(client, model="claude", messages=hello())
    chunks = stream(client, model="claude", messages=hello())
    assert text_of(chunks) == plain["choices"][0]["message"]["content"]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"] for c in chunks)  # no usage chunk unless asked for
    request = fake.requests[-1]
    assert request.raw_path.endswith("%3A0/converse-stream")
    assert request.headers["accept"] == "application/vnd.amazon.eventstream"
    assert request.json == fake.requests[-2].json  # the same Converse body; streaming is in the path


def test_the_raw_sse_stream_is_openai_shaped(gateway: RunningGateway, fake: FakeBedrock) -> None:
    events: list[str] = []
    with (
        httpx.Client() as http,
        http.stream(
            "POST",
            f"{gateway.url}/chat/completions",
            headers={"authorization": f"Bearer {MASTER_KEY}"},
            json={"model": "claude", "messages": hello(), "stream": True, "stream_options": {"include_usage": True}},
        ) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/event-stream"
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for data in events[:-1]:
        validate("CreateChatCompletionStreamResponse", json.loads(data))


def test_stream_usage_is_the_last_chunk_and_equals_bedrock_s_numbers(client: openai.OpenAI, fake: FakeBedrock) -> None:
    fake.cache_read_tokens, fake.cache_write_tokens = 120, 8
    chunks = stream(client, model="claude", messages=hello(), stream_options={"include_usage": True})
    sent = sent_usage(fake)
    last = chunks[-1]
    assert last["choices"] == []
    assert last["usage"]["prompt_tokens"] == sent["inputTokens"] + 120 + 8
    assert last["usage"]["completion_tokens"] == sent["outputTokens"]
    assert last["usage"]["total_tokens"] == sent["totalTokens"]
    assert last["usage"]["prompt_tokens_details"]["cached_tokens"] == 120
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"


async def test_async_client_gets_the_same_text_streamed_and_not(aclient: openai.AsyncOpenAI) -> None:
    plain = await aclient.chat.completions.create(model="claude", messages=hello())  # type: ignore[arg-type]
    parts = []
    async for chunk in await aclient.chat.completions.create(
        model="claude",
        messages=hello(),  # type: ignore[arg-type]
        stream=True,
    ):
        validate("CreateChatCompletionStreamResponse", chunk.to_dict())
        if chunk.choices:
            parts.append(chunk.choices[0].delta.content or "")
    assert "".join(parts) == plain.choices[0].message.content == "You said: Say hello to Ada."


def test_reasoning_comes_back_apart_from_the_text_and_counts_as_output(
    client: openai.OpenAI, fake: FakeBedrock
) -> None:
    fake.reasoning = "The user wants a greeting."
    body = create(client, model="claude", messages=hello())
    message = body["choices"][0]["message"]
    assert message["reasoning_content"] == "The user wants a greeting."
    assert message["content"] == "You said: Say hello to Ada."
    assert body["usage"]["completion_tokens"] == sent_usage(fake)["outputTokens"] == 6 + 5
    chunks = stream(client, model="claude", messages=hello(), stream_options={"include_usage": True})
    thought = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"])
    assert thought == "The user wants a greeting."
    assert text_of(chunks) == message["content"]
    assert chunks[-1]["usage"]["completion_tokens"] == 11


# --- tools and images -----------------------------------------------------------------------------------


async def test_a_tool_round_trip_keeps_the_tool_use_id(aclient: openai.AsyncOpenAI, fake: FakeBedrock) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = await aclient.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
    assert first.choices[0].finish_reason == "tool_calls"
    assert first.choices[0].message.content is None
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.id.startswith("tooluse_")
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "example"}  # type: ignore[union-attr]
    messages += [first.choices[0].message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "18 degrees and sunny"}]  # fmt: skip
    second = await aclient.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])  # type: ignore[list-item]
    assert second.choices[0].message.content == "The tool answered: 18 degrees and sunny"
    assert second.choices[0].finish_reason == "stop"
    wire = fake.requests[-1].json["messages"]
    assert wire[1]["content"] == [
        {"toolUse": {"toolUseId": call.id, "name": "get_weather", "input": {"city": "example"}}}
    ]
    assert wire[2]["content"] == [{"toolResult": {"toolUseId": call.id, "content": [{"text": "18 degrees and sunny"}]}}]


def test_a_streamed_tool_call_reassembles_to_the_plain_one(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    plain = create(client, model="claude", messages=messages, tools=[WEATHER], tool_choice="required")
    chunks = stream(client, model="claude", messages=messages, tools=[WEATHER], tool_choice="required")
    calls = [
        c["choices"][0]["delta"]["tool_calls"][0]
        for c in chunks
        if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
    ]
    assert len(calls) > 2  # a header and several argument pieces
    expected = plain["choices"][0]["message"]["tool_calls"][0]
    assert calls[0]["id"] == expected["id"]
    assert calls[0]["function"]["name"] == "get_weather"
    assert "".join(c["function"]["arguments"] for c in calls) == expected["function"]["arguments"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_an_image_data_url_reaches_bedrock_as_bytes(client: openai.OpenAI, fake: FakeBedrock) -> None:
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    body = create(client, model="claude", messages=[{"role": "user", "content": content}])
    assert body["choices"][0]["message"]["content"] == "You said: What is this? (and an image: png, 70 bytes)"
    assert fake.requests[-1].json["messages"][0]["content"][1] == {"image": {"format": "png", "source": {"bytes": PNG}}}


# --- embeddings -----------------------------------------------------------------------------------------


def test_titan_embeddings_are_one_call_per_input_answered_in_order(client: openai.OpenAI, fake: FakeBedrock) -> None:
    inputs = ["the first text", "second", "and the third one"]
    raw = client.embeddings.with_raw_response.create(
        model="titan", input=inputs, dimensions=256, encoding_format="float"
    )
    body = json.loads(raw.text)
    validate("CreateEmbeddingResponse", body)
    assert [d["embedding"] for d in body["data"]] == [pytest.approx(embedding_vector(t, 256)) for t in inputs]
    assert body["usage"] == {"prompt_tokens": 8, "total_tokens": 8}  # the token counts the fake reported
    sent = sorted((r.json["inputText"], r.json["dimensions"], r.json["normalize"]) for r in fake.requests)
    assert sent == sorted((t, 256, True) for t in inputs)
    assert {r.raw_path for r in fake.requests} == {"/model/amazon.titan-embed-text-v2%3A0/invoke"}


def test_embeddings_in_base64_decode_to_the_floats(client: openai.OpenAI) -> None:
    raw = client.embeddings.with_raw_response.create(model="titan", input="hello world", encoding_format="base64")
    encoded = raw.http_response.json()["data"][0]["embedding"]
    floats = list(struct.unpack("<1024f", base64.b64decode(encoded)))
    assert floats == embedding_vector("hello world", 1024)


async def test_cohere_embeddings_with_the_token_count_from_the_header(
    aclient: openai.AsyncOpenAI, fake: FakeBedrock
) -> None:
    inputs = ["alpha beta", "gamma"]
    response = await aclient.embeddings.create(model="cohere", input=inputs)
    assert [d.embedding for d in response.data] == [pytest.approx(embedding_vector(t, 1024)) for t in inputs]
    assert response.usage.prompt_tokens == sum(count_words(t) for t in inputs) == 3
    assert fake.requests[-1].json == {"texts": inputs, "input_type": "search_document"}


# --- errors ---------------------------------------------------------------------------------------------


def test_throttling_is_a_rate_limit_error_keeping_retry_after(client: openai.OpenAI, fake: FakeBedrock) -> None:
    fake.enqueue_error(429, "ThrottlingException", "Too many requests, please wait before trying again.",
                       {"retry-after": "3"})  # fmt: skip
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="claude", messages=hello())
    assert caught.value.response.headers["retry-after"] == "3"
    error = error_body(caught.value)
    assert error["message"] == "aws: ThrottlingException: Too many requests, please wait before trying again."
    assert error["type"] == "rate_limit_error"


def test_throttling_before_a_stream_starts_is_raised_at_create(client: openai.OpenAI, fake: FakeBedrock) -> None:
    fake.enqueue_error(429, "ThrottlingException", "Too many tokens, please wait before trying again.")
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="claude", messages=hello(), stream=True)


def test_a_provider_500_is_a_server_error_in_openai_shape(client: openai.OpenAI, fake: FakeBedrock) -> None:
    fake.enqueue_error(500, "InternalServerException", "Internal server error")
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude", messages=hello())
    assert caught.value.status_code == 502
    assert error_body(caught.value) == {
        "message": "aws: InternalServerException: Internal server error",
        "type": "api_error",
        "param": None,
        "code": "upstream_error",
    }


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (424, "ModelErrorException", 502),
        (408, "ModelTimeoutException", 504),
        (503, "ServiceUnavailableException", 503),
        (429, "ModelNotReadyException", 429),
    ],
)
def test_bedrock_errors_keep_a_status_the_client_can_act_on(
    client: openai.OpenAI, fake: FakeBedrock, status: int, kind: str, expected: int
) -> None:
    fake.enqueue_error(status, kind, "The model failed.")
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="claude", messages=hello())
    assert caught.value.status_code == expected
    assert error_body(caught.value)["message"] == f"aws: {kind}: The model failed."


def test_a_validation_exception_is_a_bad_request_with_bedrock_s_message(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude", messages=[{"role": "assistant", "content": "I start."}])
    assert error_body(caught.value)["message"].startswith(
        "aws: ValidationException: A conversation must alternate between user and assistant roles."
    )


def test_an_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="missing", messages=hello())
    assert error_body(caught.value)["message"] == "aws: ResourceNotFoundException: Model not found."


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}]},
         "messages[0].content[0].image_url.url"),
    ],
)  # fmt: skip
def test_an_unsupported_feature_is_a_400_naming_it_and_never_reaches_bedrock(
    client: openai.OpenAI, fake: FakeBedrock, extra: dict[str, Any], param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**{"model": "claude", "messages": hello(), **extra})
    error = error_body(caught.value)
    assert error["param"] == param
    assert error["code"] == "unsupported_by_provider"
    assert error["message"].startswith("bedrock does not support")
    assert fake.requests == []


def test_token_array_embeddings_are_a_400(client: openai.OpenAI, fake: FakeBedrock) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="titan", input=[[1, 2, 3]])
    assert error_body(caught.value)["param"] == "input"
    assert fake.requests == []


@pytest.mark.parametrize("model", ["wrong-secret", "other-region"])
def test_a_rejected_signature_is_an_operator_problem_and_leaks_no_credentials(
    client: openai.OpenAI, fake: FakeBedrock, model: str
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=hello())
    assert caught.value.status_code == 502
    error = error_body(caught.value)
    assert error["code"] == "upstream_auth_error"
    assert "HTTP 403" in error["message"]
    text = caught.value.response.text
    assert SECRET_ACCESS_KEY not in text and "not-the-secret" not in text and ACCESS_KEY_ID not in text
    assert len(fake.requests) == 1  # it did reach Bedrock, which refused the signature


def test_an_exception_frame_mid_stream_ends_the_stream_with_an_error_event(
    client: openai.OpenAI, fake: FakeBedrock
) -> None:
    fake.fail_stream(3, "throttlingException", "Too many tokens, please wait before trying again.")
    seen: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in client.chat.completions.create(model="claude", messages=hello(), stream=True):
            seen.append(chunk)
    assert len(seen) == 3  # messageStart and two words made it before the exception
    assert caught.value.message == "aws: throttlingException: Too many tokens, please wait before trying again."
    assert caught.value.body == {
        "message": "aws: throttlingException: Too many tokens, please wait before trying again.",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }


async def test_a_corrupt_frame_mid_stream_is_an_upstream_error(aclient: openai.AsyncOpenAI, fake: FakeBedrock) -> None:
    fake.corrupt_next_stream()
    with pytest.raises(openai.APIError, match="stream is corrupt"):
        async for _ in await aclient.chat.completions.create(model="claude", messages=hello(), stream=True):  # type: ignore[arg-type]
            pass


def test_a_stream_that_ends_mid_frame_is_an_error_not_a_short_answer(client: openai.OpenAI, fake: FakeBedrock) -> None:
    fake.cut_next_stream(4)
    seen: list[Any] = []
    with pytest.raises(openai.APIError, match="stream ended before the answer did"):
        for chunk in client.chat.completions.create(model="claude", messages=hello(), stream=True):
            seen.append(chunk)
    assert text_of([c.to_dict() for c in seen]) == "You said: Say "


def test_one_failed_call_of_an_embedding_batch_fails_the_request(client: openai.OpenAI, fake: FakeBedrock) -> None:
    fake.enqueue_error(429, "ThrottlingException", "Too many requests, please wait before trying again.")
    with pytest.raises(openai.RateLimitError):
        client.embeddings.create(model="titan", input=["a", "b", "c", "d"], encoding_format="float")


def test_an_error_without_a_type_header_keeps_aws_s_capitalised_message(
    client: openai.OpenAI, fake: FakeBedrock
) -> None:
    fake.enqueue(400, {"Message": "1 validation error detected: Value at 'modelId' failed to satisfy constraint"})
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude", messages=hello())
    assert error_body(caught.value)["message"] == (
        "aws: 1 validation error detected: Value at 'modelId' failed to satisfy constraint"
    )
