"""`wardgate_guard_decisions_total{guard,action}`: calls each guard blocked, redacted, warned about or failed on."""

from __future__ import annotations

from collections.abc import Iterable

from wardgate.guards.stage import GuardsStage
from wardgate.observability.metrics import Collector, Sample


def guard_collector(stage: GuardsStage) -> Collector:
    async def collect() -> Iterable[Sample]:
        return [
            Sample(
                "wardgate_guard_decisions_total",
                {"guard": guard, "action": action},
                float(count),
                "calls on which a guard took an action (block, redact, warn; error: the guard itself failed)",
                "counter",
            )
            for (guard, action), count in sorted(stage.decisions.items())
        ]

    return collect
