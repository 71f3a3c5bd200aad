from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai import FakeOpenAI
from tests.prompts.support import Team
from tests.support import RunningGateway, gateway_from_yaml

# one gateway for the whole package (each start costs seconds); test_decorators.py and test_replicas.py make their own


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


def config_text(fake: FakeOpenAI, extra: str = "") -> str:
    return f"""
prompts:
  protected_labels: {{production: {{approvals: 2}}, staging: {{approvals: 1}}}}
  canary_check_s: 3600  # the tests judge canaries themselves (CanaryWatch.check)
  webhook_url: "{fake.url}/prompt-hook"
{extra}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
  other: [{{provider: up, model: gpt-4o}}]
  broken: [{{provider: up, model: error-500}}]
"""


@pytest.fixture(scope="package")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    with gateway_from_yaml(config_text(fake)) as gw:
        yield gw


@pytest.fixture(scope="package")
def team(gateway: RunningGateway) -> Iterator[Team]:
    made = Team(gateway)
    yield made
    made.close()
