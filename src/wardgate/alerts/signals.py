"""An alert's signal over one window, per series (one per scope value, or the one `match` names), from the ledger.

The ledger is the one source: every replica reads the same rows, so every replica reaches the same verdict.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.config.telemetry import AlertConfig
from wardgate.store.analytics import nearest_rank
from wardgate.store.tables import projects, usage_events

c = usage_events.c
SCOPE_COLUMNS: dict[str, Any] = {
    "project": c.project_id,
    "team": c.team_id,
    "user": c.user_id,
    "key": c.key_id,
    "model": c.model,
}
GLOBAL = ""  # the series of an alert without a scope
# the smallest spread a seasonal score divides by, in the signal's unit (the sums' per FLOOR_WINDOW_S): below it, a
# wobble is not an incident
FLOOR_WINDOW_S = 300
SUMMED = frozenset({"spend_usd", "requests", "tokens", "guard_blocks"})  # scale with the window; rates and p95s do not
FLOORS = {
    "spend_usd": 0.01,
    "requests": 5.0,
    "tokens": 100.0,
    "error_rate": 0.01,
    "ttft_p95": 50.0,
    "latency_p95": 50.0,
    "guard_blocks": 2.0,
}


def floor(signal: str, window_s: int) -> float:
    return FLOORS[signal] * (window_s / FLOOR_WINDOW_S if signal in SUMMED else 1.0)


_P95 = {"ttft_p95": c.ttft_ms, "latency_p95": c.latency_ms}


def _value_columns(signal: str) -> list[Any]:
    if signal == "spend_usd":
        return [func.coalesce(func.sum(c.cost_nanousd), 0).label("v")]
    if signal == "requests":
        return [func.count().label("v")]
    if signal == "tokens":
        return [func.coalesce(func.sum(c.input_tokens + c.output_tokens), 0).label("v")]
    if signal == "error_rate":
        return [func.sum(case((c.status >= 400, 1), else_=0)).label("errors"), func.count().label("v")]
    if signal == "guard_blocks":  # calls a guard refused (error codes guard_*; issue 14)
        return [func.count().label("v")]
    raise AssertionError(signal)


async def window_values(
    engine: AsyncEngine,
    alert: AlertConfig,
    start: datetime,
    end: datetime,
    models: frozenset[str],
    trials: dict[str, float] | None = None,
) -> dict[str, float]:
    """Series → the signal's value over [start, end). A series with no rows has no value (absent). ``trials``, for
    ``error_rate``: filled with each series' request count (the detector's counting noise); for a p95, with each
    series' rows."""
    column = SCOPE_COLUMNS.get(alert.scope)
    keys = [column.label("series")] if column is not None else []
    query: Any
    if alert.signal in _P95:
        query = select(*keys, _P95[alert.signal].label("v")).where(_P95[alert.signal].is_not(None))
    else:
        query = select(*keys, *_value_columns(alert.signal))
        if keys:
            query = query.group_by(*keys)
    query = query.where(c.ts >= start, c.ts < end)
    if alert.signal == "guard_blocks":
        query = query.where(c.error_code.like("guard%"))
    if alert.scope == "model":  # a junk model name a client sent is never a series
        query = query.where(c.model.in_(sorted(models)))
    if column is not None and alert.match is not None:
        if alert.scope == "project":  # by id or by name, as budgets match
            named = select(projects.c.id).where(projects.c.name == alert.match).scalar_subquery()
            query = query.where(or_(column == alert.match, column == named))
        else:
            query = query.where(column == alert.match)
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).mappings().all()
    if alert.signal in _P95:
        groups: dict[str, list[int]] = defaultdict(list)
        for row in rows:
            groups[_series(row, keys)].append(int(row["v"]))
        if trials is not None:
            trials.update((k, float(len(v))) for k, v in groups.items())
        return {k: float(nearest_rank(v, 0.95) or 0) for k, v in groups.items()}
    out: dict[str, float] = {}
    for row in rows:
        if row["v"] is None:
            continue
        if alert.signal == "error_rate":
            if row["v"]:
                out[_series(row, keys)] = float(row["errors"] or 0) / float(row["v"])
                if trials is not None:
                    trials[_series(row, keys)] = float(row["v"])
        elif alert.signal == "spend_usd":
            out[_series(row, keys)] = int(row["v"]) / 1e9
        else:
            out[_series(row, keys)] = float(row["v"])
    if not keys and alert.signal in ("requests", "spend_usd", "tokens", "guard_blocks"):
        out.setdefault(GLOBAL, 0.0)
    return out


def _series(row: Any, keys: list[Any]) -> str:
    if not keys:
        return GLOBAL
    value = row["series"]
    return "" if value is None else str(value)[:300]


PAST_S = 86_400  # a window that ended this long ago is not written to any more: its values can be kept


class PastWindows:
    """Values of an alert's baseline windows, kept for the ticks that read them again.

    Every baseline window lies a week or more back, where the ledger no longer changes, and its offset is a multiple
    of its length; on a tick grid that divides the window, the window one tick reads k windows back is the one a
    tick ``window_s`` later reads k - 1 back. So each round queries only the newest baseline window of each week
    (4 instead of 20 a window length), which is what makes a short tick cheap: on a p95 signal the 20 windows are
    every row's TTFT of 20 windows. An entry not read for ``keep_s`` is dropped.
    """

    def __init__(self, engine: AsyncEngine, models: frozenset[str], keep_s: float) -> None:
        self.engine = engine
        self.models = models
        self.keep_s = keep_s
        self._entries: dict[tuple[Any, ...], tuple[float, dict[str, float], dict[str, float]]] = {}
        self.queries = 0  # windows read from the ledger (the others came from here)

    def __len__(self) -> int:
        return len(self._entries)

    async def values(
        self, alert: AlertConfig, start: datetime, end: datetime, now: float, trials: dict[str, float] | None = None
    ) -> dict[str, float]:
        """``window_values`` over [start, end), from the ledger once, then from here."""
        key = (alert.name, alert.signal, alert.scope, alert.match, start.timestamp(), end.timestamp())
        kept = self._entries.get(key)
        if kept is None:
            counts: dict[str, float] = {}
            self.queries += 1
            found = await window_values(self.engine, alert, start, end, self.models, counts)
            kept = (now, found, counts)
            if end.timestamp() <= now - PAST_S:
                self._entries[key] = kept
        else:
            self._entries[key] = (now, kept[1], kept[2])
        if trials is not None:
            trials.update(kept[2])
        return kept[1]

    def forget(self, now: float) -> None:
        """Drop the windows no tick has read for ``keep_s``."""
        cut = now - self.keep_s
        for key in [k for k, (used, _, _) in self._entries.items() if used < cut]:
            del self._entries[key]
