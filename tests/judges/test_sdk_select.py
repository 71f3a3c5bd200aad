"""The plugin that runs many of the SDK's files in one pytest start (sdk_plugin/wardgate_sdk_select.py) selects
exactly what ``pytest FILE -k EXPR`` selects for each file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

PLUGIN = Path(__file__).parent / "sdk_plugin"
FILES = {  # packages, as the SDK's suite is: two files may share a name
    "a/__init__.py": "",
    "b/__init__.py": "",
    "a/test_one.py": "class TestThing:\n    def test_create(self): pass\n    def test_list(self): pass\n"
    "class TestAsyncThing:\n    def test_create(self): pass\n",
    "b/test_one.py": "def test_create(): pass\ndef test_create_with_all_params(): pass\ndef test_delete(): pass\n",
    "test_two.py": "import pytest\n@pytest.mark.parametrize('x', ['loose', 'strict'])\ndef test_list(x): pass\n",
}
CHOSEN = {"a/test_one.py": "create", "b/test_one.py": "create and not with_all_params", "test_two.py": "strict"}


def _passed(root: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", *args, "-q", "-rA", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=root, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120,
    )  # fmt: skip
    return set(re.findall(r"^PASSED (\S+)", result.stdout, flags=re.MULTILINE))


def test_one_run_selects_what_each_file_with_its_own_k_selects(tmp_path: Path) -> None:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # this folder is the root, not the repository
    separately = set()
    for path, expression in CHOSEN.items():
        separately |= _passed(tmp_path, path, "-k", expression)
    together = _passed(
        tmp_path, *CHOSEN, "-p", "wardgate_sdk_select",
        env={"PYTHONPATH": str(PLUGIN), "WARDGATE_SDK_SELECT": json.dumps(CHOSEN)},
    )  # fmt: skip
    assert separately == {
        "a/test_one.py::TestThing::test_create",
        "a/test_one.py::TestAsyncThing::test_create",
        "b/test_one.py::test_create",
        "test_two.py::test_list[strict]",
    }
    assert together == separately
