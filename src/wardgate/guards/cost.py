"""The cost guard: a request's worst-case cost, estimated before it is sent as the limits stage estimates it (the
prompt's tokens counted, the output bounded by ``max_tokens`` or ``limits.output_estimate_tokens``, times ``n``,
at the dearest deployment's prices), against ``max_usd``. Price tiers are not applied. An unpriced model costs 0."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import orjson

from wardgate.core.call import Call
from wardgate.usage import tokens

MILLION = Decimal(1_000_000)


class CostEstimator:
    __slots__ = ("default_output", "prices")

    def __init__(self, prices: Mapping[str, tuple[Decimal, Decimal]], default_output: int) -> None:
        self.prices = prices
        self.default_output = default_output

    def usd(self, call: Call) -> Decimal:
        price = self.prices.get(call.model)
        if price is None:
            return Decimal(0)
        return (Decimal(_prompt_tokens(call)) * price[0] + Decimal(self._output(call)) * price[1]) / MILLION

    def _output(self, call: Call) -> int:
        if call.operation == "embeddings":
            return 0
        body = call.body
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        n = body.get("n") or 1
        bound = limit if isinstance(limit, int) and limit > 0 else self.default_output
        return bound * (n if isinstance(n, int) and 0 < n <= 128 else 1)


def _prompt_tokens(call: Call) -> int:
    body = call.body
    try:
        if call.operation == "chat":
            tools = body.get("tools")
            extra = tokens.count_text(orjson.dumps(tools).decode(), call.model) if tools else 0
            return tokens.count_chat(body.get("messages") or [], call.model) + extra
        data = body.get("prompt") if call.operation == "completions" else body.get("input")
        return _count(data, call.model)
    except tokens.EncodingUnavailable:
        return len(orjson.dumps(body)) // 4


def _count(data: object, model: str) -> int:
    if isinstance(data, str):
        return tokens.count_text(data, model)
    if isinstance(data, list):
        if data and all(isinstance(x, int) for x in data):
            return len(data)
        return sum(_count(x, model) for x in data)
    return 0
