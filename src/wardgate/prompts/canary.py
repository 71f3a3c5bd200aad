"""Pure canary logic: which arm a caller lands in (the same on every replica, no shared state), and whether the
canary's outcomes over the window breach the rollback margins against control."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Literal

Variant = Literal["control", "canary"]
# TTFT histogram: upper edges in ms; the last bucket is everything slower
TTFT_EDGES_MS: tuple[float, ...] = (
    1, 2, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000, 60000,
)  # fmt: skip
_SCALE = 1_000_000
Z_MIN = 3.0  # the error-rate gap must also be this many standard errors wide: an A/A run never rolls back


def arm(canary_id: str, sticky: str, percent: float) -> Variant:
    """Deterministic: the same canary run and caller give the same arm on every replica."""
    digest = hashlib.blake2b(f"{canary_id}\0{sticky}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return "canary" if int.from_bytes(digest) % _SCALE < percent * (_SCALE // 100) else "control"


def ttft_bucket(ms: float) -> int:
    for i, edge in enumerate(TTFT_EDGES_MS):
        if ms <= edge:
            return i
    return len(TTFT_EDGES_MS)


@dataclass(slots=True)
class ArmStats:
    n: int = 0
    errors: int = 0
    cost: int = 0  # nano-USD
    ttft: list[int] = field(default_factory=lambda: [0] * (len(TTFT_EDGES_MS) + 1))

    def add(self, other: ArmStats) -> None:
        self.n += other.n
        self.errors += other.errors
        self.cost += other.cost
        for i, c in enumerate(other.ttft):
            self.ttft[i] += c

    @property
    def error_rate(self) -> float:
        return self.errors / self.n if self.n else 0.0

    def ttft_p95(self) -> float:
        """The upper edge of the bucket holding the 95th percentile."""
        wanted, seen = math.ceil(0.95 * sum(self.ttft)), 0
        for i, c in enumerate(self.ttft):
            seen += c
            if c and seen >= wanted:
                return TTFT_EDGES_MS[i] if i < len(TTFT_EDGES_MS) else math.inf
        return 0.0

    def view(self) -> dict[str, Any]:
        return {
            "requests": self.n,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "ttft_p95_ms": self.ttft_p95(),
            "cost_per_request_usd": self.cost / self.n / 1e9 if self.n else 0.0,
        }


@dataclass(frozen=True, slots=True)
class RollbackRule:
    window_s: float = 300.0
    min_requests: int = 100
    error_rate_margin: float | None = 0.05  # absolute: 0.05 is 5 percentage points
    ttft_p95_margin: float | None = None  # relative: 0.2 is 20 % slower
    cost_margin: float | None = None  # relative: 0.2 is 20 % dearer per request

    @classmethod
    def of(cls, raw: dict[str, Any]) -> RollbackRule:
        return cls(**raw)


def judge(rule: RollbackRule, control: ArmStats, canary: ArmStats) -> str | None:
    """Why the canary must be rolled back, or None. Both arms need ``min_requests`` in the window."""
    if control.n < rule.min_requests or canary.n < rule.min_requests:
        return None
    if rule.error_rate_margin is not None:
        gap = canary.error_rate - control.error_rate
        if gap > rule.error_rate_margin and _significant(control, canary, gap):
            return (
                f"error rate {canary.error_rate:.2%} against control's {control.error_rate:.2%} "
                f"(margin {rule.error_rate_margin:.2%})"
            )
    if rule.ttft_p95_margin is not None:
        ours, theirs = canary.ttft_p95(), control.ttft_p95()
        if ours > theirs * (1 + rule.ttft_p95_margin):
            return f"TTFT p95 {ours} ms against control's {theirs} ms (margin {rule.ttft_p95_margin:.0%})"
    if rule.cost_margin is not None:
        ours_c, theirs_c = canary.cost / canary.n, control.cost / control.n
        if ours_c > theirs_c * (1 + rule.cost_margin) and ours_c > 0:
            return (
                f"cost per request ${ours_c / 1e9:.6f} against control's ${theirs_c / 1e9:.6f} "
                f"(margin {rule.cost_margin:.0%})"
            )
    return None


def _significant(control: ArmStats, canary: ArmStats, gap: float) -> bool:
    pooled = (control.errors + canary.errors) / (control.n + canary.n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / canary.n))
    return se == 0 or gap / se >= Z_MIN
