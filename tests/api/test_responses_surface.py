"""The Responses API end to end: the official ``openai`` SDK → Wardgate → the OpenAI fake's chat completions.

Every answer is checked against OpenAI's own schema; the chat body the provider receives against the golden files
(``golden/responses``); the ledger row against the fake's usage (cached and reasoning tokens included); the state
(``previous_response_id``, retrieve, delete, input items) against the project that owns it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.core.usage import Usage
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

UPSTREAM_KEY = "sk-fake-upstream-responses"
CACHED, REASONING = 2, 3
GOLDEN = Path(__file__).parent / "golden" / "responses"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY, cached_tokens=CACHED, reasoning_tokens=REASONING).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai_compatible, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}  # no native Responses API
models:
  gpt: [{{provider: up, model: gpt-4o-mini, price: {{input: 0.15, output: 0.60, cached_input: 0.075}}}}]
  broken: [{{provider: up, model: error-500}}]
  reset: [{{provider: up, model: reset-stream}}]
  capped: [{{provider: up, model: gpt-4o-mini}}]
budgets:
  - {{name: tiny, scope: project, match: capped-project, window: day, limit_tokens: 60, cap: hard}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


def make_key(gateway: RunningGateway, project: str) -> str:
    async def make() -> str:
        p = await gateway.worker.tenancy.create_project(project)
        secret, _ = await gateway.worker.keys.create(p.id)
        return secret

    return gateway.run(make())


@pytest.fixture(scope="module")
def keys(gateway: RunningGateway) -> dict[str, str]:
    return {name: make_key(gateway, name) for name in ("alpha", "beta", "capped-project")}


@pytest.fixture
def client(gateway: RunningGateway, keys: dict[str, str]) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=keys["alpha"], max_retries=0) as c:
        yield c


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


@pytest.mark.parametrize("case", ["basic_instructions", "message_items", "tool_round_trip", "stream"])
def test_the_provider_receives_the_golden_chat_body(client: openai.OpenAI, fake: FakeOpenAI, case: str) -> None:
    request = json.loads((GOLDEN / f"{case}.responses.json").read_text(encoding="utf-8"))
    answer = client.responses.create(**request)
    if request.get("stream"):
        events = list(answer)
        assert events[-1].type == "response.completed"
    expected = json.loads((GOLDEN / f"{case}.chat.json").read_text(encoding="utf-8"))
    assert fake.requests[-1].json == {**expected, "model": "gpt-4o-mini"}


def test_a_response_is_spec_valid_metered_exactly_and_in_the_ledger(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    raw = client.responses.with_raw_response.create(model="gpt", input="count my tokens please", instructions="Hi.")
    body = raw.http_response.json()
    validate("Response", body)
    response = raw.parse()
    assert response.output_text == "echo: count my tokens please"
    assert response.status == "completed" and response.model == "gpt" and response.id.startswith("resp_")
    # the fake: (3 + 1) + (3 + 4) prompt tokens, 5 words + 3 reasoning tokens
    assert response.usage is not None
    usage = (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens)
    assert usage == (11, 8, 19)
    assert response.usage.input_tokens_details.cached_tokens == CACHED
    assert response.usage.output_tokens_details.reasoning_tokens == REASONING
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert (row["surface"], row["operation"], row["model"], row["status"]) == ("responses", "chat", "gpt", 200)
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == (
        11, 8, CACHED, REASONING,
    )  # fmt: skip
    price = load_catalog().lookup("openai", "gpt-4o-mini")
    assert price is not None
    assert row["cost_nanousd"] == to_nanousd(cost(Usage(11, 8, CACHED, 0, REASONING), price)) > 0


def test_a_streamed_response_is_spec_valid_event_by_event_and_stored(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    with client.responses.with_streaming_response.create(model="gpt", input="stream these words", stream=True) as raw:
        request_id = raw.headers["x-wardgate-request-id"]
        lines = [line for line in raw.iter_lines() if line.startswith("data: ")]
    events = [json.loads(line[6:]) for line in lines]
    for event in events:
        validate("ResponseStreamEvent", event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]
    assert final["type"] == "response.completed"
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == "echo: stream these words"
    assert final["response"]["usage"]["output_tokens"] == 4 + REASONING
    assert final["response"]["usage"]["output_tokens_details"]["reasoning_tokens"] == REASONING
    row = ledger_row(gateway, request_id)
    assert (row["surface"], row["stream"], row["output_tokens"], row["reasoning_tokens"]) == (
        "responses", True, 4 + REASONING, REASONING,
    )  # fmt: skip
    # stored before response.completed was sent: retrievable at once
    assert (
        client.responses.retrieve(final["response"]["id"]).model_dump(exclude_none=True)["output"][0]["content"][0][
            "text"
        ]
        == "echo: stream these words"
    )


def test_the_sdk_stream_helper_accumulates_the_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt", input="helper works") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == "echo: helper works"


def test_previous_response_id_continues_the_stored_conversation(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    first = client.responses.create(model="gpt", input="remember blue", instructions="Be terse.")
    second = client.responses.create(model="gpt", input="what colour", previous_response_id=first.id)
    assert second.previous_response_id == first.id and second.output_text == "echo: what colour"
    # the instructions of the first response are not carried over, as OpenAI documents
    assert fake.requests[-1].json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "remember blue"}]},
        {"role": "assistant", "content": "echo: remember blue"},
        {"role": "user", "content": [{"type": "text", "text": "what colour"}]},
    ]
    retrieved = client.responses.with_raw_response.retrieve(second.id).http_response.json()
    validate("Response", retrieved)
    assert (
        retrieved["id"] == second.id
        and retrieved["output"] == second.model_dump(mode="json", exclude_unset=True)["output"]
    )
    items = client.responses.input_items.with_raw_response.list(second.id).http_response.json()
    validate("ResponseItemList", items)
    assert [item["content"] for item in items["data"]] == [[{"type": "input_text", "text": "what colour"}]]


def test_a_tool_round_trip_through_previous_response_id(client: openai.OpenAI) -> None:
    tools: Any = [{"type": "function", "name": "get_weather", "strict": True,
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                  "required": ["city"], "additionalProperties": False}}]  # fmt: skip
    first = client.responses.create(model="gpt", input="weather in Paris", tools=tools)
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather" and json.loads(calls[0].arguments) == {"city": "x"}
    second = client.responses.create(
        model="gpt",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny"}],
        tools=tools,
    )
    assert second.output_text == "tool said: sunny"


def test_input_items_page_in_either_order(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model="gpt", input=[{"role": "user", "content": word} for word in ("one", "two", "three")]
    )
    newest = client.responses.input_items.list(response.id, limit=2)
    texts = [item.content[0].text for item in newest.data]  # type: ignore[union-attr]
    assert texts == ["three", "two"] and newest.has_more
    oldest = client.responses.input_items.list(response.id, order="asc", after=newest.data[0].id)
    assert [item.content[0].text for item in oldest.data] == []  # type: ignore[union-attr]
    everything = [item.content[0].text for item in client.responses.input_items.list(response.id, order="asc")]  # type: ignore[union-attr]
    assert everything == ["one", "two", "three"]


def test_state_is_scoped_by_project(gateway: RunningGateway, client: openai.OpenAI, keys: dict[str, str]) -> None:
    mine = client.responses.create(model="gpt", input="private")
    with openai.OpenAI(base_url=gateway.url, api_key=keys["beta"], max_retries=0) as other:
        with pytest.raises(openai.NotFoundError) as caught:
            other.responses.retrieve(mine.id)
        assert caught.value.response.json()["error"]["message"] == f"Response with id '{mine.id}' not found."
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(mine.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.input_items.list(mine.id)
        with pytest.raises(openai.BadRequestError) as refused:
            other.responses.create(model="gpt", input="x", previous_response_id=mine.id)
        assert refused.value.response.json()["error"]["param"] == "previous_response_id"
    assert client.responses.retrieve(mine.id).id == mine.id  # still there for its owner


def test_delete_removes_it_and_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    kept = client.responses.create(model="gpt", input="delete me")
    client.responses.delete(kept.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(kept.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(kept.id)
    transient = client.responses.create(model="gpt", input="forget me", store=False)
    assert transient.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(transient.id)


def test_a_hard_budget_caps_responses(gateway: RunningGateway, keys: dict[str, str]) -> None:
    with openai.OpenAI(base_url=gateway.url, api_key=keys["capped-project"], max_retries=0) as capped:
        spent = 0
        with pytest.raises(openai.RateLimitError) as caught:
            for _ in range(10):
                answer = capped.responses.create(model="capped", input="spend some tokens", max_output_tokens=16)
                assert answer.usage is not None
                spent += answer.usage.total_tokens
    assert 0 < spent <= 60
    assert caught.value.response.json()["error"]["code"] == "budget_exceeded"


@pytest.mark.parametrize(
    ("request_body", "status", "param"),
    [
        ({"model": "gpt", "input": "x", "tools": [{"type": "web_search"}]}, 400, "tools[0].type"),
        ({"model": "gpt", "input": "x", "previous_response_id": "resp_" + "0" * 48}, 400, "previous_response_id"),
        ({"model": "gpt", "input": "x", "previous_response_id": "r" * 5000}, 400, "previous_response_id"),
        ({"model": "nope", "input": "x"}, 404, "model"),
        ({"model": "gpt"}, 400, "input"),
    ],
)
def test_bad_requests_get_openai_errors(
    gateway: RunningGateway, keys: dict[str, str], request_body: dict[str, Any], status: int, param: str
) -> None:
    answer = httpx.post(gateway.url + "/responses", json=request_body,
                        headers={"authorization": f"Bearer {keys['alpha']}"})  # fmt: skip
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["param"] == param and error["message"] and set(error) == {"message", "type", "param", "code"}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/responses/" + "x" * 5000, 404),
        ("GET", "/responses/resp_1/cancel", 404),
        ("POST", "/responses/resp_1/input_items", 404),
        ("GET", "/responses/resp_1/input_items?limit=0", 404),
    ],
)
def test_hostile_paths_are_clean_errors(gateway: RunningGateway, method: str, path: str, status: int) -> None:
    answer = httpx.request(method, gateway.url + path, headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert answer.status_code == status and answer.json()["error"]["type"] == "invalid_request_error"


def test_an_upstream_failure_is_relayed_and_a_cut_stream_ends_in_an_error_event(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError):
        client.responses.create(model="broken", input="x")
    with client.responses.with_streaming_response.create(model="reset", input="a b c d", stream=True) as raw:
        events = [json.loads(line[6:]) for line in raw.iter_lines() if line.startswith("data: ")]
    assert events[-1]["type"] == "error"
    validate("ResponseStreamEvent", events[-1])
    assert all(e["type"] != "response.completed" for e in events)


def test_without_a_key_nothing_is_read(gateway: RunningGateway) -> None:
    answer = httpx.get(gateway.url + "/responses/resp_1")
    assert answer.status_code == 401
