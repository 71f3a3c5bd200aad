"""A provider that answers a streamed request with one JSON document (as Prism and some small servers do).

The answer reaches the client as the stream it stands for (content, tool calls, finish reason, and the usage chunk
when asked for), on the OpenAI and the Anthropic surface, from an OpenAI-wire and an Anthropic-wire upstream; the
call is metered with the provider's usage. A JSON error document, JSON that is no answer, and a body that is no
event stream at all are clear errors in the client's shape, never an empty stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.usage import by_request_id

OPENAI_KEY = "sk-unstreamed-openai-upstream"
ANTHROPIC_KEY = "sk-ant-unstreamed-upstream"
MESSAGES: Any = [{"role": "user", "content": "hello"}]
USAGE = {
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "total_tokens": 18,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}
COMPLETION = {
    "id": "chatcmpl-whole",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "the whole answer", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": USAGE,
}
TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
}
MESSAGE = {
    "id": "msg_whole",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "a whole message"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 9, "output_tokens": 5, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 1},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=ANTHROPIC_KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI, fake_anthropic: FakeAnthropic) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {OPENAI_KEY}}}
  ant: {{type: anthropic, base_url: "{fake_anthropic.url}", api_key: {ANTHROPIC_KEY}}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
  claude: [{{provider: ant, model: claude-sonnet-4-5}}]
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway, fake: FakeOpenAI, fake_anthropic: FakeAnthropic) -> Iterator[openai.OpenAI]:
    fake.reset()
    fake_anthropic.reset()
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


def tokens(row: dict[str, Any]) -> tuple[int, int, int, int]:
    return row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["reasoning_tokens"]


def test_a_json_answer_to_a_stream_is_relayed_as_its_chunks_and_metered(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    fake.enqueue(200, COMPLETION)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "the whole answer"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump(exclude_unset=True) == USAGE
    assert {c.id for c in chunks} == {"chatcmpl-whole"}
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert tokens(row) == (11, 7, 4, 2)
    assert row["stream"] and row["billable"] and row["status"] == 200 and row["cost_nanousd"] > 0


def test_without_include_usage_no_usage_chunk_is_sent_but_the_call_is_metered(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    fake.enqueue(200, COMPLETION)
    raw = client.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES, stream=True)
    chunks = list(raw.parse())
    assert all(c.choices and c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert tokens(ledger_row(gateway, raw.headers["x-wardgate-request-id"])) == (11, 7, 4, 2)


def test_tool_calls_of_a_json_answer_assemble_from_the_stream(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    message = {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
    fake.enqueue(200, {**COMPLETION, "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]})
    chunks = list(client.chat.completions.create(model="gpt", messages=MESSAGES, stream=True))
    calls = [call for c in chunks for call in c.choices[0].delta.tool_calls or []]
    assert [(c.index, c.id, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        (0, "call_1", "get_weather", '{"city":"Paris"}')
    ]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_legacy_completion_answered_whole_streams_its_text(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    choice = {"index": 0, "text": "plain text", "logprobs": None, "finish_reason": "length"}
    fake.enqueue(200, {**COMPLETION, "object": "text_completion", "choices": [choice]})
    raw = client.completions.with_raw_response.create(model="gpt", prompt="hi", stream=True)
    chunks = list(raw.parse())
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "plain text"
    assert chunks[-1].choices[0].finish_reason == "length"
    assert tokens(ledger_row(gateway, raw.headers["x-wardgate-request-id"])) == (11, 7, 4, 2)


def test_the_anthropic_surface_streams_a_json_answer_of_an_openai_upstream(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    fake.reset()
    fake.enqueue(200, COMPLETION)
    with (
        anthropic.Anthropic(base_url=gateway.root, api_key=MASTER_KEY, max_retries=0) as c,
        c.messages.stream(model="gpt", max_tokens=50, messages=MESSAGES) as stream,
    ):
        events = list(stream)
        final = stream.get_final_message()
    assert [e.type for e in events][0] == "message_start" and events[-1].type == "message_stop"
    assert final.content[0].type == "text" and final.content[0].text == "the whole answer"
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (11 - 4, 7)
    assert final.usage.cache_read_input_tokens == 4


def test_an_anthropic_upstream_answering_a_whole_message_streams_on_both_surfaces(
    gateway: RunningGateway, client: openai.OpenAI, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.enqueue(200, MESSAGE)
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "a whole message"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 9 + 3 + 1
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["cache_write_tokens"]) == (13, 5, 3, 1)

    fake_anthropic.enqueue(200, MESSAGE)
    with (
        anthropic.Anthropic(base_url=gateway.root, api_key=MASTER_KEY, max_retries=0) as c,
        c.messages.stream(model="claude", max_tokens=50, messages=MESSAGES) as stream,
    ):
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "a whole message"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.cache_read_input_tokens) == (9, 5, 3)


def _stream(gateway: RunningGateway, model: str = "gpt") -> httpx.Response:
    body = {"model": model, "messages": MESSAGES, "stream": True}
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    return httpx.post(f"{gateway.url}/chat/completions", json=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ({"error": {"message": "the model is asleep", "type": "server_error", "code": "sleepy"}}, "model is asleep"),
        ({"object": "chat.completion", "choices": []}, "JSON that is not a completion"),
        ({"choices": [{"index": 0, "message": "not an object"}]}, "JSON that is not a completion"),
        ([1, 2, 3], "JSON that is not an object"),
    ],
)
def test_a_json_document_that_is_no_answer_is_an_openai_error(
    gateway: RunningGateway, fake: FakeOpenAI, answer: Any, says: str
) -> None:
    fake.reset()
    fake.enqueue(200, orjson.dumps(answer), {"content-type": "application/json"})
    response = _stream(gateway)
    assert response.status_code == 502
    error = response.json()["error"]
    assert says in error["message"] and error["type"] and "param" in error and "code" in error
    row = ledger_row(gateway, response.headers["x-wardgate-request-id"])
    assert not row["billable"]


def test_an_anthropic_error_document_is_an_error_too(gateway: RunningGateway, fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.reset()
    fake_anthropic.enqueue(200, {"type": "error", "error": {"type": "api_error", "message": "try later"}})
    response = _stream(gateway, "claude")
    assert response.status_code == 502 and "try later" in response.json()["error"]["message"]


def test_a_body_that_is_no_event_stream_ends_in_an_error_event_not_an_empty_stream(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    fake.reset()
    fake.enqueue(200, b"<html><body>502 Bad Gateway</body></html>", {"content-type": "text/html"})
    response = _stream(gateway)
    assert response.status_code == 200  # the stream had started: the error travels as an event
    events = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert events and events[-1] != "[DONE]"
    error = orjson.loads(events[-1])["error"]
    assert "without an event stream" in error["message"]
