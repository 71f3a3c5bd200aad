"""The `alerts:` loop of one worker: at every multiple of ``TICK_S`` on the clock it evaluates every alert over its
trailing window, on the ledger every replica shares, and notifies the webhooks of each new episode.

Exactly once across replicas: a firing is one ``alert_events`` row per (alert, series, window index), unique, so
only the replica whose insert won notifies, and only when the window before did not fire too (an episode that goes
on is recorded, not notified again). Every runner evaluates the same instants (the tick grid, not its own start),
so two replicas never read windows that straddle a window index's boundary apart from each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.alerts import detectors, signals
from wardgate.config.telemetry import AlertConfig, SeasonalDetector, ThrottleSpec
from wardgate.core.batching import BatchWriter
from wardgate.store.audit import AuditEntry
from wardgate.store.common import Conflict
from wardgate.store.rate_limits import RateLimitStore
from wardgate.store.tables import alert_events, rate_limits

log = logging.getLogger("wardgate.alerts")
# a spike is seen at most this long after its window shows it; divides 60 s, so baseline windows recur (PastWindows)
TICK_S = 10.0
WEBHOOK_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Fired:
    alert: str
    series: str
    bucket: int
    verdict: detectors.Verdict
    notified: bool


class AlertRunner:
    def __init__(
        self,
        engine: AsyncEngine,
        alerts: Sequence[AlertConfig],
        session: aiohttp.ClientSession,
        models: frozenset[str],
        clock: Callable[[], float] = time.time,
        audit: BatchWriter[AuditEntry] | None = None,
    ) -> None:
        self.engine = engine
        self.audit = audit
        self.alerts = tuple(alerts)
        self.session = session
        self.models = models
        self.clock = clock
        self.sent = 0  # webhook calls that got a 2xx answer
        self.failed = 0
        self._task: asyncio.Task[None] | None = None
        self._down = False
        longest = max((a.window_s for a in self.alerts), default=0)
        self.past = signals.PastWindows(engine, models, keep_s=longest + 2 * TICK_S)

    def start(self) -> None:
        if self._task is None and self.alerts:
            self._task = asyncio.get_running_loop().create_task(self._forever(), name="alerts")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            due = next_tick(self.clock())
            await asyncio.sleep(max(0.0, due - self.clock()))
            try:
                await self.evaluate(due)
                if self._down:
                    self._down = False
                    log.warning("alerts: the store answers again")
            except (SQLAlchemyError, OSError):
                if not self._down:  # one line per outage
                    self._down = True
                    log.warning("alerts: cannot read the ledger; alerts are not evaluated until it answers")

    async def evaluate(self, now: float) -> list[Fired]:
        """Evaluate every alert over [now - window_s, now); returns what fired in this round."""
        fired: list[Fired] = []
        for alert in self.alerts:
            fired += await self._evaluate(alert, now)
            if isinstance(alert.action, ThrottleSpec):
                await self._lift_throttles(alert, alert.action, now)
        self.past.forget(now)
        return fired

    async def _evaluate(self, alert: AlertConfig, now: float) -> list[Fired]:
        end = datetime.fromtimestamp(now, UTC)
        detector = alert.detector
        verdicts: dict[str, detectors.Verdict] = {}
        if isinstance(detector, SeasonalDetector):
            # the alert's window, and its last minute: a sharp rise fires within a tick or two of its start,
            # a slow or thin one (a few errors more than usual) once the whole window shows it
            counts = await self._error_history(alert, end) if alert.signal == "error_rate" else None
            for window in detectors.windows(alert.window_s, alert.signal):
                found = (
                    await self._seasonal(alert, detector, end, window)
                    if counts is None
                    else await self._error_burst(alert, detector, end, window.seconds, counts)
                )
                for series, verdict in found.items():
                    kept = verdicts.get(series)
                    if kept is None or (verdict.firing and not kept.firing):
                        verdicts[series] = verdict
        else:
            current = await signals.window_values(
                self.engine, alert, end - timedelta(seconds=alert.window_s), end, self.models
            )
            verdicts = {series: detectors.threshold(detector, value) for series, value in current.items()}
        bucket = int(now // alert.window_s)
        out = []
        for series, verdict in sorted(verdicts.items()):
            if verdict.firing:
                record = await self._record(alert, series, bucket, verdict, end)
                if record is not None:
                    out.append(record)
                    if record.notified:
                        if isinstance(alert.action, ThrottleSpec):
                            await self._throttle(alert, alert.action, series)
                        await self._notify(alert, series, verdict, end)
        return out

    async def _error_history(self, alert: AlertConfig, end: datetime) -> dict[str, list[tuple[int, int, int]]]:
        """Series → (seconds back, errors, requests) of the alert's window's baseline windows: the baseline rate of
        every window the alert tests (a rate does not depend on the window's length; the longer windows count more)."""
        start = end - timedelta(seconds=alert.window_s)
        history: dict[str, list[tuple[int, int, int]]] = {}
        now = end.timestamp()
        for offset in detectors.baseline_offsets(alert.window_s):
            back = timedelta(seconds=offset)
            trials: dict[str, float] = {}
            past = await self.past.values(alert, start - back, end - back, now, trials)
            for series, rate in past.items():
                n = trials.get(series, 0.0)
                history.setdefault(series, []).append((offset, round(rate * n), round(n)))
        return history

    async def _error_burst(
        self,
        alert: AlertConfig,
        detector: SeasonalDetector,
        end: datetime,
        window_s: int,
        history: dict[str, list[tuple[int, int, int]]],
    ) -> dict[str, detectors.Verdict]:
        trials: dict[str, float] = {}
        start = end - timedelta(seconds=window_s)
        current = await signals.window_values(self.engine, alert, start, end, self.models, trials)
        rise = signals.floor(alert.signal, window_s)
        out = {}
        for series, rate in current.items():
            n = trials.get(series, 0.0)
            counts = history.get(series, [])
            out[series] = detectors.error_burst(detector, round(rate * n), round(n), counts, rise, 60 / TICK_S)
        return out

    async def _seasonal(
        self, alert: AlertConfig, detector: SeasonalDetector, end: datetime, window: detectors.Window
    ) -> dict[str, detectors.Verdict]:
        start = end - timedelta(seconds=window.seconds)
        rows: dict[str, float] = {}  # the rows of each series in the window (a rate's counting noise, a p95's rows)
        current = await signals.window_values(self.engine, alert, start, end, self.models, rows)
        histories: dict[str, list[float]] = {}
        for offset in detectors.baseline_offsets(window.seconds):
            back = timedelta(seconds=offset)
            past = await self.past.values(alert, start - back, end - back, end.timestamp())
            for series in current:
                if series in past:
                    histories.setdefault(series, []).append(past[series])
        floor = signals.floor(alert.signal, window.seconds)
        rate = alert.signal == "error_rate"
        return {
            series: detectors.seasonal(
                detector, value, histories.get(series, []), floor, rows.get(series) if rate else None, window.factor
            )
            if rows.get(series, 0.0) >= window.min_rows
            else detectors.Verdict(False, value)
            for series, value in current.items()
        }

    async def _record(
        self, alert: AlertConfig, series: str, bucket: int, verdict: detectors.Verdict, at: datetime
    ) -> Fired | None:
        """Insert this window's firing; None when another replica (or an earlier tick) already did."""
        async with self.engine.begin() as conn:
            previous = (
                await conn.execute(
                    select(alert_events.c.id).where(
                        alert_events.c.alert == alert.name,
                        alert_events.c.series == series,
                        alert_events.c.bucket == bucket - 1,
                    )
                )
            ).first()
        notified = previous is None
        row = {
            "alert": alert.name,
            "series": series,
            "bucket": bucket,
            "signal": alert.signal,
            "value": verdict.value,
            "baseline": verdict.baseline,
            "score": verdict.score,
            "fired_at": at,
            "notified": notified,
        }
        try:
            async with self.engine.begin() as conn:
                await conn.execute(alert_events.insert().values(**row))
        except IntegrityError:
            return None
        return Fired(alert.name, series, bucket, verdict, notified)

    async def _throttle(self, alert: AlertConfig, action: ThrottleSpec, series: str) -> None:
        """Tighten the scope's rate limit: a rate limit row in the shared store, which every worker and replica
        re-reads (limits.refresh_s), named after the alert and the series; lifted ``for_s`` later."""
        name = throttle_name(alert, series)
        config: dict[str, Any] = {"name": name, "scope": alert.scope, "rpm": action.throttle.rpm}
        if alert.scope != "global":
            config["match"] = series
        try:
            await RateLimitStore(self.engine).create(config)
        except Conflict:  # already there (a throttle still in force): it keeps its start
            return
        self._audit(
            "alert.throttle",
            name,
            {"alert": alert.name, "series": series, "rpm": action.throttle.rpm, "for_s": action.throttle.for_s},
        )

    async def _lift_throttles(self, alert: AlertConfig, action: ThrottleSpec, now: float) -> None:
        prefix = f"{throttle_prefix(alert)}-"
        expired = datetime.fromtimestamp(now - action.throttle.for_s, UTC)
        query = delete(rate_limits).where(rate_limits.c.name.startswith(prefix), rate_limits.c.created_at <= expired)
        async with self.engine.begin() as conn:
            names = [row[0] for row in await conn.execute(query.returning(rate_limits.c.name))]
        for name in names:  # deleted by this replica: audited once
            self._audit("alert.throttle.lift", name, {"alert": alert.name})

    def _audit(self, action: str, target: str, details: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.put(AuditEntry(actor="system", action=action, target=target, details=details))

    async def _notify(self, alert: AlertConfig, series: str, verdict: detectors.Verdict, at: datetime) -> None:
        for target in alert.notify:
            body = alertmanager(alert, series, verdict, at) if target.format == "alertmanager" else None
            payload = body if body is not None else wardgate_payload(alert, series, verdict, at)
            try:
                async with self.session.post(
                    target.webhook,
                    data=orjson.dumps(payload),
                    headers={"content-type": "application/json"},
                    timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT_S),
                ) as response:
                    ok = response.status < 300
            except (aiohttp.ClientError, TimeoutError):
                ok = False
            if ok:
                self.sent += 1
            else:
                self.failed += 1
                log.warning("alerts: webhook of alert %s did not take the notification", alert.name)


def next_tick(now: float) -> float:
    """The first instant of the tick grid (multiples of ``TICK_S`` since the epoch) after ``now``: every runner of
    every replica evaluates the same instants, whatever its start or its clock's skew below a tick."""
    return (math.floor(now / TICK_S) + 1) * TICK_S


def throttle_prefix(alert: AlertConfig) -> str:
    return f"alert-{alert.name}"[:80]


def throttle_name(alert: AlertConfig, series: str) -> str:
    """A rate limit's name (``[A-Za-z0-9_.-]``, ≤ 100): the alert's, and a digest of the series."""
    return f"{throttle_prefix(alert)}-{hashlib.sha256(series.encode()).hexdigest()[:12]}"


def wardgate_payload(alert: AlertConfig, series: str, verdict: detectors.Verdict, at: datetime) -> dict[str, Any]:
    return {
        "alert": alert.name,
        "signal": alert.signal,
        "scope": alert.scope,
        "series": series,
        "value": verdict.value,
        "baseline": verdict.baseline,
        "score": verdict.score,
        "window_s": alert.window_s,
        "detector": alert.detector.type,
        "action": "throttle" if isinstance(alert.action, ThrottleSpec) else "warn",
        "fired_at": at.isoformat(),
    }


def alertmanager(alert: AlertConfig, series: str, verdict: detectors.Verdict, at: datetime) -> list[dict[str, Any]]:
    """Alertmanager's webhook-receiver shape (the body of POST /api/v2/alerts)."""
    labels = {"alertname": alert.name, "signal": alert.signal, "scope": alert.scope, "series": series}
    summary = f"{alert.signal} = {verdict.value:g}"
    if verdict.baseline is not None:
        summary += f" (baseline {verdict.baseline:g}, score {verdict.score:.1f})"
    return [{"labels": labels, "annotations": {"summary": summary}, "startsAt": at.isoformat()}]
