"""The worst case of a call before it is made: prompt tokens counted, output bounded, priced at the dearest
deployment that may serve it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import orjson

from wardgate.core.call import Call
from wardgate.usage import tokens
from wardgate.usage.pricing import Price, PriceTier


def prompt_upper_bound(call: Call) -> int:
    """A bound no tokenizer can exceed, computed in microseconds: a token is at least one byte, and the request's
    JSON holds every byte of its text (plus quoting). Loose (≈4× for English), so the stage uses it first and counts
    exactly only when a budget or a TPM limit is close enough for the difference to matter."""
    body = call.body
    if call.operation == "chat":
        size = len(orjson.dumps(body.get("messages") or []))
        tools = body.get("tools")
        return size + (len(orjson.dumps(tools)) if tools else 0)
    if call.operation == "rerank":
        return len(orjson.dumps(rerank_texts(body)))
    data = body.get("prompt") if call.operation == "completions" else body.get("input")
    if isinstance(data, list) and data and all(isinstance(x, int) for x in data):
        return len(data)
    return len(orjson.dumps(data))


def prompt_tokens(call: Call, model: str) -> int:
    body = call.body
    if call.operation == "chat":
        tools = body.get("tools")
        extra = tokens.count_text(orjson.dumps(tools).decode(), model) if tools else 0
        return tokens.count_chat(body.get("messages") or [], model) + extra
    if call.operation == "rerank":
        return _count_input(rerank_texts(body), model)
    data = body.get("prompt") if call.operation == "completions" else body.get("input")
    return _count_input(data, model)


def rerank_texts(body: Mapping[str, Any]) -> list[str]:
    """The query and every document of a rerank request (validated: strings, or objects with a ``text``)."""
    texts = [body.get("query") or ""]
    for document in body.get("documents") or ():
        texts.append(document if isinstance(document, str) else str(document.get("text") or ""))
    return texts


def _count_input(data: Any, model: str) -> int:
    if isinstance(data, str):
        return tokens.count_text(data, model)
    if isinstance(data, list):
        if data and all(isinstance(x, int) for x in data):
            return len(data)
        return sum(_count_input(x, model) for x in data)
    return 0


def output_bound(call: Call, default: int) -> int:
    if call.operation not in ("chat", "completions"):
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
        # the dearest rate of each kind, in nano-dollars a token: a hold is an upper bound, so one multiplication
        # (no Decimal on the hot path) is enough; the ledger's exact cost comes from accounting
        self._rates = {model: _worst_rates(ps) for model, ps in prices.items()}

    def __call__(self, call: Call, model: str, *, exact: bool = True) -> tuple[int, int, int]:
        """(prompt tokens, output bound, worst-case cost in nano-dollars); ``exact=False`` bounds the prompt by its
        size instead of counting it."""
        if call.fixed_cost_nanousd is not None:  # an MCP tool call: its price is known, it has no tokens
            return 0, 0, call.fixed_cost_nanousd
        prompt = prompt_tokens(call, model) if exact else prompt_upper_bound(call)
        output = output_bound(call, self._default_output)
        return prompt, output, self.cost(model, prompt, output)

    def cost(self, model: str, prompt: int, output: int) -> int:
        rates = self._rates.get(model)
        if rates is None:
            return 0
        return math.ceil(prompt * rates[0] + output * rates[1]) + 1  # +1: float rounding never lowers a hold


def _worst_rates(prices: Sequence[Price | None]) -> tuple[float, float] | None:
    """(input, output) nano-dollars per token: the highest any deployment, tier or token kind charges."""
    inputs: list[Decimal] = []
    outputs: list[Decimal] = []
    for price in prices:
        if price is None:
            continue
        levels: list[Price | PriceTier] = [price, *price.tiers]
        for rates in levels:
            inputs += [r for r in (rates.input, rates.cached_input, rates.cache_write) if r is not None]
            outputs += [r for r in (rates.output, rates.reasoning) if r is not None]
    if not inputs and not outputs:
        return None
    per_token = Decimal(1000)  # USD per 1M tokens → nano-dollars per token
    return float(max(inputs, default=Decimal(0)) * per_token), float(max(outputs, default=Decimal(0)) * per_token)
