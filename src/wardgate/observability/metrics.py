"""`GET /metrics` in the Prometheus text format.

Gauges are computed when scraped (budget state is read from its backend then), so the hot path pays nothing.
With several workers (``wardgate serve --workers N``) a scrape reaches one of them, so each worker publishes its
counters to a file in a directory the server shares (``WARDGATE_METRICS_DIR``, a temporary directory ``serve``
makes) every ``PUBLISH_INTERVAL_S``, and the scraped worker sums the counters of all of them (its own read fresh);
a worker that exited keeps its file, so totals never go backwards. Gauges (in flight, EWMAs, breaker state) stay
the scraped worker's own; budget gauges come from their backend and are never summed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

Labels = dict[str, str]
METRICS_DIR_ENV = "WARDGATE_METRICS_DIR"
SUMMED = frozenset({"counter", "histogram"})  # kinds summed over a server's workers (histograms: bucket by bucket)
# other workers' counters lag a scrape by at most this (plus a file write). Each publish is a file written and
# renamed; at 0.1 s that was 7% of a busy worker's samples (py-spy, the Redis full path), for a lag no scrape
# interval notices
PUBLISH_INTERVAL_S = 1.0
log = logging.getLogger("wardgate.metrics")


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Labels
    value: float
    help: str = ""
    kind: str = "gauge"  # gauge | counter | histogram
    family: str = ""  # a histogram's metric name, for its _bucket, _sum and _count samples

    @property
    def metric(self) -> str:
        return self.family or self.name


Collector = Callable[[], Awaitable[Iterable[Sample]]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    """Every digit: a counter of tokens or nano-dollars must read exactly what was counted (``:g`` keeps six)."""
    value = float(value)
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)  # the shortest form that reads back as the same float


def render(samples: Iterable[Sample]) -> bytes:
    lines: list[str] = []
    described: set[str] = set()
    for s in samples:
        metric = s.metric
        if metric not in described:
            described.add(metric)
            if s.help:
                lines.append(f"# HELP {metric} {s.help}")
            lines.append(f"# TYPE {metric} {s.kind}")
        labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(s.labels.items()))
        value = _number(s.value)
        lines.append(f"{s.name}{{{labels}}} {value}" if labels else f"{s.name} {value}")
    return ("\n".join(lines) + "\n").encode()


class WorkerCounters:
    """The counters of every worker of one server, through one small file per worker in a shared directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._file = directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        self._last: bytes | None = None

    def publish(self, samples: Iterable[Sample]) -> None:
        data = orjson.dumps(
            [[s.name, s.labels, s.value, s.help, s.kind, s.family] for s in samples if s.kind in SUMMED]
        )
        if data == self._last:
            return
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, self._file)  # a reader sees the old file or the new one, never half of one
        self._last = data

    def totals(self) -> list[Sample]:
        sums: dict[tuple[str, tuple[tuple[str, str], ...]], list[Any]] = {}
        for path in self.directory.glob("*.json"):
            try:
                rows = orjson.loads(path.read_bytes())
            except (OSError, orjson.JSONDecodeError):  # removed or replaced while listed: skipped this scrape
                continue
            for row in rows:
                # [name, labels, value, help, kind, family]; a file of an older version has only the first four
                name, labels, value, text, kind, family = (*row, "counter", "")[:6] if len(row) == 4 else row
                key = (name, tuple(sorted(labels.items())))
                entry = sums.setdefault(key, [labels, 0.0, text, kind, family])
                entry[1] += value
        return [Sample(name, *rest) for (name, _), rest in sums.items()]


def shared_counters_from_env() -> WorkerCounters | None:
    """Read once, when the app is built: set by ``wardgate serve`` when it runs more than one worker."""
    directory = os.environ.get(METRICS_DIR_ENV)
    if not directory:
        return None
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    return WorkerCounters(path)


class Metrics:
    def __init__(self, shared: WorkerCounters | None = None) -> None:
        self._shared_state: list[Collector] = []  # the same on every worker (read from a shared backend)
        self._per_worker: list[Collector] = []
        self._shared = shared
        self._task: asyncio.Task[None] | None = None

    def add(self, collector: Collector, *, per_worker: bool = True) -> None:
        """``per_worker``: the collector reports this worker's own counts (summed across workers when shared)."""
        (self._per_worker if per_worker else self._shared_state).append(collector)

    async def _collect(self, collectors: Iterable[Collector]) -> list[Sample]:
        samples: list[Sample] = []
        for collect in collectors:
            samples.extend(await collect())
        return samples

    async def scrape(self) -> bytes:
        samples = await self._collect(self._per_worker)
        if self._shared is not None:
            self._shared.publish(samples)
            samples = [s for s in samples if s.kind not in SUMMED] + self._shared.totals()
        samples += await self._collect(self._shared_state)
        samples.sort(key=lambda s: s.metric)  # a metric's lines must be contiguous (stable: a histogram's order kept)
        return render(samples)

    def start(self) -> None:
        if self._shared is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._publish_forever(), name="metrics-publish")

    async def _publish_forever(self) -> None:
        assert self._shared is not None
        while True:
            try:
                self._shared.publish(await self._collect(self._per_worker))
            except OSError:  # the directory went away (server shutting down): the next round tries again
                log.warning("metrics: cannot publish this worker's counters", exc_info=True)
            await asyncio.sleep(PUBLISH_INTERVAL_S)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._shared is not None:
            with contextlib.suppress(OSError):
                self._shared.publish(await self._collect(self._per_worker))  # the last counts survive the worker
