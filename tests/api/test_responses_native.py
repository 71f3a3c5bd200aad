"""The Responses API relayed to providers that speak it (OpenAI, Azure OpenAI): decision 048.

The official SDK → Wardgate → the OpenAI fake's own ``/v1/responses``: the body the provider receives against the
golden files (``golden/responses_native``), the answer and the stream relayed as the provider sent them, the ledger
row equal to the provider's usage (input, output, cached and reasoning tokens) and priced from it; continuations
(``previous_response_id``) passed on to the provider that holds the response, and translated onto chat with the
gateway's copy of the conversation wherever else they go; requests chat cannot carry (hosted tools) answered natively
and refused by providers without the Responses API; guards keep a call on the translation.
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
from wardgate.config.errors import ConfigError
from wardgate.config.loader import load_config_text
from wardgate.core.usage import Usage
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

KEY = "sk-fake-upstream-native"
CACHED, REASONING = 4, 7
GOLDEN = Path(__file__).parent / "golden" / "responses_native"
UPSTREAM_MODEL = "gpt-5-mini-2025-08-07"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, cached_tokens=CACHED, reasoning_tokens=REASONING).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    root = fake.url.removesuffix("/v1")
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {KEY}}}
  az: {{type: azure, base_url: "{root}", api_key: {KEY}}}
  compat: {{type: openai_compatible, base_url: "{fake.url}", api_key: {KEY}}}
models:
  native: [{{provider: up, model: {UPSTREAM_MODEL}}}]
  on-azure: [{{provider: az, model: my-gpt-deployment}}]
  translated: [{{provider: compat, model: gpt-4o-mini}}]
limits: {{output_estimate_tokens: 20}}
budgets:
  - {{name: tiny, scope: project, match: capped, window: day, limit_tokens: 60, cap: hard}}
  - {{name: small, scope: project, match: capped-stream, window: day, limit_tokens: 300, cap: hard}}
guards:
  - {{name: pii, type: pii, on: both, action: redact, entities: [email], scope: project, match: guarded}}
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
def key(gateway: RunningGateway) -> str:
    return make_key(gateway, "natives")


@pytest.fixture
def client(gateway: RunningGateway, key: str, fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    fake.reset()
    with openai.OpenAI(base_url=gateway.url, api_key=key, max_retries=0) as c:
        yield c


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


def metered(gateway: RunningGateway, request_id: str, usage: dict[str, Any]) -> dict[str, Any]:
    """The ledger row, checked against the provider's usage object, token kind by token kind, and its price."""
    row = ledger_row(gateway, request_id)
    expected = Usage.from_openai(usage)
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == (
        usage["input_tokens"], usage["output_tokens"], usage["input_tokens_details"]["cached_tokens"],
        usage["output_tokens_details"]["reasoning_tokens"],
    )  # fmt: skip
    price = load_catalog().lookup("openai", UPSTREAM_MODEL)
    if price is not None and row["model"] == "native":
        assert row["cost_nanousd"] == to_nanousd(cost(expected, price)) > 0
    return row


