"""`GET /metrics` in the Prometheus text format.

Gauges are computed when scraped (budget state is read from its backend then), so the hot path pays nothing.
Each worker answers for itself; with Redis the budget gauges are the same on every worker and replica.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

Labels = dict[str, str]


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Labels
    value: float
    help: str = ""
    kind: str = "gauge"


Collector = Callable[[], Awaitable[Iterable[Sample]]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render(samples: Iterable[Sample]) -> bytes:
    lines: list[str] = []
    described: set[str] = set()
    for s in samples:
        if s.name not in described:
            described.add(s.name)
            if s.help:
                lines.append(f"# HELP {s.name} {s.help}")
            lines.append(f"# TYPE {s.name} {s.kind}")
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
        lines.append(f"{s.name}{{{labels}}} {s.value:g}" if labels else f"{s.name} {s.value:g}")
    return ("\n".join(lines) + "\n").encode()


class Metrics:
    def __init__(self) -> None:
        self._collectors: list[Collector] = []

    def add(self, collector: Collector) -> None:
        self._collectors.append(collector)

    async def scrape(self) -> bytes:
        samples: list[Sample] = []
        for collect in self._collectors:
            samples.extend(await collect())
        samples.sort(key=lambda s: s.name)  # a metric's lines must be contiguous
        return render(samples)
