"""Budget values are range-checked where they enter (config file, admin API), and a stored row that is not valid
is skipped with a warning instead of breaking the load."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from wardgate.config.errors import ConfigError
from wardgate.config.limits import BudgetConfig
from wardgate.config.loader import load_config_text
from wardgate.limits.refresh import compile_row
from wardgate.limits.rules import BudgetRule

BURST = {"over": 1, "duration_s": 60}


def budget(**fields: Any) -> dict[str, Any]:
    return {"name": "b", "scope": "global", **fields}


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"limit_usd": 1e300, "burst": BURST}, "at most 100000000"),
        ({"limit_usd": -1}, "greater than 0"),
        ({"limit_usd": 0}, "greater than 0"),
        ({"limit_usd": "NaN"}, "finite number"),
        ({"limit_usd": float("nan")}, "finite number"),
        ({"limit_usd": float("inf")}, "finite number"),
        ({"limit_usd": "0.0000000001"}, "9 decimal places"),
        ({"limit_tokens": 2**70}, "at most 1000000000000000"),
        ({"limit_tokens": 1.5}, "fractional part"),
        ({"limit_tokens": 10, "burst": {"over": float("nan"), "duration_s": 60}}, "burst.over"),
        ({"limit_tokens": 10, "warn_at": [float("inf")]}, "warn_at"),
    ],
)
def test_absurd_budget_values_are_refused_with_the_reason(fields: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BudgetConfig.model_validate(budget(**fields))
    assert fragment in str(caught.value)


def test_the_largest_values_allowed_compile_into_64_bit_counters_even_with_the_widest_burst() -> None:
    for fields in ({"limit_usd": "100000000"}, {"limit_tokens": 10**15}, {"limit_usd": "0.000000001"}):
        rule = BudgetRule.of(BudgetConfig.model_validate(budget(**fields, burst={"over": 10, "duration_s": 1})))
        assert rule.limit > 0 and rule.limit + rule.burst_over < 2**63


def test_a_limit_in_usd_becomes_exact_nano_dollars() -> None:
    rule = BudgetRule.of(BudgetConfig.model_validate(budget(limit_usd="12.345678901")))
    assert rule.limit == 12_345_678_901 and BudgetConfig.model_validate(budget(limit_usd=0.1)).limit_usd == Decimal(
        "0.1"
    )


def test_a_config_file_with_an_absurd_budget_names_the_key_and_the_bound() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(
            "master_key: sk-a-long-master-key\n"
            "budgets:\n  - {name: huge, scope: global, limit_usd: 1e300, burst: {over: 1, duration_s: 5}}\n",
            source="wardgate.yaml",
        )
    assert "wardgate.yaml: budgets[0].limit_usd: must be at most 100000000" in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (["not", "an", "object"], "not a JSON object"),
        (None, "not a JSON object"),
        (budget(limit_usd=1e300, burst=BURST), "at most 100000000"),
        (budget(limit_usd="1", scope="galaxy"), "scope"),
        (budget(), "exactly one of limit_usd and limit_tokens"),
    ],
)
def test_a_stored_row_that_cannot_load_is_reported_not_raised(raw: Any, fragment: str) -> None:
    with pytest.raises(ValueError) as caught:
        compile_row(raw)
    assert fragment in str(caught.value) and len(str(caught.value)) < 1000
