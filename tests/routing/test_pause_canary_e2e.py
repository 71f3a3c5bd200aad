"""A real gateway in front of the OpenAI fake: a paused single-deployment model answers 429 with the time left
(not 503), and an identical canary is not rolled back on noise."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.admin.support import admin, create_project
from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.routing.state import routing_state

OPENAI_KEY = "sk-fake-upstream"
MESSAGES: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY).start() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    up = f'{{type: openai, base_url: "{fake.url}", api_key: {OPENAI_KEY}}}'
    config = f"""
providers:
  up: {up}
  up2: {up}
  up3: {up}
models:
  paced:
    deployments: [{{provider: up, model: gpt-4o-mini}}]
    deadline_s: 60
  same:
    deployments: [{{provider: up2, model: gpt-4o-mini}}]
    canary:
      deployment: {{provider: up3, model: gpt-4o-mini}}
      percent: 50
      sticky: key
      rollback: {{min_requests: 5}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


def chat(gateway: RunningGateway, model: str, key: str = MASTER_KEY) -> httpx.Response:
    return httpx.post(
        gateway.url + "/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": MESSAGES},
        timeout=10,
    )


def test_a_paused_single_deployment_answers_429_with_the_providers_wait_and_does_not_escalate(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    fake.reset()
    limit = {"error": {"message": "Rate limit", "type": "requests", "param": None, "code": "rate_limit_exceeded"}}
    fake.enqueue(429, limit, {"retry-after": "20"})
    first = chat(gateway, "paced")
    assert first.status_code == 429 and first.headers["retry-after"] == "20"
    for _ in range(20):  # during the pause: 429 with the wait left, never 503, and the provider is left alone
        held = chat(gateway, "paced")
        assert held.status_code == 429, held.text
        assert 1 <= int(held.headers["retry-after"]) <= 20
        assert held.json()["error"]["code"] == "rate_limit_exceeded"
    assert len(fake.requests) == 1
    entry = next(e for e in routing_state(gateway.worker.routing) if e["deployment"] == "up/gpt-4o-mini")
    assert entry["breaker"]["opened_total"] == 0 and entry["breaker"]["paused_until"] is not None


def test_an_identical_canary_behind_a_real_gateway_is_not_rolled_back(gateway: RunningGateway) -> None:
    with admin(gateway) as client:
        project = create_project(client)
        keys = []
        for _ in range(16):
            response = client.post("/admin/v1/keys", json={"project": project["id"]})
            assert response.status_code == 201, response.text
            keys.append(response.json()["key"])
    arms: dict[str, int] = {}
    for _ in range(15):
        for key in keys:
            answer = chat(gateway, "same", key)
            assert answer.status_code == 200, answer.text
            route = dict(part.split("=", 1) for part in answer.headers["x-wardgate-route"].split("; "))
            arms[route["arm"]] = arms.get(route["arm"], 0) + 1
    assert arms.get("canary", 0) >= 30 and arms.get("baseline", 0) >= 30
    entry = next(e for e in routing_state(gateway.worker.routing) if e["deployment"] == "up3/gpt-4o-mini")
    assert entry["canary"]["status"] == "active", entry["canary"]["reason"]
