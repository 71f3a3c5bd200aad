"""The fake OpenAI API, driven by the official SDK, and every body it sends checked against OpenAI's spec."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import jsonschema
import openai
import pytest

from tests import openapi_schema
from tests.fakes import openai_chat as chat_logic
from tests.fakes import openai_logic as logic
from tests.fakes.openai import FakeOpenAI

API_KEY = "sk-fake-upstream-0123456789"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "options": {"type": "object"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "note": {"type": "string"},
            },
            "required": ["city", "days", "metric", "tags", "options", "unit"],
        },
    },
}
CLOCK = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}, "required": ["zone"]},
    },
}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def check(schema_name: str, body: Any) -> None:
    openapi_schema.validate(schema_name, body)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(API_KEY).start() as fake:
        yield fake


@pytest.fixture
def fake(server: FakeOpenAI) -> FakeOpenAI:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=fake.url, api_key=API_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
async def aclient(fake: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake.url, api_key=API_KEY, max_retries=0) as client:
        yield client


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def chat(client: openai.OpenAI, **kwargs: Any) -> dict[str, Any]:
    """Create a chat completion through the SDK and return the JSON body exactly as it came off the wire."""
    raw = client.chat.completions.with_raw_response.create(**kwargs)
    body: dict[str, Any] = json.loads(raw.text)
    check("CreateChatCompletionResponse", body)
    raw.parse()  # the SDK accepts it too
    return body


async def chat_chunks(client: openai.AsyncOpenAI, **kwargs: Any) -> list[dict[str, Any]]:
    stream = await client.chat.completions.create(stream=True, **kwargs)
    chunks = [chunk.to_dict() async for chunk in stream]
    for chunk in chunks:
        check("CreateChatCompletionStreamResponse", chunk)
    return chunks


# --- the pure rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["echo: hi there", "  leading", "trailing  ", "one", "", "a\nb\tc"])
def test_words_keep_their_leading_whitespace_so_they_rejoin_exactly(text: str) -> None:
    words = logic.split_words(text)
    assert "".join(words) == text
    assert len(words) == logic.count_words(text) or text.strip() == ""


def test_prompt_tokens_are_three_per_message_plus_its_words() -> None:
    messages = [{"role": "system", "content": "be brief"}, user("hello there you"), {"role": "assistant"}]
    assert logic.count_prompt_tokens(messages) == (3 + 2) + (3 + 3) + 3


def test_a_masked_key_shows_only_its_ends() -> None:
    assert logic.mask_api_key("sk-abcdefghijklmnopxyz") == "sk-abc***xyz"
    assert logic.mask_api_key("short") == "*****"


# --- chat completions ---------------------------------------------------------------------------------


def test_chat_echoes_the_last_user_message_and_counts_words(client: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "be brief"}, user("hello there")]
    body = chat(client, model="gpt-4o-mini", messages=messages)
    assert body["model"] == "gpt-4o-mini"
    assert body["id"].startswith("chatcmpl-")
    (choice,) = body["choices"]
    assert choice["message"]["content"] == "echo: hello there"
    assert choice["finish_reason"] == "stop"
    assert body["usage"] == {
        "prompt_tokens": logic.count_prompt_tokens(messages),
        "completion_tokens": 3,
        "total_tokens": logic.count_prompt_tokens(messages) + 3,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def test_the_request_is_recorded_with_unknown_fields_unchanged(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    client.chat.completions.create(
        model="gpt-4o",
        messages=[user("hi")],
        seed=7,
        user="u-1",
        temperature=0.2,
        extra_body={"vendor_knob": {"depth": 2}},
    )
    (recorded,) = fake.requests
    assert (recorded.method, recorded.path, recorded.query) == ("POST", "/v1/chat/completions", {})
    assert recorded.headers["authorization"] == f"Bearer {API_KEY}"
    assert recorded.json == {
        "model": "gpt-4o",
        "messages": [user("hi")],
        "seed": 7,
        "user": "u-1",
        "temperature": 0.2,
        "vendor_knob": {"depth": 2},
    }


def test_content_parts_join_with_spaces_and_an_image_counts_as_a_marker(client: openai.OpenAI) -> None:
    parts = [
        {"type": "text", "text": "look at"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "please"},
    ]
    body = chat(client, model="gpt-4o", messages=[{"role": "user", "content": parts}])
    assert body["choices"][0]["message"]["content"] == "echo: look at [image] please"
    assert body["usage"]["prompt_tokens"] == 3 + 4


def test_configured_cached_and_reasoning_tokens_are_reported() -> None:
    with (
        FakeOpenAI(API_KEY, cached_tokens=4, reasoning_tokens=5).start() as fake,
        openai.OpenAI(base_url=fake.url, api_key=API_KEY, max_retries=0) as client,
    ):
        usage = chat(client, model="o4-mini", messages=[user("hi")])["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 4
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 5
    assert usage["completion_tokens"] == 2 + 5
    assert usage["total_tokens"] == usage["prompt_tokens"] + 7


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
def test_a_token_limit_keeps_that_many_words_and_finishes_with_length(client: openai.OpenAI, limit: str) -> None:
    body = chat(client, model="gpt-4o", messages=[user("one two three four")], **{limit: 3})
    assert body["choices"][0]["message"]["content"] == "echo: one two"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize("stop", ["three", ["four", "two", "zzz"]])
def test_a_stop_sequence_cuts_before_the_first_match(client: openai.OpenAI, stop: str | list[str]) -> None:
    body = chat(client, model="gpt-4o", messages=[user("one two three four")], stop=stop)
    content = body["choices"][0]["message"]["content"]
    assert content == ("echo: one two " if stop == "three" else "echo: one ")
    assert body["choices"][0]["finish_reason"] == "stop"


def test_n_returns_that_many_identical_choices(client: openai.OpenAI) -> None:
    body = chat(client, model="gpt-4o", messages=[user("hi")], n=3)
    assert [choice["index"] for choice in body["choices"]] == [0, 1, 2]
    assert {choice["message"]["content"] for choice in body["choices"]} == {"echo: hi"}
    assert body["usage"]["completion_tokens"] == 3 * 2


def test_logprobs_have_one_entry_per_word(client: openai.OpenAI) -> None:
    body = chat(client, model="gpt-4o", messages=[user("a b c")], logprobs=True, top_logprobs=2)
    choice = body["choices"][0]
    entries = choice["logprobs"]["content"]
    assert "".join(entry["token"] for entry in entries) == choice["message"]["content"]
    assert len(entries) == 4
    assert all(len(entry["top_logprobs"]) == 2 for entry in entries)
    assert all(entry["top_logprobs"][0]["token"] == entry["token"] for entry in entries)
    assert choice["logprobs"]["refusal"] is None


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "echo", "schema": {"type": "object"}}},
    ],
)
def test_json_mode_answers_a_json_object(client: openai.OpenAI, response_format: dict[str, Any]) -> None:
    body = chat(client, model="gpt-4o", messages=[user("hi there")], response_format=response_format)
    assert json.loads(body["choices"][0]["message"]["content"]) == {"echo": "hi there"}


# --- tools --------------------------------------------------------------------------------------------


def test_a_tool_call_fills_each_required_argument_by_type(client: openai.OpenAI) -> None:
    body = chat(client, model="gpt-4o", messages=[user("weather?")], tools=[WEATHER])
    (choice,) = body["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["id"] == chat_logic.tool_call_id("get_weather", 0)
    assert call["function"]["name"] == "get_weather"
    assert json.loads(call["function"]["arguments"]) == {
        "city": "x",
        "days": 1,
        "metric": True,
        "tags": [],
        "options": {},
        "unit": "celsius",
    }
    assert body["usage"]["completion_tokens"] == 1 + 6


@pytest.mark.parametrize(("parallel", "called"), [(None, ["get_weather", "get_time"]), (False, ["get_weather"])])
def test_two_tools_are_called_in_parallel_unless_disabled(
    client: openai.OpenAI, parallel: bool | None, called: list[str]
) -> None:
    extra = {} if parallel is None else {"parallel_tool_calls": parallel}
    body = chat(client, model="gpt-4o", messages=[user("both")], tools=[WEATHER, CLOCK], **extra)
    calls = body["choices"][0]["message"]["tool_calls"]
    assert [call["function"]["name"] for call in calls] == called
    assert len({call["id"] for call in calls}) == len(calls)


def test_tool_choice_names_the_function_or_turns_tools_off(client: openai.OpenAI) -> None:
    named = {"type": "function", "function": {"name": "get_time"}}
    body = chat(client, model="gpt-4o", messages=[user("t")], tools=[WEATHER, CLOCK], tool_choice=named)
    (call,) = body["choices"][0]["message"]["tool_calls"]
    assert json.loads(call["function"]["arguments"]) == {"zone": "x"}
    body = chat(client, model="gpt-4o", messages=[user("t")], tools=[WEATHER, CLOCK], tool_choice="none")
    assert body["choices"][0]["message"]["content"] == "echo: t"
    assert "tool_calls" not in body["choices"][0]["message"]


def test_a_tool_result_is_answered_with_its_content(client: openai.OpenAI) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": '{"zone":"x"}'}}
    messages = [
        user("what time is it?"),
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "noon"},
    ]
    body = chat(client, model="gpt-4o", messages=messages, tools=[CLOCK])
    assert body["choices"][0]["message"]["content"] == "tool said: noon"
    assert body["choices"][0]["finish_reason"] == "stop"


# --- chat streams -------------------------------------------------------------------------------------


async def test_a_stream_rejoins_into_the_plain_answer_and_ends_with_usage(
    aclient: openai.AsyncOpenAI,
) -> None:
    request = {"model": "gpt-4o", "messages": [user("stream me please")]}
    chunks = await chat_chunks(aclient, **request, stream_options={"include_usage": True})
    whole = (await aclient.chat.completions.with_raw_response.create(**request)).http_response.json()

    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    words = [chunk["choices"][0]["delta"]["content"] for chunk in chunks[1:-2]]
    assert words == logic.split_words(whole["choices"][0]["message"]["content"])
    assert chunks[-2]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert all(chunk["usage"] is None for chunk in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == whole["usage"]
    assert {chunk["id"] for chunk in chunks} == {chunks[0]["id"]}


async def test_a_stream_without_include_usage_has_no_usage_field(aclient: openai.AsyncOpenAI) -> None:
    chunks = await chat_chunks(aclient, model="gpt-4o", messages=[user("hi")])
    assert all("usage" not in chunk for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


async def test_streamed_tool_calls_reassemble_into_the_plain_calls(aclient: openai.AsyncOpenAI) -> None:
    request = {"model": "gpt-4o", "messages": [user("both")], "tools": [WEATHER, CLOCK]}
    chunks = await chat_chunks(aclient, **request)
    whole = await aclient.chat.completions.create(**request)

    calls: dict[int, dict[str, Any]] = {}
    pieces: dict[int, int] = {}
    for chunk in chunks:
        for delta in chunk["choices"][0]["delta"].get("tool_calls", []):
            call = calls.setdefault(delta["index"], {"arguments": ""})
            if "id" in delta:
                call.update(id=delta["id"], name=delta["function"]["name"])
            if delta["function"]["arguments"]:
                call["arguments"] += delta["function"]["arguments"]
                pieces[delta["index"]] = pieces.get(delta["index"], 0) + 1
    expected = whole.choices[0].message.tool_calls or []
    assert [calls[i] for i in sorted(calls)] == [
        {"id": call.id, "name": call.function.name, "arguments": call.function.arguments} for call in expected
    ]
    assert all(count >= 2 for count in pieces.values())
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_a_stream_with_n_and_logprobs_interleaves_the_choices(aclient: openai.AsyncOpenAI) -> None:
    chunks = await chat_chunks(aclient, model="gpt-4o", messages=[user("a b")], n=2, logprobs=True)
    texts = {0: "", 1: ""}
    for chunk in chunks:
        (choice,) = chunk["choices"]
        content = choice["delta"].get("content")
        if content:
            texts[choice["index"]] += content
            assert [entry["token"] for entry in choice["logprobs"]["content"]] == [content]
    assert texts == {0: "echo: a b", 1: "echo: a b"}
    assert [chunk["choices"][0]["index"] for chunk in chunks[:2]] == [0, 1]


async def test_the_wire_format_is_server_sent_events_ending_with_done(
    fake: FakeOpenAI, http: aiohttp.ClientSession
) -> None:
    body = {"model": "gpt-4o", "messages": [user("hi")], "stream": True}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with http.post(f"{fake.url}/chat/completions", json=body, headers=headers) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = await response.text()
    events = text.split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert all(event.startswith("data: ") for event in events[:-1])
    for event in events[:-2]:
        check("CreateChatCompletionStreamResponse", json.loads(event.removeprefix("data: ")))


# --- legacy completions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "echoed", "prompt_tokens"),
    [
        ("say hi", "say hi", 2),
        (["say hi", "other"], "say hi", 2),
        ([5, 6, 7], "5 6 7", 3),
        ([[5, 6], [7]], "5 6", 2),
    ],
)
def test_a_legacy_completion_echoes_the_prompt(
    client: openai.OpenAI, prompt: Any, echoed: str, prompt_tokens: int
) -> None:
    raw = client.completions.with_raw_response.create(model="gpt-3.5-turbo-instruct", prompt=prompt)
    body = json.loads(raw.text)
    check("CreateCompletionResponse", body)
    assert body["object"] == "text_completion"
    assert body["choices"][0]["text"] == f"echo: {echoed}"
    assert body["usage"]["prompt_tokens"] == prompt_tokens


def test_a_legacy_completion_honours_max_tokens_and_logprobs(client: openai.OpenAI) -> None:
    raw = client.completions.with_raw_response.create(
        model="gpt-3.5-turbo-instruct", prompt="one two three", max_tokens=2, logprobs=2
    )
    body = json.loads(raw.text)
    check("CreateCompletionResponse", body)
    (choice,) = body["choices"]
    assert (choice["text"], choice["finish_reason"]) == ("echo: one", "length")
    assert choice["logprobs"]["tokens"] == ["echo:", " one"]
    assert choice["logprobs"]["text_offset"] == [0, 5]


async def test_a_legacy_stream_sends_words_then_the_finish_and_usage(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.completions.create(
        model="gpt-3.5-turbo-instruct", prompt="say hi", stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk.to_dict() async for chunk in stream]
    *words, finish, usage = chunks
    assert "".join(chunk["choices"][0]["text"] for chunk in words) == "echo: say hi"
    assert finish["choices"][0] == {"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}
    assert usage["choices"] == []
    assert usage["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}
    for chunk in [finish, usage]:
        check("CreateCompletionResponse", chunk)
    for chunk in words:
        # The spec says streamed chunks share the response shape, whose finish_reason is never null; the
        # real API streams null until the last chunk. Check the rest of the shape with that one field set.
        assert chunk["choices"][0]["finish_reason"] is None
        check(
            "CreateCompletionResponse",
            {**chunk, "choices": [{**chunk["choices"][0], "finish_reason": "stop"}]},
        )


# --- embeddings ---------------------------------------------------------------------------------------


def embed(client: openai.OpenAI, **kwargs: Any) -> dict[str, Any]:
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", **kwargs)
    body: dict[str, Any] = json.loads(raw.text)
    decoded = [
        {**item, "embedding": logic.decode_base64(item["embedding"])} if isinstance(item["embedding"], str) else item
        for item in body["data"]
    ]
    check("CreateEmbeddingResponse", {**body, "data": decoded})  # the spec types `embedding` as floats only
    return body


def test_embeddings_are_deterministic_unit_vectors(client: openai.OpenAI) -> None:
    body = embed(client, input=["a b", "c"], encoding_format="float")
    first, second = (item["embedding"] for item in body["data"])
    assert [item["index"] for item in body["data"]] == [0, 1]
    assert len(first) == 8
    assert math.isclose(sum(value * value for value in first), 1.0, rel_tol=1e-5)
    assert first != second
    assert embed(client, input="a b", encoding_format="float")["data"][0]["embedding"] == first
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


def test_base64_embeddings_are_little_endian_float32_of_the_same_vector(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    floats = embed(client, input="hello", encoding_format="float")["data"][0]["embedding"]
    encoded = embed(client, input="hello", encoding_format="base64")["data"][0]["embedding"]
    assert logic.decode_base64(encoded) == floats
    decoded_by_sdk = client.embeddings.create(model="text-embedding-3-small", input="hello").data[0].embedding
    assert fake.requests[-1].json["encoding_format"] == "base64"  # the SDK's default
    assert decoded_by_sdk == floats


def test_embeddings_accept_token_ids_and_dimensions(client: openai.OpenAI) -> None:
    assert len(embed(client, input=[1, 2, 3], encoding_format="float")["data"]) == 1
    body = embed(client, input=[[1, 2], [3]], dimensions=16, encoding_format="float")
    assert [len(item["embedding"]) for item in body["data"]] == [16, 16]
    assert body["usage"]["prompt_tokens"] == 3


# --- models -------------------------------------------------------------------------------------------


def test_models_are_listed_and_retrieved(client: openai.OpenAI) -> None:
    listed = json.loads(client.models.with_raw_response.list().text)
    check("ListModelsResponse", listed)
    assert "gpt-4o-mini" in [model["id"] for model in listed["data"]]
    retrieved = json.loads(client.models.with_raw_response.retrieve("gpt-4o").text)
    check("Model", retrieved)
    assert retrieved["id"] == "gpt-4o"


# --- authentication and failure modes -----------------------------------------------------------------


def test_a_wrong_key_is_refused_with_only_a_masked_copy_of_it(fake: FakeOpenAI) -> None:
    wrong = "sk-wrong-key-0123456789xyz"
    with (
        openai.OpenAI(base_url=fake.url, api_key=wrong, max_retries=0) as client,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        client.chat.completions.create(model="gpt-4o", messages=[user("hi")])
    body = caught.value.response.json()
    check("ErrorResponse", body)
    assert body["error"]["code"] == "invalid_api_key"
    assert logic.mask_api_key(wrong) in body["error"]["message"]
    assert wrong not in caught.value.response.text


async def test_a_missing_key_is_refused(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{fake.url}/models") as response:
        assert response.status == 401
        body = await response.json()
    check("ErrorResponse", body)
    assert body["error"]["message"].startswith("You didn't provide an API key.")


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("error-400", openai.BadRequestError),
        ("error-404", openai.NotFoundError),
        ("error-429", openai.RateLimitError),
        ("error-500", openai.InternalServerError),
        ("error-503", openai.InternalServerError),
    ],
)
def test_an_error_model_fails_with_openais_error(client: openai.OpenAI, model: str, error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        client.chat.completions.create(model=model, messages=[user("hi")])
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == int(model.removeprefix("error-"))
    check("ErrorResponse", caught.value.response.json())


def test_a_rate_limit_carries_retry_after_on_every_operation(client: openai.OpenAI) -> None:
    calls = [
        lambda: client.chat.completions.create(model="error-429", messages=[user("hi")], stream=True),
        lambda: client.completions.create(model="error-429", prompt="hi"),
        lambda: client.embeddings.create(model="error-429", input="hi"),
    ]
    for call in calls:
        with pytest.raises(openai.RateLimitError) as caught:
            call()
        assert caught.value.response.headers["retry-after"] == "7"
        assert caught.value.response.headers["x-ratelimit-remaining-requests"] == "0"


def test_a_slow_model_answers_normally(client: openai.OpenAI) -> None:
    body = chat(client, model="slow-20", messages=[user("hi")])
    assert (body["model"], body["choices"][0]["message"]["content"]) == ("slow-20", "echo: hi")


def test_a_stalled_call_counts_the_client_that_gave_up(fake: FakeOpenAI) -> None:
    with (
        openai.OpenAI(
            base_url=fake.url, api_key=API_KEY, max_retries=0, timeout=openai.Timeout(10, read=0.2)
        ) as client,
        pytest.raises(openai.APITimeoutError),
    ):
        client.chat.completions.create(model="stall", messages=[user("hi")])
    assert fake.disconnected.wait(timeout=10)
    assert fake.disconnects == 1


async def test_a_stalled_stream_sends_the_role_chunk_then_counts_the_disconnect(
    fake: FakeOpenAI, aclient: openai.AsyncOpenAI
) -> None:
    stream = await aclient.chat.completions.create(model="stall-stream", messages=[user("hi")], stream=True)
    first = await anext(aiter(stream))
    assert first.choices[0].delta.role == "assistant"
    await stream.close()
    assert await asyncio.to_thread(fake.disconnected.wait, 10)
    assert fake.disconnects == 1


async def test_a_reset_stream_breaks_off_after_two_chunks(fake: FakeOpenAI, aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(model="reset-stream", messages=[user("a b c")], stream=True)
    received = []
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            received.append(chunk)
    assert [chunk.choices[0].delta.content for chunk in received] == ["", "echo:"]
    assert fake.disconnects == 0


# --- Azure OpenAI -------------------------------------------------------------------------------------


def test_azure_deployments_answer_under_their_own_name(fake: FakeOpenAI) -> None:
    with openai.AzureOpenAI(
        azure_endpoint=fake.root_url, api_key=API_KEY, api_version="2024-10-21", max_retries=0
    ) as client:
        body = chat(client, model="my-gpt", messages=[user("hi")])
        client.embeddings.create(model="my-embedder", input="hi")
        client.completions.create(model="my-instruct", prompt="hi")
    assert (body["model"], body["choices"][0]["message"]["content"]) == ("my-gpt", "echo: hi")
    assert [request.path for request in fake.requests] == [
        "/openai/deployments/my-gpt/chat/completions",
        "/openai/deployments/my-embedder/embeddings",
        "/openai/deployments/my-instruct/completions",
    ]
    assert all(request.query == {"api-version": "2024-10-21"} for request in fake.requests)
    assert all(request.headers["api-key"] == API_KEY for request in fake.requests)
    assert all("authorization" not in request.headers for request in fake.requests)


def test_azure_refuses_a_wrong_key_and_fails_by_deployment_name(fake: FakeOpenAI) -> None:
    endpoint = {"azure_endpoint": fake.root_url, "api_version": "2024-10-21", "max_retries": 0}
    with (
        openai.AzureOpenAI(api_key="wrong-key-0123456789", **endpoint) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        client.chat.completions.create(model="my-gpt", messages=[user("hi")])
    with openai.AzureOpenAI(api_key=API_KEY, **endpoint) as client, pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="error-429", messages=[user("hi")])


async def test_azure_without_an_api_version_is_not_found(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    url = f"{fake.root_url}/openai/deployments/my-gpt/chat/completions"
    body = {"messages": [user("hi")]}
    async with http.post(url, json=body, headers={"api-key": API_KEY}) as response:
        assert response.status == 404
        assert await response.json() == {"error": {"code": "404", "message": "Resource not found"}}


# --- scripting and bookkeeping ------------------------------------------------------------------------


def test_scripted_answers_come_first_in_order_then_normal_answers_resume(
    fake: FakeOpenAI, client: openai.OpenAI
) -> None:
    fake.enqueue(502, logic.error_body("Bad gateway.", "server_error"))
    scripted = chat_logic.chat_completion({"messages": [user("scripted")]}, logic.Meta("chatcmpl-x", 1, "gpt-4o"))
    fake.enqueue(200, scripted, {"x-scripted": "yes"})
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", messages=[user("hi")])
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=[user("hi")])
    assert raw.headers["x-scripted"] == "yes"
    assert raw.parse().choices[0].message.content == "echo: scripted"
    assert chat(client, model="gpt-4o", messages=[user("hi")])["choices"][0]["message"]["content"] == "echo: hi"
    assert len(fake.requests) == 3


def test_reset_forgets_requests_script_and_disconnects(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.enqueue(500, "boom")
    fake.disconnects = 3
    fake.disconnected.set()
    fake.reset()
    chat(client, model="gpt-4o", messages=[user("hi")])
    assert len(fake.requests) == 1
    assert (fake.disconnects, fake.disconnected.is_set()) == (0, False)


async def test_an_unknown_path_is_an_invalid_url(fake: FakeOpenAI, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{fake.url}/nope", headers={"Authorization": f"Bearer {API_KEY}"}) as response:
        assert response.status == 404
        body = await response.json()
    check("ErrorResponse", body)
    assert body["error"]["message"] == "Invalid URL (GET /v1/nope)"


# --- the schema validator -----------------------------------------------------------------------------


def test_a_validation_error_names_the_schema_and_the_place() -> None:
    body = {"id": "x", "object": "chat.completion", "created": 1, "model": "m", "choices": [{"index": 0}]}
    with pytest.raises(jsonschema.ValidationError, match=r"CreateChatCompletionResponse: at \$\.choices\[0\]"):
        check("CreateChatCompletionResponse", body)


def test_nullable_fields_accept_null_and_nothing_else_new() -> None:
    chunk = {
        "id": "x",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": None}],
        "usage": None,
    }
    check("CreateChatCompletionStreamResponse", chunk)
    with pytest.raises(jsonschema.ValidationError, match="finish_reason"):
        check(
            "CreateChatCompletionStreamResponse",
            {**chunk, "choices": [{**chunk["choices"][0], "finish_reason": "x"}]},
        )
    with pytest.raises(jsonschema.ValidationError, match="usage"):
        check("CreateChatCompletionStreamResponse", {**chunk, "usage": "none"})


def test_an_unknown_schema_name_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="NoSuchSchema"):
        openapi_schema.validate("NoSuchSchema", {})
