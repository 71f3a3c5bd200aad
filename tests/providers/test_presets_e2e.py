"""Every OpenAI-compatible preset through the gateway with the official ``openai`` SDK, against the OpenAI fake.

One gateway configures every preset (the fake's URL as ``base_url``, as a self-hosted or proxied endpoint would be).
For each, the SDK calls the preset's first operation; the test checks the golden body on the wire (the client's body
with only ``model`` replaced), the credential in the header the vendor expects, the answer against OpenAI's schema,
and the ledger row against the fake's usage to the token.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate import cli
from wardgate.providers import registry
from wardgate.providers.presets import PRESETS
from wardgate.store.usage import by_request_id

KEY = "sk-preset-upstream"
MESSAGES: Any = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello preset"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY, cached_tokens=1, reasoning_tokens=2).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    providers = "\n".join(f'  p-{name}: {{type: {name}, base_url: "{fake.url}", api_key: {KEY}}}' for name in PRESETS)
    models = "\n".join(f"  m-{name}: [{{provider: p-{name}, model: {name}-upstream-model}}]" for name in PRESETS)
    with gateway_from_yaml(f"providers:\n{providers}\nmodels:\n{models}\n") as gw:
        yield gw


def test_there_are_at_least_thirty_provider_types_and_the_cli_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    types = registry.provider_types()
    assert len(types) >= 30
    assert cli.main(["providers"]) == 0
    lines = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [line[0] for line in lines] == sorted(types)
    for name, wire, operations in lines:
        assert wire and operations, name
        if name in PRESETS:
            assert wire == "openai" and set(operations.split(",")) == PRESETS[name].operations


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_serves_the_sdk_with_the_golden_body_and_exact_usage(
    gateway: RunningGateway, fake: FakeOpenAI, name: str
) -> None:
    upstream = f"{name}-upstream-model"
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as client:
        if "chat" in PRESETS[name].operations:
            sent: dict[str, Any] = {"messages": MESSAGES, "temperature": 0.5, "max_tokens": 20}
            raw = client.chat.completions.with_raw_response.create(model=f"m-{name}", **sent)
            validate("CreateChatCompletionResponse", raw.http_response.json())
            assert raw.parse().choices[0].message.content == "echo: hello preset"
            expected = (3 + 2 + 3 + 2, 3 + 2, 1, 2)  # the fake: 3 a message + one a word; 3 words + 2 reasoning
        else:
            sent = {"input": ["one two", "three"], "encoding_format": "float"}
            raw = client.embeddings.with_raw_response.create(model=f"m-{name}", **sent)
            validate("CreateEmbeddingResponse", raw.http_response.json())
            expected = (3, 0, 0, 0)
    wire = fake.requests[-1]
    assert wire.json == {**sent, "model": upstream}
    if PRESETS[name].key_header == "authorization":
        assert wire.headers["authorization"] == f"Bearer {KEY}"
    else:
        assert wire.headers[PRESETS[name].key_header] == KEY and "authorization" not in wire.headers
    assert raw.headers["x-wardgate-provider"] == f"p-{name}"
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, raw.headers["x-wardgate-request-id"]))
    assert row is not None
    assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"], row["reasoning_tokens"]) == expected
