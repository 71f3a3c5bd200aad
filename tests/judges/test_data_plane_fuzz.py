"""schemathesis fuzzes the data plane from the OpenAI spec, restricted to the operations Wardgate serves, against a
gateway in front of the OpenAI fake: no answer is a 5xx, whatever the body, headers or path parameters.

Bounded for the suite (``WARDGATE_FUZZ_EXAMPLES`` examples per operation, 60 by default, fixed seed); ``make fuzz``
runs it for ``WARDGATE_FUZZ_SECONDS``. The models the spec's examples name are configured, so part of the traffic
reaches the provider."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from schemathesis.cli import schemathesis as schemathesis_cli

from tests.fakes.openai import FakeOpenAI
from tests.judges.install import SERVED, served_spec
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

EXAMPLES = os.environ.get("WARDGATE_FUZZ_EXAMPLES", "60")
SECONDS = os.environ.get("WARDGATE_FUZZ_SECONDS")  # `make fuzz`: repeat until this time is spent
MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-5", "o3", "gpt-3.5-turbo-instruct", "text-embedding-3-small", "string"]


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningGateway]:
    with FakeOpenAI(api_key="sk-fake-upstream").start() as fake:
        models = "\n".join(f'  "{m}": [{{provider: up, model: gpt-4o-mini}}]' for m in MODELS)
        config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-fake-upstream}}
models:
{models}
"""
        with gateway_from_yaml(config) as gw:
            yield gw


def test_the_data_plane_never_answers_a_5xx(
    gateway: RunningGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = served_spec()
    monkeypatch.chdir(tmp_path)  # schemathesis and hypothesis keep caches in the working directory
    monkeypatch.setenv("HYPOTHESIS_STORAGE_DIRECTORY", str(tmp_path / ".hypothesis"))
    result = CliRunner().invoke(
        schemathesis_cli,
        [
            "--no-color",
            "run", str(spec),
            "--url", gateway.url,
            "--header", f"Authorization: Bearer {MASTER_KEY}",
            "--checks", "not_a_server_error",
            "--max-examples", EXAMPLES,
            "--seed", "20261206",
            "--workers", "1",
            "--generation-database", "none",
            "--report-dir", str(tmp_path / "report"),
            *(["--max-time", SECONDS] if SECONDS else []),
        ],
        catch_exceptions=False,
    )  # fmt: skip
    if result.exit_code != 0:
        pytest.fail(result.output, pytrace=False)
    served = sum(len(methods) for methods in SERVED.values())
    assert f"{served} selected / {served} total" in result.output  # every served operation was fuzzed
