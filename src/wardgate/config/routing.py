"""The `routing:` config section and the routing options of a `models:` entry (schema.py holds the entry itself)."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Strategy = Literal["weighted", "lowest_cost", "lowest_latency", "highest_success", "least_busy", "model_class"]
FailureKind = Literal[
    "rate_limit", "server_error", "timeout", "connection", "stall", "auth", "not_found", "content_policy"
]
DEFAULT_FALLBACK_ON: tuple[FailureKind, ...] = (
    "rate_limit",
    "server_error",
    "timeout",
    "connection",
    "stall",
    "auth",
    "not_found",
)
RETRYABLE: frozenset[FailureKind] = frozenset({"rate_limit", "server_error", "timeout", "connection", "stall"})
_PLUGIN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BreakerConfig(_Frozen):
    """When a deployment stops getting traffic, and how it gets it back (one half-open probe at a time)."""

    failures: Annotated[int, Field(ge=1, le=1000)] = 5  # consecutive failures that open it
    error_rate: Annotated[float, Field(gt=0, le=1)] = 0.5  # …or this share of failures over health.window_s
    min_requests: Annotated[int, Field(ge=1)] = 20  # …once the window holds at least this many outcomes
    cooldown_s: Annotated[float, Field(gt=0, le=3600)] = 30.0  # open period; doubles after each failed probe
    max_cooldown_s: Annotated[float, Field(gt=0, le=86_400)] = 300.0
    rate_limit_cooldown: bool = True  # a 429's Retry-After (capped at max_cooldown_s) cools the deployment down

    @model_validator(mode="after")
    def _ordered(self) -> BreakerConfig:
        if self.max_cooldown_s < self.cooldown_s:
            raise ValueError("max_cooldown_s must be at least cooldown_s")
        return self


class HealthConfig(_Frozen):
    alpha: Annotated[float, Field(gt=0, le=1)] = 0.3  # EWMA weight of the newest latency / TTFT observation
    window_s: Annotated[float, Field(ge=1, le=86_400)] = 60.0  # rolling window of the success rate
    stale_after_s: Annotated[float, Field(gt=0)] = 120.0  # older EWMAs are ignored: the deployment is probed again
    sync_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0  # with `redis:`, how often a worker merges its health


class RoutingConfig(_Frozen):
    """Settings shared by every route: health tracking and the circuit breaker of each deployment."""

    health: HealthConfig = HealthConfig()
    breaker: BreakerConfig = BreakerConfig()


class BackoffConfig(_Frozen):
    """Wait between two attempts on the same deployment: ``base_s × 2^n`` with full jitter, capped at ``max_s``; a
    provider's Retry-After replaces it, unless longer than ``max_retry_after_s`` (then the next deployment is tried)."""

    base_s: Annotated[float, Field(gt=0, le=60)] = 0.25
    max_s: Annotated[float, Field(gt=0, le=300)] = 8.0
    max_retry_after_s: Annotated[float, Field(ge=0, le=600)] = 30.0


class CanaryRollbackConfig(_Frozen):
    """A canary is rolled back when its error rate, or the share of its calls slower than the baseline's p95 plus
    ``p95_margin``, is above what the margin allows with a one-sided binomial test at ``significance``
    (routing/significance.py): the margins say how much worse is too much, the test that it is not noise."""

    enabled: bool = True
    window_s: Annotated[float, Field(ge=10, le=86_400)] = 300.0  # outcomes compared: the last window_s seconds
    min_requests: Annotated[int, Field(ge=1)] = 20  # the canary must have this many before it can be judged
    error_rate_margin: Annotated[float, Field(ge=0, le=1)] = 0.05  # absolute: canary 8% vs baseline 2% is 0.06
    p95_margin: Annotated[float, Field(ge=0)] = 0.5  # relative: 0.5 means a p95 latency 50% above the baseline's
    latency_min_samples: Annotated[int, Field(ge=5, le=1_000_000)] = 50  # latencies each arm needs for the p95 rule
    significance: Annotated[float, Field(gt=0, le=0.5)] = 0.001  # the test's false-rollback rate per judgement


class ClassifierConfig(_Frozen):
    """Scores each prompt's difficulty in [0, 1]: below ``threshold`` it goes to the ``easy`` model class, else to
    ``hard``. ``plugin`` names a class or factory (``package.module:Name``) to use instead of the built-in one."""

    threshold: Annotated[float, Field(ge=0, le=1)] = 0.5
    easy: Annotated[str, Field(min_length=1)]
    hard: Annotated[str, Field(min_length=1)]
    plugin: str | None = None

    @field_validator("plugin")
    @classmethod
    def _plugin(cls, value: str | None) -> str | None:
        if value is not None and not _PLUGIN.match(value):
            raise ValueError(f"{value!r} must be an import path and a name, e.g. mypackage.difficulty:Scorer")
        return value
