"""Pricing: catalog lookup, exact cost arithmetic per kind of token, tiers, batch, and config overrides."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib.resources import files

import pytest
from pydantic import ValidationError

from wardgate.core.usage import Usage
from wardgate.usage.pricing import (
    Catalog,
    Price,
    PriceConfig,
    PriceTable,
    PriceTier,
    cost,
    load_catalog,
    normalise_model_id,
    to_nanousd,
)

D = Decimal


def usage(**counts: int) -> Usage:
    return Usage(**counts)


# -- lookup ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
        ("models/gemini-2.5-pro", "gemini-2.5-pro"),
        ("claude-sonnet-4@20250514", "claude-sonnet-4"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0"),
        ("eu.amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0"),
        ("apac.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-3-7-sonnet-20250219-v1:0"),
        ("gpt-4o", "gpt-4o"),
        ("meta-llama/Llama-3.3-70B-Instruct-Turbo", "meta-llama/Llama-3.3-70B-Instruct-Turbo"),
    ],
)
def test_normalising_strips_dates_prefixes_and_versions(raw: str, normalised: str) -> None:
    assert normalise_model_id(raw) == normalised


def test_an_exact_id_is_found_as_is() -> None:
    price = load_catalog().lookup("openai", "gpt-4o")
    assert price is not None
    assert (price.input, price.cached_input, price.output) == (D("2.50"), D("1.25"), D("10.00"))


def test_a_dated_snapshot_falls_back_to_its_model() -> None:
    assert load_catalog().lookup("openai", "gpt-4o-mini-2024-07-18") == load_catalog().lookup("openai", "gpt-4o-mini")


def test_a_snapshot_priced_apart_keeps_its_own_price() -> None:
    price = load_catalog().lookup("openai", "gpt-4o-2024-05-13")
    assert price is not None and price.input == D("5.00")


def test_aliases_resolve_to_the_same_price() -> None:
    catalog = load_catalog()
    assert catalog.lookup("anthropic", "claude-sonnet-4-0") == catalog.lookup("anthropic", "claude-sonnet-4-20250514")
    assert catalog.lookup("xai", "grok-4") == catalog.lookup("xai", "grok-4-0709")


def test_a_bedrock_region_profile_is_priced_at_the_regional_rate_and_global_apart() -> None:
    catalog = load_catalog()
    regional = catalog.lookup("bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0")
    global_ = catalog.lookup("bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0")
    assert regional is not None and regional.input == D("3.30")
    assert global_ is not None and global_.input == D("3.00")


def test_vertex_finds_both_gemini_and_claude() -> None:
    catalog = load_catalog()
    assert catalog.lookup("vertex", "gemini-2.5-flash") is not None
    assert catalog.lookup("vertex", "claude-opus-4-1@20250805") == catalog.lookup("anthropic", "claude-opus-4-1")


def test_a_model_of_another_provider_type_or_unknown_is_none() -> None:
    catalog = load_catalog()
    assert catalog.lookup("groq", "gpt-4o") is None
    assert catalog.lookup("openai", "gpt-unknown") is None
    assert catalog.lookup("no-such-type", "gpt-4o") is None


# -- cost -----------------------------------------------------------------------------------------------------------

PRICE = Price(
    input=D("3"),
    output=D("15"),
    cached_input=D("0.30"),
    cache_write=D("3.75"),
    reasoning=D("20"),
    batch_discount=D("0.5"),
)


def test_uncached_input_is_charged_at_the_input_price() -> None:
    assert cost(usage(input_tokens=1_000_000), PRICE) == D("3")


def test_cached_tokens_are_charged_at_the_cache_read_price_not_the_input_price() -> None:
    assert cost(usage(input_tokens=1_000, cached_tokens=400), PRICE) == D("0.00192")  # 600×3 + 400×0.30, per 1M


def test_cache_writes_are_charged_at_the_cache_write_price() -> None:
    assert cost(usage(input_tokens=1_000, cache_write_tokens=1_000), PRICE) == D("0.00375")


def test_output_and_reasoning_are_charged_at_their_own_prices() -> None:
    assert cost(usage(output_tokens=1_000, reasoning_tokens=250), PRICE) == D("0.01625")  # 750×15 + 250×20


def test_every_kind_of_token_adds_up_exactly() -> None:
    counts = usage(
        input_tokens=10_007, cached_tokens=3_001, cache_write_tokens=2_003, output_tokens=999, reasoning_tokens=13
    )
    expected = (D(5_003) * 3 + D(3_001) * D("0.30") + D(2_003) * D("3.75") + D(986) * 15 + D(13) * 20) / 1_000_000
    assert cost(counts, PRICE) == expected == D("0.03847055")


def test_missing_cache_and_reasoning_prices_fall_back_to_input_and_output() -> None:
    plain = Price(input=D("2"), output=D("8"))
    counts = usage(
        input_tokens=1_000, cached_tokens=500, cache_write_tokens=100, output_tokens=100, reasoning_tokens=60
    )
    assert cost(counts, plain) == cost(usage(input_tokens=1_000, output_tokens=100), plain) == D("0.0028")


def test_an_embeddings_price_bills_input_only() -> None:
    price = load_catalog().lookup("openai", "text-embedding-3-small")
    assert price is not None
    assert cost(usage(input_tokens=1_000_000), price) == D("0.02")


def test_contradictory_counts_never_cost_less_than_zero() -> None:
    assert cost(usage(input_tokens=10, cached_tokens=20, output_tokens=1, reasoning_tokens=5), PRICE) >= 0


def test_batch_discount_applies_to_the_whole_cost_only_when_asked() -> None:
    counts = usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost(counts, PRICE) == D("18")
    assert cost(counts, PRICE, batch=True) == D("9")


def test_a_batch_call_without_a_known_discount_pays_the_full_price() -> None:
    counts = usage(input_tokens=1_000_000)
    assert cost(counts, Price(input=D("1")), batch=True) == D("1")


def test_the_catalog_batch_discount_reaches_each_model() -> None:
    price = load_catalog().lookup("anthropic", "claude-haiku-4-5")
    assert price is not None and price.batch_discount == D("0.5")
    assert load_catalog().lookup("cerebras", "llama-3.3-70b").batch_discount is None  # type: ignore[union-attr]


# -- tiers ----------------------------------------------------------------------------------------------------------

TIERED = Price(
    input=D("1.25"),
    output=D("10"),
    cached_input=D("0.125"),
    tiers=(PriceTier(200_000, input=D("2.50"), output=D("15"), cached_input=D("0.25")),),
)


def test_a_prompt_at_the_threshold_is_priced_at_the_base_rates() -> None:
    assert cost(usage(input_tokens=200_000, output_tokens=1_000), TIERED) == D("0.26")


def test_a_prompt_over_the_threshold_prices_the_whole_request_at_the_tier() -> None:
    counts = usage(input_tokens=200_001, cached_tokens=100_000, output_tokens=1_000)
    assert cost(counts, TIERED) == (D(100_001) * D("2.50") + D(100_000) * D("0.25") + D(1_000) * 15) / 1_000_000


def test_cached_tokens_count_towards_the_threshold() -> None:
    below = cost(usage(input_tokens=150_000, cached_tokens=0), TIERED)
    above = cost(usage(input_tokens=250_000, cached_tokens=200_000), TIERED)
    assert above == (D(50_000) * D("2.50") + D(200_000) * D("0.25")) / 1_000_000
    assert below == D("0.1875")


def test_the_highest_exceeded_tier_wins() -> None:
    price = Price(input=D("1"), tiers=(PriceTier(10, input=D("2")), PriceTier(20, input=D("3"))))
    assert [price.tier_for(n) for n in (10, 11, 21)] == [None, price.tiers[0], price.tiers[1]]


def test_catalog_tiers_match_the_providers_long_context_rules() -> None:
    catalog = load_catalog()
    sonnet = catalog.lookup("anthropic", "claude-sonnet-4-5-20250929")
    pro = catalog.lookup("gemini", "gemini-2.5-pro")
    assert sonnet is not None and pro is not None
    long_prompt = usage(input_tokens=250_000, output_tokens=2_000)
    assert cost(long_prompt, sonnet) == D("1.545")  # 250K × $6 + 2K × $22.50
    assert cost(long_prompt, pro) == D("0.655")  # 250K × $2.50 + 2K × $15


# -- nano-dollars ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("usd", "nano"),
    [("0", 0), ("1", 1_000_000_000), ("0.0000000005", 1), ("0.0000000004999", 0), ("0.03847055", 38_470_550)],
)
def test_nano_dollars_round_half_up(usd: str, nano: int) -> None:
    assert to_nanousd(D(usd)) == nano


# -- config overrides -----------------------------------------------------------------------------------------------


def test_a_config_override_beats_the_catalog() -> None:
    override = PriceConfig(input=D("1"), output=D("2"))
    table = PriceTable(load_catalog(), {"azure-east/gpt-4o": override})
    assert table.for_deployment("azure-east/gpt-4o", "openai", "gpt-4o") == Price(input=D("1"), output=D("2"))
    assert table.for_deployment("openai/gpt-4o", "openai", "gpt-4o") == load_catalog().lookup("openai", "gpt-4o")


def test_a_deployment_with_neither_override_nor_catalog_price_has_none() -> None:
    assert PriceTable(load_catalog(), {}).for_deployment("local/llama", "ollama", "llama3") is None


def test_price_config_reads_yaml_numbers_exactly() -> None:
    config = PriceConfig.model_validate(
        {
            "input": 0.1,
            "output": 0.3,
            "cached_input": 0.01,
            "batch_discount": 0.5,
            "tiers": [{"above_input_tokens": 128000, "input": 0.2, "output": 0.6}],
        }
    )
    price = Price.from_config(config)
    assert (price.input, price.output, price.cached_input) == (D("0.1"), D("0.3"), D("0.01"))
    assert price.tiers == (PriceTier(128_000, input=D("0.2"), output=D("0.6")),)
    assert cost(usage(input_tokens=3, output_tokens=1), price) == D("0.0000006")


@pytest.mark.parametrize(
    "bad",
    [
        {"input": 1, "outptu": 2},
        {"input": -1},
        {"output": 1},
        {"input": 1, "batch_discount": 1.5},
        {"input": 1, "tiers": [{"above_input_tokens": 2, "input": 1}, {"above_input_tokens": 1, "input": 1}]},
        {"input": 1, "tiers": [{"above_input_tokens": 0, "input": 1}]},
    ],
)
def test_price_config_rejects_what_it_cannot_mean(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PriceConfig.model_validate(bad)


def test_price_config_is_frozen() -> None:
    config = PriceConfig(input=D("1"))
    with pytest.raises(ValidationError):
        config.input = D("2")


# -- the shipped catalog --------------------------------------------------------------------------------------------


def test_every_catalog_entry_is_well_formed() -> None:
    catalog = load_catalog()
    assert set(catalog.families) >= {
        "openai",
        "anthropic",
        "gemini",
        "bedrock",
        "cohere",
        "mistral",
        "groq",
        "deepseek",
        "xai",
        "together",
        "fireworks",
        "cerebras",
        "perplexity",
    }
    for family in catalog.families.values():
        assert family.source.startswith("https://"), family.name
        assert family.provider_types, family.name
        assert family.prices, family.name
        for model, price in family.prices.items():
            rates = [price.input, price.output, price.cached_input, price.cache_write, price.reasoning]
            rates += [r for tier in price.tiers for r in (tier.input, tier.output, tier.cached_input, tier.cache_write)]
            assert all(rate is None or rate >= 0 for rate in rates), model
            per_unit = (
                price.search_units or price.audio_minute or price.characters or price.images or price.video_seconds
            )
            assert price.input > 0 or per_unit, model  # rerank, audio, speech, images: billed per unit
            if "embed" in model or per_unit:
                assert price.output == 0, model
            else:
                assert price.output > 0, model
            if price.cached_input is not None:
                assert price.cached_input <= price.input, model
            assert price.batch_discount is None or 0 < price.batch_discount < 1, model


def test_the_catalog_holds_the_published_decimals_not_floats() -> None:
    price = load_catalog().lookup("openai", "gpt-4.1-nano")
    assert price is not None
    assert isinstance(price.cached_input, Decimal) and str(price.cached_input) == "0.025"


def test_the_shipped_file_parses_to_the_loaded_catalog() -> None:
    raw = json.loads(files("wardgate.usage").joinpath("catalog.json").read_text(encoding="utf-8"), parse_float=D)
    assert Catalog.from_json(raw).families.keys() == load_catalog().families.keys()


def test_a_model_listed_twice_in_a_family_is_refused() -> None:
    data = {
        "about": "",
        "unit": "",
        "families": {
            "x": {
                "provider_types": ["x"],
                "source": "https://x",
                "as_of": "2026-01-01",
                "models": {"a": {"input": 1, "aliases": ["b"]}, "b": {"input": 2}},
            }
        },
    }
    with pytest.raises(ValueError, match="listed twice"):
        Catalog.from_json(data)
