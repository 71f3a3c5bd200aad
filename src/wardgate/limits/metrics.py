"""Prometheus gauges of budget state."""

from __future__ import annotations

from collections.abc import Iterable

from wardgate.limits.stage import LimitsStage
from wardgate.limits.state import budget_states
from wardgate.observability.metrics import Collector, Sample


def budget_collector(stage: LimitsStage) -> Collector:
    async def collect() -> Iterable[Sample]:
        out = []
        for state in await budget_states(stage):
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
