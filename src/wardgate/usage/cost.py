"""The cost of a call: its usage priced by its deployment's price (config override, else the catalog)."""

from __future__ import annotations

from wardgate.config.schema import Settings
from wardgate.core.call import Call, CostOf
from wardgate.core.usage import Usage
from wardgate.usage.pricing import Price, PriceTable, TokenRates, cost, load_catalog, to_nanousd


def price_table(settings: Settings) -> PriceTable:
    overrides = {
        f"{entry.provider}/{entry.model}": entry.price
        for entries in settings.models.values()
        for entry in entries
        if entry.price is not None
    }
    return PriceTable(load_catalog(), overrides)


def cost_function(settings: Settings) -> CostOf:
    """Resolve every deployment's price once, at start-up; a call then costs one dict lookup and the arithmetic."""
    table = price_table(settings)
    prices: dict[str, tuple[Price, TokenRates | None] | None] = {}
    for entries in settings.models.values():
        for entry in entries:
            provider_type = getattr(settings.providers[entry.provider], "type", "")
            name = f"{entry.provider}/{entry.model}"
            price = table.for_deployment(name, provider_type, entry.model)
            prices[name] = None if price is None else (price, TokenRates.of(price))

    def cost_of(call: Call) -> int:
        """Limits (settling), accounting (the ledger row) and telemetry each price the same call once it ends: a
        tokens-only call at whole nano-dollar rates is integer arithmetic (~1 µs); otherwise the Decimal arithmetic
        (~13 µs) runs once, and the others reuse it while the usage's values are the same."""
        usage, deployment = call.usage, call.deployment
        if usage is None or deployment is None:
            return 0
        found = prices.get(deployment.name)
        if found is None:
            return 0  # unpriced model: tokens are still counted; the ledger shows cost 0
        price, rates = found
        if rates is not None and not (call.batch and price.batch_discount is not None):
            whole = rates.nanousd(usage)  # integers, the same result (tests/usage/test_token_rates.py)
            if whole is not None:
                return whole
        key = (price, call.batch, *_values(usage))  # the price object itself: a reloaded price is a new one
        memo = call.cost_memo
        if memo is not None and memo[0] == key:
            return memo[1]
        value = to_nanousd(cost(usage, price, batch=call.batch))
        call.cost_memo = (key, value)
        return value

    return cost_of


def _values(u: Usage) -> tuple[object, ...]:
    """Every field of a usage the price depends on (the memo's key: a usage changed in place is priced again)."""
    return (
        u.input_tokens,
        u.output_tokens,
        u.cached_tokens,
        u.cache_write_tokens,
        u.reasoning_tokens,
        u.search_units,
        u.audio_seconds,
        u.characters,
        u.images,
        u.image_kind,
        u.audio_input_tokens,
        u.audio_output_tokens,
        u.video_seconds,
        u.video_size,
    )
