"""The integer fast path prices a tokens-only call exactly as the Decimal path does: for every price in the shipped
catalog and for random prices and usages, ``TokenRates.nanousd`` equals ``to_nanousd(cost(...))``; prices with a
rate finer than a nano-dollar per token, long-context tiers and non-token units go the Decimal way."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from wardgate.core.usage import Usage
from wardgate.usage.pricing import Price, PriceTier, TokenRates, cost, load_catalog, to_nanousd

counts = st.integers(min_value=-5, max_value=3_000_000)
usages = st.builds(
    Usage,
    input_tokens=counts,
    output_tokens=counts,
    cached_tokens=counts,
    cache_write_tokens=counts,
    reasoning_tokens=counts,
)
rates = st.decimals(min_value=0, max_value=200, places=4, allow_nan=False, allow_infinity=False)


def _catalog_prices() -> list[Price]:
    return [price for family in load_catalog().families.values() for price in family.prices.values()]


def test_every_catalog_price_gives_the_same_cost_both_ways() -> None:
    prices = _catalog_prices()
    assert len(prices) > 100
    fast = 0
    samples = [Usage(1234, 567, 200, 30, 40), Usage(0, 0), Usage(10, 5000, 11, 0, 4999), Usage(500, 3, 600, 0, 9)]
    for price in prices:
        token_rates = TokenRates.of(price)
        if token_rates is None:
            continue
        fast += 1
        for usage in samples:
            assert token_rates.nanousd(usage) == to_nanousd(cost(usage, price)), price
    assert fast > len(prices) // 2  # most list prices have at most three decimals per 1M tokens


@settings(max_examples=400, deadline=None)
@given(usages, rates, rates, st.one_of(st.none(), rates), st.one_of(st.none(), rates), st.one_of(st.none(), rates))
def test_random_prices_and_usages_agree(
    usage: Usage,
    input_rate: Decimal,
    output_rate: Decimal,
    cached: Decimal | None,
    write: Decimal | None,
    reasoning: Decimal | None,
) -> None:
    price = Price(input_rate, output_rate, cached, write, reasoning, tiers=(PriceTier(2_000_000, Decimal(7)),))
    token_rates = TokenRates.of(price)
    whole = all(r is None or r * 1000 == int(r * 1000) for r in (input_rate, output_rate, cached, write, reasoning))
    assert (token_rates is not None) == whole
    if token_rates is None:
        return
    got = token_rates.nanousd(usage)
    if usage.input_tokens > 2_000_000:
        assert got is None  # the long-context tier's rates: the Decimal path
    else:
        assert got == to_nanousd(cost(usage, price))


def test_other_units_go_the_decimal_way() -> None:
    price = Price(Decimal("2.5"), Decimal(10), audio_minute=Decimal("0.006"), images=(("default", Decimal("0.04")),))
    token_rates = TokenRates.of(price)
    assert token_rates is not None
    assert token_rates.nanousd(Usage(100, 10)) == 100 * 2500 + 10 * 10000
    assert token_rates.nanousd(Usage(0, 0, audio_seconds=3.5)) is None
    assert token_rates.nanousd(Usage(5, 0, images=2)) is None
