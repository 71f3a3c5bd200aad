"""Which budget window a moment falls in: calendar-aligned in the configured time zone, or a contract period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from wardgate.config.limits import CalendarWindow, ContractPeriod


@dataclass(frozen=True, slots=True)
class Window:
    id: str  # stable name of this window: part of the counter's key
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC: when the budget resets


def window_at(window: CalendarWindow | ContractPeriod, when: datetime, zone: ZoneInfo) -> Window | None:
    """The window containing ``when``; None when a contract period does not cover it (the budget is inactive)."""
    local = when.astimezone(zone)
    if isinstance(window, ContractPeriod):
        start = datetime.combine(window.start, time(), zone)
        end = datetime.combine(window.end, time(), zone)
        if not start <= local < end:
            return None
        return Window(f"c{window.start:%Y%m%d}-{window.end:%Y%m%d}", start.astimezone(UTC), end.astimezone(UTC))
    if window == "minute":
        start = local.replace(second=0, microsecond=0)
        end = start + timedelta(minutes=1)
        wid = f"m{start:%Y%m%d%H%M}"
    elif window == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=1)
        wid = f"h{start:%Y%m%d%H}"
    elif window == "day":
        start = datetime.combine(local.date(), time(), zone)
        end = datetime.combine(local.date() + timedelta(days=1), time(), zone)
        wid = f"d{start:%Y%m%d}"
    elif window == "week":  # ISO weeks start on Monday
        monday = local.date() - timedelta(days=local.weekday())
        start = datetime.combine(monday, time(), zone)
        end = datetime.combine(monday + timedelta(days=7), time(), zone)
        wid = f"w{start:%Y%m%d}"
    else:
        first = local.date().replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        start = datetime.combine(first, time(), zone)
        end = datetime.combine(following, time(), zone)
        wid = f"M{start:%Y%m}"
    # wall-clock arithmetic across a DST change: re-anchor the end in the zone
    end = datetime.combine(end.date(), end.time(), zone) if window not in ("minute", "hour") else end
    return Window(wid, start.astimezone(UTC), end.astimezone(UTC))
