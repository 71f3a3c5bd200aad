"""openai-python's own ``tests/api_resources`` for chat, completions, embeddings and models: every test that
passes directly against Prism (a mock of the OpenAI spec) passes through Wardgate in front of the same Prism.

The SDK's suite runs in a subprocess, as its authors run it (its conftest, its pytest options), once with
``TEST_API_BASE_URL`` at Prism and once at the gateway's ``/v1``; the pass sets are compared. Only the operations
Wardgate serves are selected (chat and legacy completions ``create``, embeddings, models ``list``/``retrieve``,
moderations, files upload and list, batches list, videos create and list; with ``WARDGATE_SDK_SUITE=all`` also
audio, images, responses ``create``, the Realtime client secrets and Realtime calls): stored-completion and
model-deletion endpoints are not part of a gateway.

The selection is in resource groups (``GROUPS``), each one test here (``[chat]``, ``[responses]``, ``[realtime]`` …)
comparing its own tests, so a failure names its group. Each pass (direct, through Wardgate, and the two validating
proxy runs below) is one run of the SDK's suite over every chosen group's files, each file with its own selection
(sdk_plugin/wardgate_sdk_select.py): a start of the SDK's suite costs seconds, and one per file and pass was most of
this judge's time. ``WARDGATE_SDK_SUITE`` picks the groups: unset, every group but the modalities; ``all``; or a list
such as ``realtime,responses``. ``WARDGATE_SDK_SUITE_TIMEOUT`` (seconds, default 1800) per chosen file bounds a pass.
Responses ``retrieve``/``delete`` are not compared: a response Prism invented is not in the gateway's store (a 404
through Wardgate, by design); for the same reason files, batches and videos are compared on their creation, lists
and the SDK's own path checks, not on reads of Prism's ids.

The same selection (less its streamed tests: Prism cannot validate SSE) also runs through ``prism proxy --errors`` in
front of Wardgate, which validates every request and answer against the spec: the proxy flags no operation more often
than it does in front of Prism itself (whose mock invents a few answers its own validator rejects, which Wardgate
relays as they are), and as many tests pass.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
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

# the SDK's tests by resource group: each group is compared on its own (direct, then through Wardgate), so a slow
# machine times out one group, never the whole run, and a change is judged on the groups it touches
GROUPS: dict[str, list[tuple[str, str]]] = {
    "chat": [("tests/api_resources/chat/test_completions.py", "create")],
    "completions": [("tests/api_resources/test_completions.py", "create")],
    "embeddings": [("tests/api_resources/test_embeddings.py", "create")],
    "models": [("tests/api_resources/test_models.py", "list or retrieve")],
    "moderations": [("tests/api_resources/test_moderations.py", "create")],
    # files and batches: an id Prism invented is not the caller's (a 404 through Wardgate, by design), so only
    # upload, list and the SDK's own path checks are compared
    "files": [("tests/api_resources/test_files.py", "create or list or path_params")],
    "batches": [("tests/api_resources/test_batches.py", "list or path_params")],
    "videos": [
        ("tests/api_resources/test_videos.py", "(create and not character) or list or path_params or download_content")
    ],
    # issue 19's other modalities: minutes more of the SDK's suite (`make judge-modalities`)
    "audio": [
        ("tests/api_resources/audio/test_transcriptions.py", "create"),
        ("tests/api_resources/audio/test_translations.py", "create"),
        ("tests/api_resources/audio/test_speech.py", "create"),
    ],
    "images": [("tests/api_resources/test_images.py", "generate or edit or create_variation")],
    # with_all_params continues `previous_response_id="previous_response_id"`, an id Prism never made: not the
    # caller's, so a 400 through Wardgate by design (as retrieve and delete of Prism's ids are not compared)
    "responses": [("tests/api_resources/test_responses.py", "create and not with_all_params")],
    "realtime": [
        ("tests/api_resources/realtime/test_client_secrets.py", "create"),
        ("tests/api_resources/realtime/translations/test_client_secrets.py", "create"),
        # WebRTC calls: create (its tests mock the transport with respx, so they pass anywhere) and the SIP
        # controls, which reach Prism
        ("tests/api_resources/realtime/test_calls.py", "create or accept or hangup or refer or reject"),
    ],
}
MODALITIES = ("audio", "images", "responses", "realtime")
# WARDGATE_SDK_SUITE: unset, the groups but the modalities; "all", every group; else a comma-separated list of groups
_CHOSEN = os.environ.get("WARDGATE_SDK_SUITE", "")
if _CHOSEN == "all":
    CHOSEN = list(GROUPS)
elif _CHOSEN:
    CHOSEN = [name.strip() for name in _CHOSEN.split(",") if name.strip()]
    unknown = sorted(set(CHOSEN) - set(GROUPS))
    if unknown:
        raise ValueError(f"WARDGATE_SDK_SUITE names unknown groups {unknown}; the groups are {sorted(GROUPS)}")
else:
    CHOSEN = [name for name in GROUPS if name not in MODALITIES]
SELECTION = [entry for name in CHOSEN for entry in GROUPS[name]]
# seconds one run of one of the SDK's test files may take (its own pytest, in a subprocess); a loaded machine needs
# minutes for the responses and realtime files, whose tests are each a round trip to Prism
FILE_TIMEOUT_S = float(os.environ.get("WARDGATE_SDK_SUITE_TIMEOUT", "1800"))
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
    names = {
        "model",
        "omni-moderation-latest",
        "dall-e-2",
        "sora-2",
        "gpt-realtime",
        "gpt-realtime-translate",
        "gpt-4o",
    }
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
    config += "responses: {default_model: gpt-4o}\n"  # the SDK's responses.create() names no model
    with gateway_from_yaml(config) as gw:
        yield gw


PLUGIN = Path(__file__).parent / "sdk_plugin"  # wardgate_sdk_select: each file's own `-k` in one pytest run


def passed(suite: Path, base_url: str, tmp_path: Path, groups: list[str], exclude: str | None = None) -> set[str]:
    """The SDK's tests of ``groups`` that pass against ``base_url``: one pytest run of the SDK's suite over every
    file of the groups, each file with its own selection (sdk_plugin/wardgate_sdk_select.py), so a pass costs one
    start of the suite rather than one per file."""
    chosen: dict[str, str] = {}
    for group in groups:
        for path, selection in GROUPS[group]:
            selection = f"({selection}) and not ({exclude})" if exclude else selection
            chosen[path] = f"({chosen[path]}) or ({selection})" if path in chosen else selection
    report = tmp_path / f"report-{abs(hash(base_url))}.txt"
    timeout_s = FILE_TIMEOUT_S * len(chosen)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", *chosen, "-p", "wardgate_sdk_select", "-q", "-rA",
             "-p", "no:cacheprovider", "-o", "addopts=--tb=no", "-W", "ignore::DeprecationWarning"],
            cwd=suite, capture_output=True, text=True, timeout=timeout_s,
            env={**os.environ, "TEST_API_BASE_URL": base_url, "OPENAI_API_KEY": SDK_KEY,
                 "PYTHONPATH": os.pathsep.join((str(suite), str(PLUGIN))), "WARDGATE_SDK_SELECT": json.dumps(chosen)},
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        partial = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(
            f"the SDK's suite ({len(chosen)} files) took more than {timeout_s:.0f} s against {base_url} (a loaded "
            f"machine: raise WARDGATE_SDK_SUITE_TIMEOUT, or run fewer groups with WARDGATE_SDK_SUITE=<group,...>):\n"
            f"{partial[-2000:]}"
        )
    report.write_text(result.stdout + result.stderr)
    found = set(re.findall(r"^PASSED (\S+)", result.stdout, flags=re.MULTILINE))
    if not found and result.returncode not in (0, 1):
        pytest.fail(f"the SDK's suite did not run ({sorted(chosen)}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return found


def of_group(outcomes: set[str], group: str) -> set[str]:
    """The tests of ``outcomes`` in ``group``'s files (node ids start with the file's path)."""
    files = {path for path, _ in GROUPS[group]}
    return {test for test in outcomes if test.split("::", 1)[0] in files}


def counts(outcomes: set[str]) -> str:
    """``sync/async`` numbers of passed tests (the SDK names its async classes ``TestAsync…``)."""
    asynchronous = sum(1 for test in outcomes if "::TestAsync" in test)
    return f"{len(outcomes) - asynchronous}/{asynchronous}"


@pytest.fixture(scope="module")
def direct(sdk_suite: Path, prism_url: str, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The chosen groups' passes directly against Prism: one run of the SDK's suite, kept for every group's test."""
    return passed(sdk_suite, prism_url, tmp_path_factory.mktemp("direct"), CHOSEN)


