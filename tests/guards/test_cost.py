"""The cost guard: the worst case of a request, priced at the dearest deployment, against max_usd."""

from __future__ import annotations

import asyncio

import pytest

from tests.guards.helpers import call
from wardgate.config import load_config_text
from wardgate.guards.build import build_guards_stage
from wardgate.guards.errors import GuardBlocked

CONFIG = """
master_key: sk-test-master-key
providers:
  a: {type: mock}
  b: {type: mock}
models:
  small:
    - {provider: a, model: m1, price: {input: 1000, output: 1000}}
    - {provider: b, model: m2, price: {input: 10, output: 4000}}
guards:
  - {name: spend, type: cost, max_usd: 0.25}
"""


@pytest.mark.parametrize(("max_tokens", "blocked"), [(10, False), (40, False), (80, True), (None, True)])
def test_the_worst_case_is_priced_at_the_dearest_deployment(max_tokens: int | None, blocked: bool) -> None:
    stage = build_guards_stage(load_config_text(CONFIG, source="t.yaml", env={}), None)
    body: dict[str, object] = {"model": "small", "messages": [{"role": "user", "content": "hello there"}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    c = call(body)
    c.model = "small"
    # prompt: a few tokens at $1000/M (the dearest input); output: max_tokens (else 4096) at $4000/M (the dearest)
    if blocked:
        with pytest.raises(GuardBlocked) as caught:
            asyncio.run(stage.before(c))
        assert caught.value.param == "spend" and "cost" in caught.value.message
    else:
        assert asyncio.run(stage.before(c)) is None
