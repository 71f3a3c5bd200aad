"""`cost_of` prices a call once for the stages that ask (limits, accounting, telemetry), and again whenever what the
price depends on changed: the usage's values (even changed in place), the deployment, the batch flag."""

from __future__ import annotations

import time
from decimal import Decimal

from wardgate.config.loader import load_config_text
from wardgate.core.call import Call
from wardgate.core.deployment import Deployment, Timeouts
from wardgate.core.usage import Usage
from wardgate.usage.cost import cost_function
from wardgate.usage.pricing import Price, cost, to_nanousd

# m1's input price is finer than a nano-dollar a token: the Decimal path, which the memo keeps
CONFIG = """
master_key: sk-test-master-key-0123456789
providers:
  up: {type: openai, base_url: http://127.0.0.1:9/v1, api_key: sk-x}
models:
  small:
    - {provider: up, model: m1, price: {input: 1.5005, output: 6, cached_input: 0.75}}
    - {provider: up, model: m2, price: {input: 3, output: 12}}
"""


def deployment(model: str) -> Deployment:
    return Deployment(
        name=f"up/{model}",
        provider="up",
        upstream_model=model,
        adapter=None,  # type: ignore[arg-type]
        timeouts=Timeouts(connect=1, first_byte=1, total=1),
        weight=1,
    )


def expected(usage: Usage, input_rate: str, output_rate: str, cached: str | None = None) -> int:
    price = Price(Decimal(input_rate), Decimal(output_rate), Decimal(cached) if cached else None)
    return to_nanousd(cost(usage, price))


def test_the_memo_follows_the_usage_and_the_deployment() -> None:
    cost_of = cost_function(load_config_text(CONFIG))
    call = Call("r1", "openai", "chat", "small", {}, False, None, time.perf_counter())
    assert cost_of(call) == 0  # no usage yet
    call.deployment = deployment("m1")
    call.usage = Usage(input_tokens=1000, output_tokens=500, cached_tokens=200)
    first = cost_of(call)
    assert first == expected(call.usage, "1.5005", "6", "0.75")
    assert call.cost_memo is not None and cost_of(call) == first  # asked again: the memo
    call.usage.output_tokens = 900  # changed in place (a stream's final usage): priced again
    assert cost_of(call) == expected(call.usage, "1.5005", "6", "0.75") != first
    call.deployment = deployment("m2")  # a fall-back answered: its price
    assert cost_of(call) == expected(call.usage, "3", "12")
    call.deployment = deployment("unpriced")
    assert cost_of(call) == 0
