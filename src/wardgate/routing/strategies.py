"""Strategies: each ranks a model's deployments for one call, best first; pure functions of health, price and a
random source, so they are tested without I/O.

The first in the ranking gets the call and the rest are its fall-backs, in order. Ties (equal price, no health data
yet) are broken at random in proportion to the weights, so a strategy never sends a burst to one deployment just
because it is listed first.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wardgate.core.deployment import Deployment
from wardgate.routing.breaker import CircuitBreaker
from wardgate.routing.health import Stats


@dataclass(frozen=True, slots=True, eq=False)
class Target:
    """A deployment as the router sees it: the adapter and its config, plus its shared health and breaker."""

    deployment: Deployment
    health: Stats
    breaker: CircuitBreaker
    weight: float = 1.0
    price: float | None = None  # blended USD per 1M tokens (3 input : 1 output); None when unpriced
    model_class: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.deployment.name


Ranker = Callable[[Sequence[Target], float, bool, random.Random], list[Target]]


def _lottery(target: Target, rng: random.Random) -> float:
    """Efraimidis–Spirakis key: sorting by it, descending, is a weighted sample without replacement."""
    draw = rng.random()
    return draw if target.weight == 1.0 else math.pow(draw, 1.0 / target.weight)


def weighted(targets: Sequence[Target], now: float, stream: bool, rng: random.Random) -> list[Target]:
    """Each deployment first with probability weight / Σ weights."""
    if len(targets) == 1:
        return [targets[0]]
    return sorted(targets, key=lambda t: _lottery(t, rng), reverse=True)


def _by_score(targets: Sequence[Target], score: Callable[[Target], float], rng: random.Random) -> list[Target]:
    return sorted(targets, key=lambda t: (score(t), -_lottery(t, rng)))


def lowest_cost(targets: Sequence[Target], now: float, stream: bool, rng: random.Random) -> list[Target]:
    """Cheapest first by blended price; unpriced deployments last."""
    return _by_score(targets, lambda t: math.inf if t.price is None else t.price, rng)


def lowest_latency(targets: Sequence[Target], now: float, stream: bool, rng: random.Random) -> list[Target]:
    """Fastest first: EWMA TTFT for a stream, EWMA latency otherwise. A deployment without recent data ranks first,
    so it gets measured (optimism under uncertainty) rather than ignored."""

    def score(t: Target) -> float:
        estimate = t.health.latency_estimate(now, stream)
        return 0.0 if estimate is None else estimate

    return _by_score(targets, score, rng)


def highest_success(targets: Sequence[Target], now: float, stream: bool, rng: random.Random) -> list[Target]:
    """Highest success rate over the health window first; no data counts as 100%."""

    def score(t: Target) -> float:
        rate = t.health.success_rate(now)
        return -1.0 if rate is None else -rate

    return _by_score(targets, score, rng)


def least_busy(targets: Sequence[Target], now: float, stream: bool, rng: random.Random) -> list[Target]:
    """Fewest calls in flight (every worker's, with Redis) relative to weight first."""
    return _by_score(targets, lambda t: t.health.busy / t.weight, rng)


RANKERS: dict[str, Ranker] = {
    "weighted": weighted,
    "lowest_cost": lowest_cost,
    "lowest_latency": lowest_latency,
    "highest_success": highest_success,
    "least_busy": least_busy,
    "model_class": weighted,  # the class is chosen first (classifier, key tag, default_class); weighted within it
}


def rank(
    strategy: str,
    targets: Sequence[Target],
    now: float,
    stream: bool,
    rng: random.Random,
    model_class: str | None = None,
) -> list[Target]:
    """The deployments in the order they should be tried. With ``model_class``, that class's deployments come
    first (ranked by the strategy), then the others (ranked the same way) as fall-backs."""
    ranker = RANKERS[strategy]
    if model_class is None:
        return ranker(targets, now, stream, rng)
    preferred = [t for t in targets if t.model_class == model_class]
    if not preferred or len(preferred) == len(targets):
        return ranker(targets, now, stream, rng)
    others = [t for t in targets if t.model_class != model_class]
    return ranker(preferred, now, stream, rng) + ranker(others, now, stream, rng)


def blended_price(input_per_mtok: float, output_per_mtok: float) -> float:
    """One number to compare prices by: three input tokens for every output token, the usual chat mix."""
    return (3 * input_per_mtok + output_per_mtok) / 4
