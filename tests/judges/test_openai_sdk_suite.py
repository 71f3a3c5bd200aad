"""openai-python's own ``tests/api_resources`` for chat, completions, embeddings and models: every test that
passes directly against Prism (a mock of the OpenAI spec) passes through Wardgate in front of the same Prism.

The SDK's suite runs in a subprocess, as its authors run it (its conftest, its pytest options), once with
``TEST_API_BASE_URL`` at Prism and once at the gateway's ``/v1``; the pass sets are compared. Only the operations
Wardgate serves are selected (chat and legacy completions ``create``, embeddings, models ``list``/``retrieve``,
moderations, files upload and list, batches list, videos create and list; with ``WARDGATE_SDK_SUITE=all`` also
audio, images, responses ``create`` and the Realtime client secrets): stored-completion and model-deletion
endpoints are not part of a gateway.
Responses ``retrieve``/``delete`` are not compared: a response Prism invented is not in the gateway's store (a 404
through Wardgate, by design); for the same reason files, batches and videos are compared on their creation, lists
and the SDK's own path checks, not on reads of Prism's ids.

The same selection (less its streamed tests: Prism cannot validate SSE) also runs through ``prism proxy --errors`` in
front of Wardgate, which validates every request and answer against the spec: the proxy logs no violation, and as
many tests pass as directly against Prism.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.judges.install import (
    Unavailable,
    openai_tests,
    running_prism,
    running_prism_proxy,
    served_spec,
    unavailable,
)
from tests.support import RunningGateway, gateway_from_yaml

SELECTION = [
    ("tests/api_resources/chat/test_completions.py", "create"),
    ("tests/api_resources/test_completions.py", "create"),
    ("tests/api_resources/test_embeddings.py", "create"),
    ("tests/api_resources/test_models.py", "list or retrieve"),
    ("tests/api_resources/test_moderations.py", "create"),
    # files and batches: an id Prism invented is not the caller's (a 404 through Wardgate, by design), so only
    # upload, list and the SDK's own path checks are compared
    ("tests/api_resources/test_files.py", "create or list or path_params"),
    ("tests/api_resources/test_batches.py", "list or path_params"),
    ("tests/api_resources/test_videos.py", "(create and not character) or list or path_params or download_content"),
]
# issue 19's other modalities: minutes more of the SDK's suite, run twice; `make judge-modalities` (or
# WARDGATE_SDK_SUITE=all) adds them; the suite keeps moderations as the short version
MODALITIES = [
    ("tests/api_resources/audio/test_transcriptions.py", "create"),
    ("tests/api_resources/audio/test_translations.py", "create"),
    ("tests/api_resources/audio/test_speech.py", "create"),
    ("tests/api_resources/test_images.py", "generate or edit or create_variation"),
    ("tests/api_resources/test_responses.py", "create"),
    ("tests/api_resources/realtime/test_client_secrets.py", "create"),
    ("tests/api_resources/realtime/translations/test_client_secrets.py", "create"),
]
if os.environ.get("WARDGATE_SDK_SUITE") == "all":
    SELECTION += MODALITIES
SDK_KEY = "My API Key"  # what the SDK's suite sends


@pytest.fixture(scope="module")
def sdk_suite() -> Path:
    try:
        return openai_tests()
    except Unavailable as exc:
        unavailable(str(exc))
        raise


@pytest.fixture(scope="module")
def prism_url() -> Iterator[str]:
    try:
        with running_prism(served_spec()) as url:
            yield url
    except Unavailable as exc:
        unavailable(str(exc))


def models_used(suite: Path) -> set[str]:
    # the defaults of requests that name no model
    names = {"model", "omni-moderation-latest", "dall-e-2", "sora-2", "gpt-realtime", "gpt-realtime-translate"}
    for path, _ in SELECTION:
        text = (suite / path).read_text(encoding="utf-8")
        names.update(re.findall(r'model="([^"]+)"', text))
        names.update(re.findall(r'"model": "([^"]+)"', text))  # inside a nested object (a Realtime session's)
        names.update(re.findall(r'retrieve\(\s*"([^"]+)"', text))
    return names


@pytest.fixture(scope="module")
def gateway(prism_url: str, sdk_suite: Path) -> Iterator[RunningGateway]:
    models = "\n".join(f'  "{m}": [{{provider: prism, model: "{m}"}}]' for m in sorted(models_used(sdk_suite)))
    config = f"""
