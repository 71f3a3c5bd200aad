"""The request log (telemetry.access_log), the config's errors, and a gateway without `telemetry:` assembling none of
it."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.config import load_config_text
from wardgate.config.errors import ConfigError
from wardgate.telemetry.access import LOGGER

MESSAGES: list[Any] = [{"role": "user", "content": "the private prompt"}]


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as fake:
        yield fake


@pytest.fixture
def lines() -> Iterator[Lines]:
    logger = logging.getLogger(LOGGER)
    handler = Lines()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def gateway(upstream: FakeOpenAI, telemetry: str) -> RunningGateway:
    return gateway_from_yaml(f"""
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up}}
models:
  small: [{{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 2}}}}]
{telemetry}
""")


def test_json_is_one_line_per_request_with_the_ledger_values_and_no_content(upstream: FakeOpenAI, lines: Lines) -> None:
    with gateway(upstream, "telemetry: {access_log: json}") as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(model="small", messages=MESSAGES)
            assert [c for c in client.chat.completions.create(model="small", messages=MESSAGES, stream=True)]
            with pytest.raises(openai.NotFoundError):
                client.chat.completions.create(model='bad "model"\nname', messages=MESSAGES)
        with (
            openai.OpenAI(base_url=gw.url, api_key="sk-wrong-key", max_retries=0) as stranger,
            pytest.raises(openai.AuthenticationError),
        ):
            stranger.chat.completions.create(model="small", messages=MESSAGES)
    assert len(lines.lines) == 4 and all("\n" not in line for line in lines.lines)
    records = [orjson.loads(line) for line in lines.lines]
    first = records[0]
    assert first["request_id"] == raw.headers["x-request-id"] and first["status"] == 200
    assert first["model"] == "small" and first["deployment"] == "up/gpt-4o-mini" and first["principal"] == "master"
    assert first["input_tokens"] > 0 and first["output_tokens"] > 0 and first["cost_nanousd"] > 0
    assert first["cost_usd"] == first["cost_nanousd"] / 1e9 and first["latency_ms"] >= 0
    assert first["trace_id"] is None  # no otlp_endpoint: no spans
    assert records[1]["stream"] is True and records[1]["ttft_ms"] is not None
    assert records[2]["status"] == 404 and records[2]["error_type"] == "invalid_request_error"
    assert records[3]["status"] == 401 and records[3]["principal"] is None
    text = "\n".join(lines.lines)
    assert "private prompt" not in text and MASTER_KEY not in text and "sk-wrong-key" not in text


def test_text_is_logfmt_with_client_values_quoted(upstream: FakeOpenAI, lines: Lines) -> None:
    with (
        gateway(upstream, "telemetry: {access_log: text}") as gw,
        openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client,
    ):
        client.chat.completions.create(model="small", messages=MESSAGES)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model='bad "model" name', messages=MESSAGES)
    ok, bad = lines.lines
    assert "model=small " in ok and "status=200" in ok and "deployment=up/gpt-4o-mini" in ok
    assert 'model="bad \\"model\\" name"' in bad and "status=404" in bad


def test_off_logs_nothing_and_no_telemetry_assembles_no_stage(upstream: FakeOpenAI, lines: Lines) -> None:
    with gateway(upstream, "telemetry: {access_log: off}") as gw:
        with openai.OpenAI(base_url=gw.url, api_key=MASTER_KEY, max_retries=0) as client:
            client.chat.completions.create(model="small", messages=MESSAGES)
        assert gw.worker.telemetry is not None and gw.worker.telemetry.tracing is None  # metrics only
    assert lines.lines == []
    with gateway(upstream, "") as gw:
        assert gw.worker.telemetry is None
        assert "telemetry" not in [stage.name for stage in gw.worker.runtime.pipeline.stages]


@pytest.mark.parametrize(
    ("extra", "where", "says"),
    [
        ("alerts:\n  - {name: a, signal: spend, detector: {type: seasonal}}", "alerts[0].signal", "'spend'"),
        ("alerts:\n  - {name: a, signal: spend_usd, detector: {type: magic}}", "alerts[0].detector", "'magic'"),
        ("telemetry: {access_log: xml}", "telemetry.access_log", "'xml'"),
        ("telemetry: {otlp_endpoint: 127.0.0.1:4318}", "telemetry.otlp_endpoint", "http(s) URL"),
        ("telemetry: {metrics: {max_series: 0}}", "telemetry.metrics.max_series", ""),
    ],
)
def test_config_errors_name_the_key(extra: str, where: str, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(f"master_key: {MASTER_KEY}\n{extra}\n")
    assert f"{where}:" in str(caught.value) and says in str(caught.value)
