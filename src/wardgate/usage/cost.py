"""The cost of a call: its usage priced by its deployment's price (config override, else the catalog)."""

from __future__ import annotations

from wardgate.config.schema import Settings
from wardgate.core.call import Call, CostOf
from wardgate.usage.pricing import Price, PriceTable, cost, load_catalog, to_nanousd


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
    prices: dict[str, Price | None] = {}
    for entries in settings.models.values():
        for entry in entries:
            provider_type = getattr(settings.providers[entry.provider], "type", "")
            name = f"{entry.provider}/{entry.model}"
            prices[name] = table.for_deployment(name, provider_type, entry.model)

    def cost_of(call: Call) -> int:
        if call.usage is None or call.deployment is None:
            return 0
        price = prices.get(call.deployment.name)
        if price is None:
            return 0  # unpriced model: tokens are still counted; the ledger shows cost 0
        return to_nanousd(cost(call.usage, price, batch=call.batch))

    return cost_of