def test_the_provider_receives_the_request_as_sent_and_the_answer_comes_back_as_it_sent_it(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    request = json.loads((GOLDEN / "basic.request.json").read_text(encoding="utf-8"))
    raw = client.responses.with_raw_response.create(**request)
    sent = fake.requests[-1]
    assert sent.path == "/v1/responses" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == json.loads((GOLDEN / "basic.wire.json").read_text(encoding="utf-8"))
    body = raw.http_response.json()
    validate("Response", body)
    assert body == fake.responses[body["id"]]  # the provider's own object: its id, its model, its output items
    assert body["id"].startswith("resp_fake") and body["model"] == UPSTREAM_MODEL
    assert [item["type"] for item in body["output"]] == ["reasoning", "message"]
    assert raw.parse().output_text == "echo: what is a gateway"
    row = metered(gateway, raw.headers["x-wardgate-request-id"], body["usage"])
    assert (row["surface"], row["operation"], row["model"], row["status"]) == ("responses", "chat", "native", 200)
    assert body["usage"]["input_tokens_details"]["cached_tokens"] == CACHED
    assert body["usage"]["output_tokens_details"]["reasoning_tokens"] == REASONING
    # kept in the gateway's store too, under the caller's project: read back as the provider answered it
    assert client.responses.retrieve(body["id"]).model_dump(exclude_unset=True)["id"] == body["id"]
    stored = httpx.get(f"{gateway.url}/responses/{body['id']}", headers={"authorization": f"Bearer {client.api_key}"})
    assert stored.json() == body


def test_a_stream_is_relayed_event_by_event_and_metered_from_response_completed(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    request = json.loads((GOLDEN / "stream.request.json").read_text(encoding="utf-8"))
    with client.responses.with_streaming_response.create(**request) as raw:
        text = raw.http_response.read().decode()
        request_id = raw.headers["x-wardgate-request-id"]
    assert fake.requests[-1].json == json.loads((GOLDEN / "stream.wire.json").read_text(encoding="utf-8"))
    frames = [f for f in text.split("\n\n") if f]
    events = [json.loads(f.split("data: ", 1)[1]) for f in frames]
    assert [f.split("\n", 1)[0] for f in frames] == [f"event: {e['type']}" for e in events]  # OpenAI's framing
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == (
        "echo: stream these four words"
    )
    completed = events[-1]
    assert completed["type"] == "response.completed"
    for event in events:
        validate("ResponseStreamEvent", event)
    metered(gateway, request_id, completed["response"]["usage"])
    # store: false at the client's asking: not kept by the gateway either
    missing = httpx.get(
        f"{gateway.url}/responses/{completed['response']['id']}", headers={"authorization": f"Bearer {client.api_key}"}
    )
    assert missing.status_code == 404


def test_a_continuation_goes_to_the_provider_holding_the_response(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    first = client.responses.create(model="native", input="remember the word lighthouse")
    raw = client.responses.with_raw_response.create(
        model="native", input="what was the word", previous_response_id=first.id
    )
    sent = fake.requests[-1]
    assert sent.path == "/v1/responses"
    assert sent.json == {"model": UPSTREAM_MODEL, "input": "what was the word", "previous_response_id": first.id}
    body = raw.http_response.json()
    assert first.usage is not None
    assert body["usage"]["input_tokens"] == 4 + 3 + first.usage.total_tokens  # the provider counted the history
    metered(gateway, raw.headers["x-wardgate-request-id"], body["usage"])


def test_a_continuation_elsewhere_is_translated_with_the_gateways_copy_of_the_conversation(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    first = client.responses.create(model="native", input="remember the word lighthouse")
    second = client.responses.create(model="translated", input="what was the word", previous_response_id=first.id)
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions" and "previous_response_id" not in sent.json
    assert sent.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "remember the word lighthouse"}]},
        {"role": "assistant", "content": "echo: remember the word lighthouse"},
        {"role": "user", "content": [{"type": "text", "text": "what was the word"}]},
    ]
    assert second.output_text


