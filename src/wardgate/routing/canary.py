"""A model's canary: a candidate deployment that gets a slice of the calls until it is promoted or rolled back.

The slice is sticky: a user (else the end user the request names in ``user``, within its key; else the key) is in
it or not by a hash of their id, salted with the model and the
candidate, so they see one model version throughout, and each canary draws a different slice. Each arm keeps its own
health (attempts on the candidate vs attempts on the baseline deployments), and the canary is rolled back on its
own as soon as its error rate is significantly above the baseline's plus ``error_rate_margin``, or significantly
more than 5% of its latencies are above the baseline's p95 plus ``p95_margin`` (relative): a one-sided binomial test
at ``significance``, once it has ``min_requests`` outcomes (and each arm ``latency_min_samples`` latencies) in the
window. A call of its slice that its open breaker turned away counts as a failure of the canary, so a breaker never
hides a failing canary from this rule (a Retry-After pause does not count). Promotion is one call
(state.py ``promote``). Both are runtime decisions, merged across workers with Redis; the config stays as written
until an operator edits it.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from wardgate.config.routing import CanaryRollbackConfig
from wardgate.routing.health import LATENCY_BOUNDS, Stats
from wardgate.routing.significance import count_above, exceeds
from wardgate.routing.strategies import Target

Arm = Literal["canary", "baseline"]
BREAKER_OPEN = "breaker_open"  # the failure kind of a slice's call that the canary's open breaker turned away
_P95_SHARE = 0.05  # at most this share of a canary no slower than the baseline is above the baseline's p95
CanaryStatus = Literal["active", "rolled_back", "promoted"]
_SCALE = 10_000  # percent is applied in hundredths, so 0.05% is a slice too


def in_slice(salt: str, sticky_id: str, percent: float) -> bool:
    digest = hashlib.blake2b(f"{salt}\x00{sticky_id}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % _SCALE < percent * (_SCALE // 100)


class Canary:
    __slots__ = (
        "arms",
        "changed_at",
        "model",
        "percent",
        "publish",
        "reason",
        "rollback_config",
        "salt",
        "status",
        "sticky",
        "target",
    )

    def __init__(
        self,
        model: str,
        target: Target,
        percent: float,
        sticky: Literal["user", "key"],
        rollback: CanaryRollbackConfig,
        arms: dict[Arm, Stats],
    ) -> None:
        self.model = model
        self.target = target
        self.percent = percent
        self.sticky = sticky
        self.rollback_config = rollback
        self.arms = arms
        self.salt = f"{model}\x00{target.name}"
        self.status: CanaryStatus = "active"
        self.reason: str | None = None
        self.changed_at = 0.0
        self.publish = False  # a status change not yet sent to Redis

    @property
    def key(self) -> str:
        """Identifies this canary (model and candidate) in shared state: a new candidate starts afresh."""
        return f"{self.model}|{self.target.name}"

    def arm_for(self, sticky_id: str) -> Arm:
        if self.status == "promoted":
            return "canary"
        if self.status == "rolled_back":
            return "baseline"
        return "canary" if in_slice(self.salt, sticky_id, self.percent) else "baseline"

    def record(self, arm: Arm, now: float, ok: bool, latency: float | None, kind: str | None) -> None:
        self.arms[arm].record(now, ok, latency=latency, kind=kind)
        if arm == "canary" and self.status == "active" and self.rollback_config.enabled:
            reason = self.verdict(now)
            if reason is not None:
                self.set_status("rolled_back", now, reason)

    def verdict(self, now: float) -> str | None:
        """Why the canary should be rolled back now, or None while it holds up against the baseline."""
        config = self.rollback_config
        canary, baseline = self.arms["canary"], self.arms["baseline"]
        ok, failed = canary.counts(now)
        if ok + failed < config.min_requests:
            return None
        canary_errors = failed / (ok + failed)
        baseline_errors = baseline.error_rate(now) or 0.0
        allowed = min(baseline_errors + config.error_rate_margin, 1.0)
        if exceeds(failed, ok + failed, allowed, config.significance):
            return (
                f"error rate {canary_errors:.1%} vs baseline {baseline_errors:.1%} "
                f"(margin {config.error_rate_margin:.1%}, {failed} of {ok + failed} failed)"
            )
        canary_bins, baseline_bins = canary.histogram(now), baseline.histogram(now)
        if min(sum(canary_bins.values()), sum(baseline_bins.values())) < config.latency_min_samples:
            return None
        baseline_p95 = baseline.p95(now)
        if baseline_p95 is None:
            return None
        slow, samples = count_above(canary_bins, LATENCY_BOUNDS, baseline_p95 * (1 + config.p95_margin))
        if exceeds(slow, samples, _P95_SHARE, config.significance):
            canary_p95 = canary.p95(now) or 0.0
            return (
                f"p95 latency {canary_p95:.3f}s vs baseline {baseline_p95:.3f}s (margin {config.p95_margin:.0%}, "
                f"{slow} of {samples} calls above {baseline_p95 * (1 + config.p95_margin):.3f}s)"
            )
        return None

    def set_status(self, status: CanaryStatus, now: float, reason: str | None) -> None:
        self._change(status, now, reason, now)
        self.publish = True

    def adopt(self, status: CanaryStatus, changed_at: float, reason: str | None, now: float) -> None:
        """A later decision of another worker wins."""
        if changed_at > self.changed_at:
            self._change(status, changed_at, reason, now)

    def _change(self, status: CanaryStatus, changed_at: float, reason: str | None, now: float) -> None:
        if status == "active" and self.status != "active":
            for stats in self.arms.values():  # resumed: judged afresh, not on what it did before
                stats.forget(now)
        self.status = status
        self.reason = reason
        self.changed_at = changed_at

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "model": self.model,
            "deployment": self.target.name,
            "status": self.status,
            "percent": self.percent,
            "sticky": self.sticky,
            "reason": self.reason,
            "changed_at": self.changed_at or None,
            "arms": {arm: stats.snapshot(now) for arm, stats in self.arms.items()},
        }
