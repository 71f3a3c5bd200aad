"""Every failed upstream attempt is logged once, on one bounded line, on the routed path too: a fall-back that
recovers the call still leaves the failure in the log, and a stream cut mid-way logs its own."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

KEY = "sk-fake-upstream"


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningGateway]:
    with FakeOpenAI(api_key=KEY).start() as fake:
        up = f'{{type: openai, base_url: "{fake.url}", api_key: {KEY}}}'
        with gateway_from_yaml(f"""
providers:
  up: {up}
models:
  recovers:
    strategy: lowest_cost
    deployments:
      - {{provider: up, model: error-500, price: {{input: 0.1, output: 0.4}}}}
      - {{provider: up, model: gpt-4o-mini, price: {{input: 3, output: 15}}}}
  cut: [{{provider: up, model: reset-stream}}]
""") as gateway:
            yield gateway


def post(gateway: RunningGateway, body: dict[str, object]) -> httpx.Response:
    return httpx.post(
        gateway.url + "/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30
    )


def failures(caplog: pytest.LogCaptureFixture, request_id: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "wardgate.upstream" and request_id in r.getMessage()]


def test_a_failed_attempt_that_a_fall_back_recovers_is_logged_once(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="wardgate.upstream"):
        answer = post(gateway, {"model": "recovers", "messages": [{"role": "user", "content": "hi"}]})
    assert answer.status_code == 200
    (line,) = failures(caplog, answer.headers["x-wardgate-request-id"])
    assert line.startswith("upstream failure: deployment=up/error-500 status=502 code=upstream_error duration_ms=")
    assert len(line) < 1000


def test_a_stream_cut_mid_way_logs_its_failure_once(gateway: RunningGateway, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="wardgate.upstream"):
        answer = post(gateway, {"model": "cut", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
        assert answer.status_code == 200
        assert '"error"' in answer.text  # the cut reaches the client as an SSE error event
    (line,) = failures(caplog, answer.headers["x-wardgate-request-id"])
    assert line.startswith("upstream failure: deployment=up/reset-stream status=502 code=upstream_unavailable")
