"""A pytest plugin for openai-python's own suite (``-p wardgate_sdk_selection``): the selection of
``tests/judges/test_openai_sdk_suite.py`` in one pytest run instead of one run per file.

``WARDGATE_SDK_SELECTION`` is a JSON list of ``[path, -k expression]``: an item is kept when its file is one of the
paths and the expression of that path matches it exactly as ``-k`` would (pytest's own keyword matcher), so the run
selects the same tests as ``pytest PATH -k EXPR`` once per path, without starting the SDK's suite (the openai
package, its conftest, respx) once per file. This directory is on the subprocess's PYTHONPATH only: the SDK's suite
has a ``tests`` package of its own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _pytest.mark import KeywordMatcher
from _pytest.mark.expression import Expression


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    chosen = {
        (root / path).resolve(): Expression.compile(expression)
        for path, expression in json.loads(os.environ["WARDGATE_SDK_SELECTION"])
    }
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        expression = chosen.get(Path(str(item.path)).resolve())
        keep = expression is not None and expression.evaluate(KeywordMatcher.from_item(item))
        (kept if keep else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
