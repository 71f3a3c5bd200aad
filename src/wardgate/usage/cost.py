"""The cost of a call: its usage priced by its deployment's price (config override, else the catalog)."""

from __future__ import annotations

from wardgate.config.schema import Settings
from wardgate.core.call import Call, CostOf
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
        if call.usage is None or call.deployment is None:
            return 0
        found = prices.get(call.deployment.name)
        if found is None:
            return 0  # unpriced model: tokens are still counted; the ledger shows cost 0
        price, rates = found
        if rates is not None and not (call.batch and price.batch_discount is not None):
            whole = rates.nanousd(call.usage)  # integers, the same result (tests/usage/test_token_rates.py)
            if whole is not None:
                return whole
        return to_nanousd(cost(call.usage, price, batch=call.batch))

    return cost_of
