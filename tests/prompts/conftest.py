from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai import FakeOpenAI
from tests.prompts.support import Team
from tests.support import RunningGateway, gateway_from_yaml


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
prompts:
  protected_labels: {{production: {{approvals: 2}}, staging: {{approvals: 1}}}}
  canary_check_s: 3600  # the tests judge canaries themselves (CanaryWatch.check)
  webhook_url: "{fake.url}/prompt-hook"
  decorators:
    - {{prompt: house-style, position: prefix}}
    - {{prompt: house-footer, label: dev, models: [other], position: suffix}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
  other: [{{provider: up, model: gpt-4o}}]
  broken: [{{provider: up, model: error-500}}]
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture(scope="module")
def team(gateway: RunningGateway) -> Iterator[Team]:
    made = Team(gateway)
    yield made
    made.close()
