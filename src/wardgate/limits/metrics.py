"""Prometheus gauges of budget state, and of what keeps the counters exact."""

from __future__ import annotations

from collections.abc import Iterable

from wardgate.core.errors import StoreUnavailable
from wardgate.limits.stage import LimitsStage
from wardgate.limits.state import budget_states
from wardgate.observability.metrics import Collector, Sample


def budget_collector(stage: LimitsStage) -> Collector:
    async def collect() -> Iterable[Sample]:
        out = [
            Sample(
                "wardgate_budget_rows_skipped",
                {},
                float(len(stage.warnings)),
                "budgets in the store that are not valid and are not enforced (see GET /admin/v1/budgets)",
            ),
            Sample(
                "wardgate_budget_counters_rebuilt_total",
                {},
                float(stage.counters.rebuilds),
                "budget counters this worker initialised from the ledger (new window or budget, Redis flush)",
                "counter",
            ),
        ]
        try:
            states = await budget_states(stage)
        except StoreUnavailable:  # Redis down: the state gauges are left out rather than failing the scrape
            return out
        for state in states:
            labels = {
                "budget": state["budget"],
                "scope": state["scope"],
                "scope_value": state["scope_value"],
                "unit": state["unit"],
                "cap": state["cap"],
            }
            for field in ("limit", "spent", "reserved", "remaining"):
                out.append(
                    Sample(
                        f"wardgate_budget_{field}",
                        labels,
                        float(state[field]),
                        f"budget {field} in its unit (USD or tokens), current window",
                    )
                )
        return out

    return collect
