"""Logging of a real `wardgate serve --workers 2 --log-level info` on PostgreSQL and Redis: the banner, the access
log, one line per upstream failure, and the log level honoured inside the workers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.server.serve import Served
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
MASTER = "sk-logging-master-key"
PASSWORD = "pw-never-logged"
PROMPT = "a prompt that must never reach a log line"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, Path]]:
    database = create_postgres_database()
    store = postgres_url(database).replace("postgres@", f"postgres:{PASSWORD}@")  # trust auth ignores it
    tmp = tmp_path_factory.mktemp("logging")
    config = tmp / "wardgate.yaml"
    with FakeOpenAI(api_key="sk-up").start() as fake:
        config.write_text(f"""
master_key: {MASTER}
store: "{store}"
redis: {{url: "{redis_url()}", key_prefix: "wglog-{uuid.uuid4().hex[:8]}:"}}
server: {{access_log: true}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
  mock: {{type: mock}}
models:
  gpt-4o-mini: [{{provider: mock, model: gpt-4o-mini}}]
  broken: [{{provider: up, model: error-500}}]
  refused: [{{provider: up, model: error-400}}]
""")
        served = Served(config, "--workers", "2", "--log-level", "info")
        try:
            yield served, config
        finally:
            served.stop()
            drop_postgres_database(database)


def chat(served: Served, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    return httpx.post(
        served.root + "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {MASTER}"}, timeout=30
    )


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


def test_the_start_banner_names_the_config_models_store_and_redis_without_passwords(
    served: tuple[Served, Path],
) -> None:
    server, config = served
    text = server.text()
    assert f"wardgate: serving {config} on http://127.0.0.1:{server.port}/v1 (2 workers, log level info)" in text
    assert "  models: broken, gpt-4o-mini, refused" in text
    assert "  store:  postgresql://postgres:***@127.0.0.1:5432/wardgate_test_" in text
    assert f"  redis:  {redis_url()}" in text
    assert PASSWORD not in text


def test_the_access_log_has_one_line_per_request_without_content(served: tuple[Served, Path]) -> None:
    server, _ = served
    answer = chat(server, "gpt-4o-mini")
    assert answer.status_code == 200
    request_id = answer.headers["x-wardgate-request-id"]
    text = server.wait_for_log(f"request_id={request_id}")
    (line,) = lines_with(text, f"request_id={request_id}")
    assert "wardgate.access: method=POST path=/v1/chat/completions status=200 duration_ms=" in line
    assert line.endswith(f"request_id={request_id} model=gpt-4o-mini deployment=mock/gpt-4o-mini")
    assert PROMPT not in text and MASTER not in text

    assert httpx.get(server.root + "/health/live?token=secret-in-query").status_code == 200
    text = server.wait_for_log("path=/health/live status=200")
    assert "secret-in-query" not in text


def test_an_upstream_502_logs_its_deployment_status_and_duration_once(served: tuple[Served, Path]) -> None:
    server, _ = served
    answer = chat(server, "broken")
    assert answer.status_code == 502
    request_id = answer.headers["x-wardgate-request-id"]
    text = server.wait_for_log(f"request_id={request_id} model=broken")  # the access line comes last
    (line,) = lines_with(text, f"request_id={request_id} message=")
    assert (
        " WARNING wardgate.upstream: upstream failure: deployment=up/error-500 status=502 code=upstream_error" in line
    )
    assert "duration_ms=" in line and len(line) < 1000


def test_the_log_level_reaches_the_workers(served: tuple[Served, Path]) -> None:
    """An upstream 400 blames the request, so its line is INFO: only written if --log-level info is in force in the
    worker that served it."""
    server, _ = served
    answer = chat(server, "refused")
    assert answer.status_code == 400
    request_id = answer.headers["x-wardgate-request-id"]
    text = server.wait_for_log(f"request_id={request_id} message=")
    (line,) = lines_with(text, f"request_id={request_id} message=")
    assert " INFO wardgate.upstream: upstream failure: deployment=up/error-400 status=400" in line
