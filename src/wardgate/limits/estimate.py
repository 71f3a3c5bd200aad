"""The worst case of a call before it is made: prompt tokens counted, output bounded, priced at the dearest
deployment that may serve it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from wardgate.accounting import tokens
from wardgate.accounting.pricing import Price, cost, to_nanousd
from wardgate.core.call import Call
from wardgate.core.usage import Usage


def prompt_tokens(call: Call, model: str) -> int:
    body = call.body
    if call.operation == "chat":
        return tokens.count_chat(body.get("messages") or [], model)
    data = body.get("prompt") if call.operation == "completions" else body.get("input")
    return _count_input(data, model)


def _count_input(data: Any, model: str) -> int:
    if isinstance(data, str):
        return tokens.count_text(data, model)
    if isinstance(data, list):
        if data and all(isinstance(x, int) for x in data):
            return len(data)
        return sum(_count_input(x, model) for x in data)
    return 0


def output_bound(call: Call, default: int) -> int:
    if call.operation == "embeddings":
        return 0
    body = call.body
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    n = body.get("n") or 1
    bound = limit if isinstance(limit, int) and limit > 0 else default
    return bound * (n if isinstance(n, int) and n > 0 else 1)


class Estimator:
    """Prices per public model, resolved once at start-up."""

    def __init__(self, prices: Mapping[str, Sequence[Price | None]], default_output: int) -> None:
        self._prices = prices
        self._default_output = default_output

    def __call__(self, call: Call, model: str) -> tuple[int, int, int]:
        """(prompt tokens, output bound, worst-case cost in nano-dollars)."""
        prompt = prompt_tokens(call, model)
        output = output_bound(call, self._default_output)
        return prompt, output, self.cost(model, prompt, output)

    def cost(self, model: str, prompt: int, output: int) -> int:
        usage = Usage(input_tokens=prompt, output_tokens=output)
        worst = 0
        for price in self._prices.get(model, ()):
            if price is not None:
                worst = max(worst, to_nanousd(cost(usage, price)))
        return worst
