"""Arize Phoenix (PyPI ``arize-phoenix``) as a real OTLP backend (issue 15, point 4): ``phoenix serve`` on loopback,
with its own SQLite in a temporary directory and nothing fetched, ingests the gateway's spans over OTLP/HTTP and shows
their token counts (its REST API) equal to the ledger's.

Phoenix pulls ~140 packages whose pins clash with the gateway's, so it lives in a virtualenv of its own,
``.venv/phoenix``, which ``make test`` installs (pinned by constraints-phoenix.txt) and names in ``WARDGATE_PHOENIX``.
Run by hand without it, the test skips with that reason; in CI (CI=true) a missing Phoenix is a failure."""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from sqlalchemy import select

from tests.limits.test_replicas import free_port
from tests.services import IN_CI
from tests.support import MASTER_KEY, gateway_from_yaml
from wardgate.store.tables import usage_events

PHOENIX = os.environ.get("WARDGATE_PHOENIX", "")
RUNNING = os.environ.get("WARDGATE_PHOENIX_URL", "")  # or a Phoenix already serving on loopback
pytestmark = pytest.mark.skipif(
    not (PHOENIX or RUNNING or IN_CI),
    reason="WARDGATE_PHOENIX (a `phoenix` executable; `make test` installs it) is not set",
)
MESSAGES: list[Any] = [{"role": "user", "content": "count my tokens"}]


def _until(check: Any, seconds: float, what: str) -> Any:
    """Poll an external process (Phoenix starts, then writes spans from its own queue) until ``check`` answers."""
    deadline, pause = time.monotonic() + seconds, threading.Event()
    while time.monotonic() < deadline:
        try:
            found = check()
        except httpx.HTTPError:
            found = None
        if found:
            return found
        pause.wait(0.2)
    raise AssertionError(f"Phoenix: {what} within {seconds} s")


@pytest.fixture(scope="module")
def phoenix() -> Iterator[str]:
    if RUNNING:
        yield RUNNING.rstrip("/")
        return
    if not PHOENIX or not os.access(PHOENIX, os.X_OK):
        pytest.fail(
            f"WARDGATE_PHOENIX={PHOENIX!r} is not an executable (CI=true: this test must run; `make test` installs it)"
        )
    port, grpc = free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="phoenix-") as tmp:
        env = {
            **os.environ,
            "PHOENIX_WORKING_DIR": tmp,
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(port),
            "PHOENIX_GRPC_PORT": str(grpc),
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        with open(os.path.join(tmp, "phoenix.log"), "wb") as log:
            server = subprocess.Popen([PHOENIX, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
            root = f"http://127.0.0.1:{port}"
            try:
                _until(
                    lambda: httpx.get(root + "/v1/projects", timeout=5).status_code == 200, 600, "started"
                )  # ~80 s loaded
                yield root
            finally:
                server.terminate()
                server.wait(timeout=30)


def test_phoenix_ingests_the_gateways_spans_and_shows_their_token_counts(phoenix: str) -> None:
    config = f"""
server: {{preload_tokenizers: false}}
providers:
  m: {{type: mock}}
models:
  small: [{{provider: m, model: gpt-4o-mini, price: {{input: 1, output: 2}}}}]
telemetry:
  otlp_endpoint: {phoenix}
  service_name: wardgate-phoenix
"""
    with gateway_from_yaml(config) as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            client.chat.completions.create(model="small", messages=MESSAGES)
            assert [chunk for chunk in client.chat.completions.create(model="small", messages=MESSAGES, stream=True)]
        stage = gw.worker.telemetry
        assert stage is not None and stage.tracing is not None
        gw.run(stage.flush())
        gw.run(gw.worker.ledger.flush())

        async def rows() -> dict[str, Any]:
            async with gw.worker.engine.connect() as conn:
                found = (await conn.execute(select(usage_events))).mappings().all()
            return {row["request_id"]: row for row in found}

        ledger = gw.run(rows())

    def spans() -> dict[str, dict[str, Any]] | None:
        answer = httpx.get(phoenix + "/v1/projects/default/spans", params={"limit": 100}, timeout=5).json()
        roots = {s["attributes"].get("wardgate.request_id"): s for s in answer["data"] if s["parent_id"] is None}
        return roots if set(ledger) <= set(roots) else None

    roots = _until(spans, 60, "both requests' spans")
    assert len(ledger) == 2
    for request_id, row in ledger.items():
        attributes = roots[request_id]["attributes"]
        assert attributes["gen_ai.usage.input_tokens"] == row["input_tokens"] > 0
        assert attributes["gen_ai.usage.output_tokens"] == row["output_tokens"] > 0
        # Phoenix's own token columns (OpenInference) show the same counts
        assert attributes["llm.token_count.prompt"] == row["input_tokens"]
        assert attributes["llm.token_count.completion"] == row["output_tokens"]
        assert attributes["wardgate.cost_nanousd"] == row["cost_nanousd"]
