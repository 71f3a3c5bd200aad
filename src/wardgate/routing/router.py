"""One weighted draw over a model's deployments (the single pick; strategies.py ranks them all for fall-backs)."""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Sequence
from itertools import accumulate

from wardgate.core.deployment import Deployment


class WeightedChoice:
    """Pick a deployment with probability proportional to its weight (one draw, O(log n))."""

    __slots__ = ("_cumulative", "_deployments", "_total")

    def __init__(self, deployments: Sequence[Deployment]) -> None:
        self._deployments = tuple(deployments)
        self._cumulative = tuple(accumulate(d.weight for d in deployments))
        self._total = self._cumulative[-1]

    def pick(self) -> Deployment:
        if len(self._deployments) == 1:
            return self._deployments[0]
        return self._deployments[bisect(self._cumulative, random.random() * self._total)]
