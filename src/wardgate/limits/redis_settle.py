"""Settlements merged per round trip (``ScriptBatcher.merged``): the requests whose settlements queued while a
pipeline was in flight are settled by one ``SETTLE_MANY`` call, grouped by counter.

Each caller still gets the spent total of each of its budgets as if the settlements had run one by one in queue
order (the group's final total less what the later ones in the group added), so a threshold crossed inside a group
is seen by exactly the settlement that crossed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.commands.core import AsyncScript

from wardgate.limits.backend import RateSettlement, Settlement


@dataclass(frozen=True, slots=True)
class SettleItem:
    request_id: str
    budgets: list[Settlement]
    rates: list[RateSettlement]


class MergedSettles:
    """The ``Merge`` of settlements; ``key`` maps a counter's name to its Redis key."""

    def __init__(self, script: AsyncScript, key: Any) -> None:
        self.script = script
        self._key = key

    def pack(self, items: list[Any]) -> tuple[list[str], list[Any]]:
        budgets: dict[str, tuple[dict[str, int], list[float]]] = {}  # key -> (hold id -> release, [ttl, actual])
        rates: dict[str, tuple[dict[str, None], list[int], list[str]]] = {}  # key -> (ids to free, [delta], unused)
        for item in items:
            for b in item.budgets:
                group = budgets.get(b.key)
                if group is None:
                    group = budgets[b.key] = ({}, [0.0, 0])
                holds = group[0]
                before = holds.get(item.request_id)
                # one hold settled twice in a group (a lease's requests): their parts add up; -1 (all) wins
                holds[item.request_id] = -1 if -1 in (before, b.release) else (before or 0) + b.release
                group[1][0] = max(group[1][0], b.ttl_s)
                group[1][1] += b.actual
            for r in item.rates:
                rgroup = rates.get(r.key)
                if rgroup is None:
                    rgroup = rates[r.key] = ({}, [0], [])
                if r.concurrent:
                    rgroup[0][item.request_id] = None
                rgroup[1][0] += r.actual_tokens - r.reserved_tokens
                rgroup[2].extend(r.unused)
        keys = [self._key(k) for k in budgets] + [self._key(k) for k in rates]
        args: list[Any] = [len(budgets), len(rates)]
        for holds, (ttl, actual) in budgets.values():
            args += [ttl, len(holds)]
            for hold_id, release in holds.items():
                args += [hold_id, release]
            args.append(int(actual))
        for ids, (delta,), unused in rates.values():
            args += [delta, len(ids), *ids, len(unused), *unused]
        return keys, args

    def unpack(self, items: list[Any], result: Any) -> list[Any]:
        # the script answers one total per budget key, in the order pack() met them
        order = dict.fromkeys(b.key for item in items for b in item.budgets)
        final = {key: int(total) for key, total in zip(order, result, strict=True)}
        # walk back from the end: each settlement's total is the final one less what came after it
        after = dict.fromkeys(final, 0)
        totals: list[list[int]] = []
        for item in reversed(items):
            totals.append([final[b.key] - after[b.key] for b in item.budgets])
            for b in item.budgets:
                after[b.key] += b.actual
        totals.reverse()
        return totals