@pytest.fixture(scope="module")
def through(sdk_suite: Path, gateway: RunningGateway, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The same through Wardgate in front of the same Prism."""
    return passed(sdk_suite, gateway.url, tmp_path_factory.mktemp("through"), CHOSEN)


@pytest.mark.parametrize("group", CHOSEN)
def test_the_sdk_suite_passes_through_the_gateway_as_it_does_directly(
    direct: set[str], through: set[str], group: str
) -> None:
    expected, got = of_group(direct, group), of_group(through, group)
    print(f"\nSDK suite [{group}] passes, sync/async: direct {counts(expected)}, through Wardgate {counts(got)}")
    assert expected, f"none of the SDK's {group} tests pass against Prism directly"
    missing = sorted(expected - got)
    assert not missing, f"{len(missing)} of {len(expected)} pass directly but not through Wardgate: {missing}"
    assert len(got) == len(expected)


STREAMED = "overload_2"  # the SDK's tests of `stream: true` (chat and legacy completions, responses)


_VIOLATED = re.compile(r"\[HTTP SERVER\] (\w+ \S+) .*VIOLATIONS")


def _through_proxy(suite: Path, upstream: str, tmp_path: Path) -> tuple[set[str], int, Counter[str]]:
    """(the passes through ``prism proxy --errors`` in front of ``upstream``, requests it forwarded, the operations
    whose request or answer it found invalid, counted)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    with running_prism_proxy(served_spec(), upstream) as (proxy_url, log):
        through = passed(suite, proxy_url, tmp_path, CHOSEN, exclude=STREAMED)
        lines = log.read_text(errors="replace").splitlines()
    forwarded = sum(1 for line in lines if "Forwarding" in line)
    violated = Counter(found.group(1) for line in lines if (found := _VIOLATED.search(line)))
    unparsed = [line for line in lines if ("Violation" in line or "VIOLATIONS" in line) and not _VIOLATED.search(line)]
    violated.update("(unparsed) " + line.split("›", 1)[-1].strip()[:300] for line in unparsed)  # no timestamp
    return through, forwarded, violated


def test_a_validating_proxy_in_front_of_the_gateway_finds_no_violation(
    sdk_suite: Path, prism_url: str, gateway: RunningGateway, tmp_path: Path
) -> None:
    """``prism proxy --errors`` between the SDK and Wardgate checks each request and answer against the spec, over
    every chosen group at once. Streamed answers are left out: Prism validates a ``text/event-stream`` body as one
    JSON document, so it flags every SSE stream, OpenAI's own included ("Response body must be object"); the streams
    are compared in the test above.

    The baseline is the same proxy in front of Prism itself: Prism's mock invents some answers its own validator
    rejects (the Realtime client secret's, 2026-12), and Wardgate relays the provider's bytes as they are. So no
    operation may be flagged through Wardgate more often than through Prism alone, and the same tests pass in each
    group."""
    baseline, baseline_forwarded, expected_flags = _through_proxy(sdk_suite, prism_url, tmp_path / "baseline")
    through, forwarded, flags = _through_proxy(sdk_suite, gateway.url, tmp_path / "gateway")
    print(f"\nvalidating proxy {CHOSEN}: {len(through)} pass via Wardgate, {len(baseline)} via Prism alone; "
          f"flagged via Wardgate {dict(flags)}, via Prism alone {dict(expected_flags)}")  # fmt: skip
    # the proxy really sat in front of the gateway: about as many requests went through it as in front of Prism
    assert baseline_forwarded > 0 and forwarded >= baseline_forwarded // 2, (
        f"{forwarded} requests reached the gateway through the proxy, {baseline_forwarded} reached Prism"
    )
    added = flags - expected_flags
    assert not added, f"operations Wardgate made invalid (beyond Prism's own answers): {dict(added)}"
    for group in CHOSEN:
        expected, got = of_group(baseline, group), of_group(through, group)
        assert expected, f"none of the SDK's {group} tests pass through the proxy to Prism"
        missing = sorted(expected - got)
        assert not missing, (
            f"[{group}] {len(missing)} of {len(expected)} pass via the proxy to Prism, not to Wardgate: {missing}"
        )
    assert len(through) == len(baseline)
