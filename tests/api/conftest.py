"""A gateway in front of the OpenAI fake, shared by the OpenAI-surface tests of this package."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

UPSTREAM_KEY = "sk-fake-upstream"


def openai_config(fake: FakeOpenAI) -> str:
    return f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}
  up-wrong-key: {{type: openai, base_url: "{fake.url}", api_key: sk-wrong-upstream-key-abcdef123456}}
  up-impatient: {{type: openai, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}, timeouts: {{first_byte: 0.3}}}}
  az: {{type: azure, base_url: "{fake.root_url}", api_key: {UPSTREAM_KEY}, api_version: 2024-10-21}}
  nowhere: {{type: openai, base_url: "http://127.0.0.1:9/v1", api_key: sk-unused, timeouts: {{connect: 2}}}}
  local: {{type: perplexity, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
  emb: [{{provider: up, model: text-embedding-3-small}}]
  rate-limited: [{{provider: up, model: error-429}}]
  broken: [{{provider: up, model: error-500}}]
  overloaded: [{{provider: up, model: error-503}}]
  rejected: [{{provider: up, model: error-400}}]
  misconfigured: [{{provider: up-wrong-key, model: gpt-4o-mini}}]
  slow: [{{provider: up-impatient, model: slow-2000}}]
  stall: [{{provider: up, model: stall}}]
  stall-stream: [{{provider: up, model: stall-stream}}]
  reset-stream: [{{provider: up, model: reset-stream}}]
  azure-gpt: [{{provider: az, model: my-deployment}}]
  unreachable: [{{provider: nowhere, model: gpt-4o-mini}}]
  chat-only: [{{provider: local, model: sonar}}]
"""


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY, cached_tokens=2, reasoning_tokens=3).start() as f:
        yield f


@pytest.fixture(scope="package")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    with gateway_from_yaml(openai_config(fake)) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(gateway: RunningGateway) -> openai.AsyncOpenAI:
    c = openai.AsyncOpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0)
    yield c  # type: ignore[misc]
    await c.close()
