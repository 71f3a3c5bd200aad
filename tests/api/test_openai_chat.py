"""Chat completions through the gateway to an OpenAI-wire upstream, driven by the official SDK."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.openai_logic import count_prompt_tokens
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway

MESSAGES: list[Any] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "hello there gateway"},
]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}, "required": ["tz"]},
    },
}


def test_a_chat_answer_is_the_upstream_answer_with_who_answered_in_headers(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
    body = raw.http_response.json()
    validate("CreateChatCompletionResponse", body)
    assert body["choices"][0]["message"]["content"] == "echo: hello there gateway"
    assert raw.headers["x-wardgate-deployment"] == "up/gpt-4o-mini"
    assert raw.headers["x-wardgate-provider"] == "up"
    assert len(raw.headers["x-wardgate-request-id"]) >= 16
    assert float(raw.headers["x-wardgate-overhead-ms"]) >= 0
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.headers["authorization"] == "Bearer sk-fake-upstream"


def test_usage_is_the_upstreams_to_the_token(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="gpt", messages=MESSAGES)
    assert answer.usage is not None
    assert answer.usage.prompt_tokens == count_prompt_tokens(MESSAGES)
    assert answer.usage.completion_tokens == 4 + 3  # "echo: hello there gateway" + 3 reasoning tokens
    assert answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 2


def test_a_client_request_id_is_echoed_but_the_request_id_is_the_gateways_own(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt", messages=MESSAGES, extra_headers={"x-wardgate-request-id": "trace-42"}
    )
    ours = raw.headers["x-wardgate-request-id"]
    assert ours != "trace-42" and re.fullmatch(r"[0-9a-f]{24}", ours)
    assert raw.headers["x-request-id"] == ours and raw.request_id == ours  # what the OpenAI SDK reports
    assert raw.headers["x-wardgate-client-request-id"] == "trace-42"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ({"x-client-request-id": "c-1", "x-request-id": "r-1"}, "c-1"),
        ({"x-request-id": "r-1"}, "r-1"),
        ({"x-request-id": "r-1", "x-wardgate-request-id": "w-1"}, "w-1"),
        ({"x-wardgate-request-id": "x" * 129}, None),
        ({"x-wardgate-request-id": "two words"}, None),
        ({"x-wardgate-request-id": "café".encode()}, None),
    ],
)
def test_the_client_id_comes_from_the_first_header_that_holds_a_plain_id(
    gateway: RunningGateway, sent: dict[str, str | bytes], kept: str | None
) -> None:
    body = {"model": "gpt", "messages": MESSAGES}
    response = httpx.post(gateway.url + "/chat/completions", json=body, headers={**AUTH, **sent})
    assert response.status_code == 200
    assert response.headers.get("x-wardgate-client-request-id") == kept
    assert response.headers["x-request-id"] == response.headers["x-wardgate-request-id"] not in sent.values()


def test_unknown_and_sampling_fields_reach_the_upstream_unchanged(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    client.chat.completions.create(
        model="gpt",
        messages=MESSAGES,
        seed=7,
        user="user-1",
        temperature=0.2,
        stop=["zzz"],
        extra_body={"vendor_knob": {"depth": 3}, "service_tier": "flex"},
    )
    sent = fake.requests[-1].json
    assert sent["vendor_knob"] == {"depth": 3}
    assert (sent["seed"], sent["user"], sent["temperature"], sent["stop"]) == (7, "user-1", 0.2, ["zzz"])
    assert sent["service_tier"] == "flex"


def test_stream_text_equals_the_plain_answer_and_chunks_match_the_spec(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(model="gpt", messages=MESSAGES)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-wardgate-deployment"] == "up/gpt-4o-mini"
    text, usage = "", None
    for chunk in raw.parse():
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == plain.choices[0].message.content
    assert usage is not None and plain.usage is not None
    assert usage.model_dump() == plain.usage.model_dump()


def test_a_stream_without_include_usage_gets_no_usage_chunk_but_the_upstream_is_asked_for_it(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    chunks = list(client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
    assert all(chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}


async def test_async_client_streams_too(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(model="gpt", messages=MESSAGES, stream=True)
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text == "echo: hello there gateway"


def test_parallel_tool_calls_and_the_round_trip(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    first = client.chat.completions.create(
        model="gpt",
        messages=MESSAGES,
        tools=[WEATHER, TIME],
        tool_choice="auto",  # type: ignore[list-item]
    )
    validate("CreateChatCompletionResponse", first.model_dump(exclude_unset=True))
    calls = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls"
    assert [(c.function.name, json.loads(c.function.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("get_weather", {"city": "x"}),
        ("get_time", {"tz": "x"}),
    ]
    followup = [
        *MESSAGES,
        first.choices[0].message.model_dump(exclude_none=True),
        *({"role": "tool", "tool_call_id": c.id, "content": "sunny"} for c in calls),
    ]
    second = client.chat.completions.create(model="gpt", messages=followup, tools=[WEATHER, TIME])  # type: ignore[list-item]
    assert second.choices[0].message.content == "tool said: sunny"
    assert fake.requests[-1].json["messages"][2]["tool_calls"][0]["id"] == calls[0].id


def test_streamed_tool_call_deltas_assemble_to_the_plain_tool_calls(client: openai.OpenAI) -> None:
    plain = client.chat.completions.create(
        model="gpt",
        messages=MESSAGES,
        tools=[WEATHER],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},  # type: ignore[list-item]
    )
    stream = client.chat.completions.create(
        model="gpt",
        messages=MESSAGES,
        tools=[WEATHER],
        stream=True,  # type: ignore[list-item]
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    calls: dict[int, dict[str, str]] = {}
    for chunk in stream:
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += tc.id or ""
            entry["name"] += (tc.function.name or "") if tc.function else ""
            entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
    expected = plain.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert calls[0] == {"id": expected.id, "name": "get_weather", "arguments": expected.function.arguments}  # type: ignore[union-attr]


def test_json_mode_n_logprobs_and_max_tokens(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model="gpt", messages=MESSAGES, response_format={"type": "json_object"}, n=2, logprobs=True, top_logprobs=2
    )
    validate("CreateChatCompletionResponse", answer.model_dump(exclude_unset=True))
    assert [c.index for c in answer.choices] == [0, 1]
    assert json.loads(answer.choices[1].message.content or "") == {"echo": "hello there gateway"}
    assert answer.choices[0].logprobs is not None and answer.choices[0].logprobs.content
    cut = client.chat.completions.create(model="gpt", messages=MESSAGES, max_tokens=2)
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("echo: hello", "length")


def test_multimodal_parts_pass_through(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    parts = [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
    ]
    answer = client.chat.completions.create(model="gpt", messages=[{"role": "user", "content": parts}])  # type: ignore[misc]
    assert answer.choices[0].message.content == "echo: what is this [image]"
    assert fake.requests[-1].json["messages"][0]["content"] == parts


def test_azure_deployments_are_addressed_by_url_and_api_key(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    answer = client.chat.completions.create(model="azure-gpt", messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: hello there gateway"
    sent = fake.requests[-1]
    assert sent.path == "/openai/deployments/my-deployment/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == "sk-fake-upstream"
    assert "authorization" not in sent.headers


def test_legacy_completions_stream_and_not(client: openai.OpenAI) -> None:
    plain = client.completions.create(model="gpt", prompt="say this")
    validate("CreateCompletionResponse", plain.model_dump(exclude_unset=True))
    assert plain.choices[0].text == "echo: say this"
    streamed = "".join(
        c.choices[0].text for c in client.completions.create(model="gpt", prompt="say this", stream=True) if c.choices
    )
    assert streamed == plain.choices[0].text


def test_embeddings_single_batch_and_base64(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    one = client.embeddings.create(model="emb", input="alpha", encoding_format="float")
    validate("CreateEmbeddingResponse", one.model_dump())
    batch = client.embeddings.create(model="emb", input=["alpha", "beta"], encoding_format="float")
    assert [d.index for d in batch.data] == [0, 1]
    assert batch.data[0].embedding == one.data[0].embedding
    raw = client.embeddings.with_raw_response.create(model="emb", input=["alpha"], encoding_format="base64")
    assert isinstance(raw.http_response.json()["data"][0]["embedding"], str)
    assert fake.requests[-1].json["model"] == "text-embedding-3-small"
    assert batch.usage.prompt_tokens == 2


def test_models_lists_the_public_names(client: openai.OpenAI, gateway: RunningGateway) -> None:
    listing = client.models.with_raw_response.list()
    validate("ListModelsResponse", listing.http_response.json())
    names = [m.id for m in listing.parse()]
    assert names == list(gateway.settings.models)
    assert client.models.retrieve("gpt").id == "gpt"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_an_operation_the_provider_lacks_is_a_400_naming_it(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="chat-only", input="x")
    assert "does not support embeddings" in caught.value.message