master_key: {SDK_KEY}
providers:
  prism: {{type: openai, base_url: "{prism_url}", api_key: sk-prism}}
models:
{models}
"""
    config += "files: {provider: prism, settle_every_s: 0}\n"  # no poller asking Prism about invented batches
    with gateway_from_yaml(config) as gw:
        yield gw


def passed(suite: Path, base_url: str, tmp_path: Path, exclude: str | None = None) -> set[str]:
    report = tmp_path / f"report-{abs(hash(base_url))}.txt"
    outcomes: set[str] = set()
    for path, chosen in SELECTION:
        selection = f"({chosen}) and not ({exclude})" if exclude else chosen
        result = subprocess.run(
            [sys.executable, "-m", "pytest", path, "-k", selection, "-q", "-rA", "-p", "no:cacheprovider",
             "-o", "addopts=--tb=no", "-W", "ignore::DeprecationWarning"],
            cwd=suite, capture_output=True, text=True, timeout=600,
            env={**os.environ, "TEST_API_BASE_URL": base_url, "OPENAI_API_KEY": SDK_KEY, "PYTHONPATH": str(suite)},
        )  # fmt: skip
        report.write_text(result.stdout + result.stderr)
        outcomes.update(re.findall(r"^PASSED (\S+)", result.stdout, flags=re.MULTILINE))
        if not outcomes and result.returncode not in (0, 1):
            pytest.fail(f"the SDK's suite did not run ({path}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return outcomes


def counts(outcomes: set[str]) -> str:
    """``sync/async`` numbers of passed tests (the SDK names its async classes ``TestAsync…``)."""
    asynchronous = sum(1 for test in outcomes if "::TestAsync" in test)
    return f"{len(outcomes) - asynchronous}/{asynchronous}"


@pytest.fixture(scope="module")
def direct(sdk_suite: Path, prism_url: str, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    outcomes = passed(sdk_suite, prism_url, tmp_path_factory.mktemp("direct"))
    assert len(outcomes) > 100, f"only {len(outcomes)} of the SDK's tests pass against Prism directly"
    return outcomes


def test_the_sdk_suite_passes_through_the_gateway_as_it_does_directly(
    sdk_suite: Path, direct: set[str], gateway: RunningGateway, tmp_path: Path
) -> None:
    through = passed(sdk_suite, gateway.url, tmp_path)
    print(f"\nSDK suite passes, sync/async: direct {counts(direct)}, through Wardgate {counts(through)}")
    missing = sorted(direct - through)
    assert not missing, f"{len(missing)} of {len(direct)} pass directly but not through Wardgate: {missing}"
    assert len(through) == len(direct)


STREAMED = "overload_2"  # the SDK's tests of `stream: true` (chat and legacy completions)


def test_a_validating_proxy_in_front_of_the_gateway_finds_no_violation(
    sdk_suite: Path, direct: set[str], gateway: RunningGateway, tmp_path: Path
) -> None:
    """``prism proxy --errors`` between the SDK and Wardgate checks each request and answer against the spec. Streamed
    answers are left out: Prism validates a ``text/event-stream`` body as one JSON document, so it flags every SSE
    stream, OpenAI's own included ("Response body must be object"); the streams are compared in the test above."""
    with running_prism_proxy(served_spec(), gateway.url) as (proxy_url, log):
        through = passed(sdk_suite, proxy_url, tmp_path, exclude=STREAMED)
        lines = log.read_text(errors="replace").splitlines()
    forwarded = [line for line in lines if "Forwarding" in line]
    violations = [line for line in lines if "Violation" in line or "VIOLATIONS" in line]
    expected = {test for test in direct if STREAMED not in test}
    assert len(forwarded) >= len(expected) // 2, f"only {len(forwarded)} requests reached the gateway"
    assert not violations, f"{len(violations)} violations of the spec:\n" + "\n".join(violations[:50])
    missing = sorted(expected - through)
    assert not missing, f"{len(missing)} of {len(expected)} pass directly but not through the proxy: {missing}"
    assert len(through) == len(expected)
