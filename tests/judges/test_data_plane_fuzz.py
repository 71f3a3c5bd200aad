"""schemathesis fuzzes the data plane from the OpenAI spec, restricted to the operations Wardgate serves, against a
gateway in front of the OpenAI fake: no answer is a 5xx, whatever the body, headers or path parameters.

Bounded for the suite (``WARDGATE_FUZZ_EXAMPLES`` examples per operation, 60 by default, fixed seed); ``make fuzz``
runs it for ``WARDGATE_FUZZ_SECONDS``. The models the spec's examples name are configured, so part of the traffic
reaches the provider.

Two things are the judge's, not the gateway's, and are handled here:
- Hypothesis's targeted phase (schemathesis steers it toward inputs an operation accepts) hill-climbs until its
  improvements run out, not within ``max_examples``: the same run took 25 s or 6 min. Targeting is off, so the
  suite's run is bounded by its examples; every case is still generated and sent.
- schemathesis cannot build negative cases for some deeply referenced request bodies (its "Schema Error:
  Schemathesis does not support a `not` whose complement is not spelled out"): it stops generating for that
  operation. Such an error is reported, not failed on; any other error or failed check fails the test."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import hypothesis
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
    monkeypatch.setattr(hypothesis, "target", _no_target)
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
    if result.exit_code != 0 and not only_unsupported_schemas(result.output):
        pytest.fail(result.output, pytrace=False)
    served = sum(len(methods) for methods in SERVED.values())
    assert f"{served} selected / {served} total" in result.output  # every served operation was fuzzed


def _no_target(observation: float, *, label: str = "") -> float:
    return observation


UNSUPPORTED = "Schemathesis does not support"


def only_unsupported_schemas(output: str) -> bool:
    """Whether a failed run's only problems are schemathesis's own unsupported schemas: no failed check, and every
    error section is a Schema Error for a construct schemathesis cannot generate from."""
    if "= FAILURES =" in output or "= ERRORS =" not in output:
        return False
    errors = output.split("= ERRORS =", 1)[1].split("= WARNINGS =", 1)[0]
    sections = re.split(r"^_{3,} .+ _{3,}$", errors, flags=re.MULTILINE)[1:]  # the text under each operation
    return bool(sections) and all("Schema Error" in s and UNSUPPORTED in s for s in sections)


SCHEMA_ERROR = """
==================================== ERRORS ====================================
________________________ POST /realtime/client_secrets _________________________
Schema Error

Failed to generate test cases for this API operation. Schemathesis does not support a `not` whose complement is not
spelled out, below the document root
=================================== WARNINGS ===================================
"""
OTHER_ERROR = """
________________________ POST /chat/completions _________________________
Network Error

Connection refused
"""


def test_only_schemathesis_own_limits_are_forgiven() -> None:
    assert only_unsupported_schemas(SCHEMA_ERROR)
    assert not only_unsupported_schemas(SCHEMA_ERROR.replace("Schema Error", "Runtime Error"))
    assert not only_unsupported_schemas(SCHEMA_ERROR.replace("=== WARNINGS", OTHER_ERROR + "=== WARNINGS"))
    assert not only_unsupported_schemas("=== FAILURES ===\n- ST101 Server error\n" + SCHEMA_ERROR)
    assert not only_unsupported_schemas("Errors: 1")  # no section to read: not forgiven
