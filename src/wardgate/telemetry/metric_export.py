"""Metric export on the worker's event loop: every ``telemetry.metrics.export_interval_s`` the worker's request
metrics (the GenAI semconv histograms and Wardgate's counters, telemetry/metrics.py) leave as one OTLP/HTTP
``ExportMetricsServiceRequest`` to ``{otlp_endpoint}/v1/metrics``, POSTed through the worker's aiohttp session
(decision 059).

Nothing is added to the request path: the export reads the same series ``/metrics`` renders, once per interval,
after bringing them up to date as a scrape does (``refresh``: the stage's ``process``), so both views show the same
series with the same counts and sums, the `other` series of a full metric included. It reads one metric per loop step
(the loop serves requests between them). Temporality is cumulative, from the worker's start; each worker exports its
own series under its own ``service.instance.id`` (tracing.worker_resource), so a backend can sum the workers as
``/metrics`` does. A collector that is down costs one failed POST per interval, in a task of its own: the data points
are dropped and counted (``dropped``), with one warning per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from time import time_ns
from typing import Any

from wardgate.telemetry.metrics import ExportedMetric
from wardgate.telemetry.otlp_metrics import MetricEncoder
from wardgate.telemetry.tracing import SCOPE, CountingExporter, Send

log = logging.getLogger("wardgate.telemetry")


class MetricExport:
    def __init__(
        self,
        metrics: Sequence[ExportedMetric],
        resource: Mapping[str, Any],
        send: Send,
        interval_s: float,
        refresh: Callable[[], Awaitable[None]],
    ) -> None:
        self.encoder = MetricEncoder(resource, SCOPE, metrics)
        self.exporter = CountingExporter(send, "metric data points")
        self.start_ns = time_ns()  # cumulative series count from here
        self._interval_s = interval_s
        self._refresh = refresh
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one export at a time (the periodic one, a flush, the last one at close)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._every_interval(), name="otlp-metrics")

    async def _every_interval(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.export()
            except Exception:  # a bug in one export must not end the next ones
                log.exception("telemetry: the OTLP metric export failed")

    async def export(self) -> bool:
        """Send every series as it is now (True: the collector took them, or there was nothing to send)."""
        async with self._lock:
            await self._refresh()
            encoder = self.encoder
            fields: list[bytes] = []
            points = 0
            for index in range(len(encoder.metrics)):
                if index:
                    await asyncio.sleep(0)  # one metric (≤ max_series + 1 series) per loop step
                data, n = encoder.metric_field(index, self.start_ns, time_ns())
                if n:
                    fields.append(data)
                    points += n
            if not points:
                return True
            return await self.exporter.export(encoder.request(fields), points)

    async def close(self) -> None:
        """Stop the interval and send the last counts, unless the collector is down (shutdown does not wait for it)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if not self.exporter.down:
            await self.export()
