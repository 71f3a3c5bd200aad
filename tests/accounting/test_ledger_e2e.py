"""Every call becomes one ledger row whose tokens are the provider's and whose cost is the catalog's price."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.core.usage import Usage
from wardgate.store.usage import by_request_id
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

MESSAGES: list[Any] = [{"role": "user", "content": "count my tokens please"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up", cached_tokens=3, reasoning_tokens=2).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  gpt-4o-mini: [{{provider: up, model: gpt-4o-mini}}]
  custom: [{{provider: up, model: my-finetune, price: {{input: 1, output: 2, cached_input: 0.5}}}}]
  cut: [{{provider: up, model: reset-stream, price: {{input: 1, output: 2}}}}]
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture(scope="module")
def key(gateway: RunningGateway) -> tuple[str, str]:
    async def make() -> tuple[str, str]:
        project = await gateway.worker.tenancy.create_project("ledger-test", cost_center="CC-9")
        secret, record = await gateway.worker.keys.create(project.id, name="ledger")
        return secret, record.id

    return gateway.run(make())


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


@pytest.mark.parametrize("stream", [False, True])
def test_a_call_is_one_row_with_the_providers_tokens_and_the_catalog_cost(
    gateway: RunningGateway, key: tuple[str, str], stream: bool
) -> None:
    secret, key_id = key
    with openai.OpenAI(base_url=gateway.url, api_key=secret, max_retries=0) as client:
        if stream:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
            list(raw.parse())
        else:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    # the fake: 3 + 4 words prompt tokens; "echo: count my tokens please" = 5 words + 2 reasoning tokens
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == (7, 7, 3, 2)
    price = load_catalog().lookup("openai", "gpt-4o-mini")
    assert price is not None
    expected = to_nanousd(cost(Usage(7, 7, cached_tokens=3, reasoning_tokens=2), price))
    assert row["cost_nanousd"] == expected > 0
    assert (row["key_id"], row["principal_kind"], row["status"], row["stream"]) == (key_id, "key", 200, stream)
    assert row["deployment"] == "up/gpt-4o-mini" and row["project_id"] is not None


def test_a_deployment_price_overrides_the_catalog(gateway: RunningGateway, key: tuple[str, str]) -> None:
    with openai.OpenAI(base_url=gateway.url, api_key=key[0], max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="custom", messages=MESSAGES)
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    # 4 uncached input at $1/M, 3 cached at $0.5/M, 7 output at $2/M
    assert Decimal(row["cost_nanousd"]) == (4 * 1000 + 3 * 500 + 7 * 2000)


def test_failed_calls_are_recorded_and_unauthenticated_ones_are_not(gateway: RunningGateway) -> None:
    with (
        openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as client,
        pytest.raises(openai.NotFoundError) as caught,
    ):
        client.chat.completions.create(model="nope", messages=MESSAGES)
    row = ledger_row(gateway, caught.value.response.headers["x-wardgate-request-id"])
    assert (row["status"], row["error_code"], row["principal_kind"]) == (404, "model_not_found", "master")


def test_a_revoked_key_is_refused(gateway: RunningGateway) -> None:
    async def make() -> str:
        project = await gateway.worker.tenancy.create_project("revoke-test")
        secret, record = await gateway.worker.keys.create(project.id)
        await gateway.worker.keys.revoke(record.id)
        gateway.worker.key_cache.invalidate()
        return secret

    secret = gateway.run(make())
    with (
        openai.OpenAI(base_url=gateway.url, api_key=secret, max_retries=0) as client,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert "revoked" in caught.value.message


def test_the_ledger_row_explains_the_route(gateway: RunningGateway, key: tuple[str, str]) -> None:
    with openai.OpenAI(base_url=gateway.url, api_key=key[0], max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert row["details"]["route"]["deployment"] == "up/gpt-4o-mini"
    assert row["details"]["route"]["attempts"] == 1
    assert "deployment=up/gpt-4o-mini" in raw.headers["x-wardgate-route"]


def test_a_stream_cut_short_is_charged_what_it_relayed(gateway: RunningGateway, key: tuple[str, str]) -> None:
    with openai.OpenAI(base_url=gateway.url, api_key=key[0], max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(model="cut", messages=MESSAGES, stream=True)
        with pytest.raises(openai.APIError):
            list(raw.parse())
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert row["details"]["usage_estimated"] is True
    assert row["input_tokens"] > 0 and row["cost_nanousd"] > 0  # the prompt was counted with the tokenizer
    assert row["status"] == 502