def test_azure_openai_is_reached_at_its_v1_responses_with_the_deployment_as_model(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    raw = client.responses.with_raw_response.create(model="on-azure", input="hello azure")
    sent = fake.requests[-1]
    assert sent.path == "/openai/v1/responses" and sent.headers["api-key"] == KEY
    assert sent.json == {"model": "my-gpt-deployment", "input": "hello azure"}
    metered(gateway, raw.headers["x-wardgate-request-id"], raw.http_response.json()["usage"])


def test_providers_without_the_responses_api_keep_the_translation(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    answer = client.responses.create(model="translated", input="hello chat")
    assert fake.requests[-1].path == "/v1/chat/completions"
    assert answer.output_text == "echo: hello chat" and answer.model == "translated"


def test_a_hosted_tool_is_answered_natively_and_refused_where_chat_would_carry_it(
    client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    tools: Any = [{"type": "web_search"}]
    answer = client.responses.create(model="native", input="news of the day", tools=tools)
    assert fake.requests[-1].path == "/v1/responses" and fake.requests[-1].json["tools"] == tools
    assert answer.output_text == "echo: news of the day"
    fake.reset()
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="translated", input="news of the day", tools=tools)
    assert caught.value.response.json()["error"]["param"] == "tools[0].type"
    assert not fake.requests


def test_a_call_guards_apply_to_stays_on_the_translation(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    with openai.OpenAI(base_url=gateway.url, api_key=make_key(gateway, "guarded"), max_retries=0) as guarded:
        answer = guarded.responses.create(model="native", input="write to jane@example.com")
        sent = fake.requests[-1]
        assert sent.path == "/v1/chat/completions"
        assert "jane@example.com" not in json.dumps(sent.json)  # the guard redacted what the provider sees
        assert answer.output_text
        with pytest.raises(openai.BadRequestError):  # and what only a native answer could carry is refused
            guarded.responses.create(model="native", input="x", tools=[{"type": "web_search"}])


def test_a_provider_refusal_is_relayed_in_openais_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="native", input="x", previous_response_id="resp_unknown_to_all")
    error = caught.value.response.json()["error"]
    assert error["param"] == "previous_response_id" and set(error) >= {"message", "type", "param", "code"}


def test_a_provider_id_seen_again_replaces_its_owners_copy_and_never_moves_to_another_owner(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    first = client.responses.create(model="native", input="the first answer")
    again = {**fake.responses[first.id], "output": [{**fake.responses[first.id]["output"][-1], "content": [
        {"type": "output_text", "text": "the second answer", "annotations": [], "logprobs": []}]}]}  # fmt: skip
    fake.enqueue(200, again)
    assert client.responses.create(model="native", input="anything").id == first.id
    assert client.responses.retrieve(first.id).output_text == "the second answer"  # the same owner: replaced
    with openai.OpenAI(base_url=gateway.url, api_key=make_key(gateway, "others"), max_retries=0) as other:
        fake.enqueue(200, {**again, "output": []})
        assert other.responses.create(model="native", input="mine?").id == first.id  # answered, not stored
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(first.id)
    assert client.responses.retrieve(first.id).output_text == "the second answer"  # still its first owner's


def test_a_hard_budget_caps_native_responses(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    with openai.OpenAI(base_url=gateway.url, api_key=make_key(gateway, "capped"), max_retries=0) as capped:
        spent = 0
        with pytest.raises(openai.RateLimitError) as caught:
            for _ in range(10):
                answer = capped.responses.create(model="native", input="spend some tokens", max_output_tokens=16)
                assert fake.requests[-1].path == "/v1/responses" and answer.usage is not None
                spent += answer.usage.total_tokens
    assert 0 < spent <= 60
    assert caught.value.response.json()["error"]["code"] == "budget_exceeded"


def test_a_native_stream_past_its_hard_budgets_output_bound_ends_as_incomplete(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    words = " ".join(f"w{n}" for n in range(120))  # echoed back: far more output than the budget's room
    key = make_key(gateway, "capped-stream")
    with (
        openai.OpenAI(base_url=gateway.url, api_key=key, max_retries=0) as capped,
        capped.responses.with_streaming_response.create(model="native", input=words, stream=True) as raw,
    ):
        text = raw.http_response.read().decode()
    events = [json.loads(f.split("data: ", 1)[1]) for f in text.split("\n\n") if f]
    assert fake.requests[-1].path == "/v1/responses"
    assert events[-1]["type"] == "response.incomplete" and "wardgate" in events[-1]
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert not any(e["type"] == "response.completed" for e in events)


def test_a_request_naming_no_model_is_routed_on_responses_default_model(fake: FakeOpenAI) -> None:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {KEY}}}
models:
  native: [{{provider: up, model: {UPSTREAM_MODEL}}}]
responses: {{default_model: native}}
"""
    with gateway_from_yaml(config) as gw:
        answer = httpx.post(
            gw.url + "/responses", json={"input": "no model named"}, headers={"authorization": f"Bearer {MASTER_KEY}"}
        )
        assert answer.status_code == 200 and answer.headers["x-wardgate-deployment"] == f"up/{UPSTREAM_MODEL}"
        assert fake.requests[-1].json == {"model": UPSTREAM_MODEL, "input": "no model named"}


def test_responses_default_model_must_be_a_configured_model() -> None:
    with pytest.raises(ConfigError, match="responses.default_model"):
        load_config_text("models: {}\nresponses: {default_model: nope}\n")
