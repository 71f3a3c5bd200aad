"""Issue 17, done-when 8: promptfoo (npm) compares two prompt versions through the gateway with deterministic
assertions (bench/promptfoo). Runs when promptfoo is installed (`make promptfoo-ab` installs it, pinned)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.fakes.openai import FakeOpenAI
from tests.support import gateway_from_yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench" / "promptfoo"))
import ab  # noqa: E402

pytestmark = pytest.mark.skipif(
    not ab.PROMPTFOO.exists(), reason="promptfoo is not installed: `make promptfoo-ab` installs it (npm, pinned)"
)


def test_promptfoo_compares_two_versions_and_the_ledger_splits_by_version(tmp_path: Path) -> None:
    with FakeOpenAI(api_key="sk-up").start() as upstream, gateway_from_yaml(ab.config_text(upstream)) as gateway:
        setup = ab.set_up(gateway)
        assert ab.arms(ab.run_promptfoo(gateway, setup, tmp_path / "ab")) == {"A": (3, 3), "B": (3, 3)}
        assert ab.ledger_by_version(gateway, setup) == {setup.a: 3, setup.b: 3}
        # the assertions tell the versions apart: swapped, every call of both arms fails (`ab.py --swap`); not run
        # here, to keep the file under 30 s (each promptfoo run starts Node and its SQLite history: ~15-25 s)
