"""A pytest plugin for one run of openai-python's suite over many of its files, each with its own ``-k`` selection
(tests/judges/test_openai_sdk_suite.py): one pytest start per pass instead of one per file.

``WARDGATE_SDK_SELECT`` is a JSON object of the suite's file paths (relative to its root) and the ``-k`` expression
for each. A test of a file not named, or that its file's expression does not select, is deselected, exactly as
``pytest FILE -k EXPR`` would: the expression is evaluated with pytest's own ``-k`` matcher.

Loaded with ``-p wardgate_sdk_select`` (this folder on ``PYTHONPATH``); a unique module name, since the SDK's suite
has a ``tests`` package of its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _pytest.mark import KeywordMatcher  # what `-k` itself evaluates against (pytest is pinned: constraints.txt)
from _pytest.mark.expression import Expression


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = json.loads(os.environ["WARDGATE_SDK_SELECT"])
    root = Path(config.rootpath)
    compiled = {(root / path).resolve(): Expression.compile(expression) for path, expression in chosen.items()}
    selected: list[pytest.Item] = []
    deselected: list[pytest.Item] = []
    for item in items:
        expression = compiled.get(Path(item.path).resolve())
        if expression is not None and expression.evaluate(KeywordMatcher.from_item(item)):
            selected.append(item)
        else:
            deselected.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = selected
