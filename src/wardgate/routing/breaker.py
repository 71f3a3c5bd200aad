"""The circuit breaker of one deployment: stop sending it calls while it is failing, then let one probe through.

closed ──(N consecutive failures, or an error rate over the health window)──▶ open ──(cooldown over)──▶ half-open
half-open ──(the probe succeeds)──▶ closed;  half-open ──(the probe fails)──▶ open, for twice as long (capped)

A 429 with Retry-After pauses it for exactly that long (capped at ``max_cooldown_s``): no call is sent where the
provider said not to, and none is held back after. A pause is not a trip: it neither counts as a failure nor doubles
a cooldown, and when it ends calls flow again at once (no half-open probe). With Redis, the ends of open periods and
of pauses are merged across workers (the latest wins), so one worker's evidence keeps every worker away; each worker
then sends its own probe. Times are wall-clock seconds, injected by the caller.
"""

from __future__ import annotations

from typing import Any, Literal

from wardgate.config.routing import BreakerConfig
from wardgate.routing.health import Stats

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    __slots__ = (
        "_cooldown",
        "config",
        "_probing",
        "_since_close",
        "consecutive",
        "name",
        "open_until",
        "opened_total",
        "pause_reason",
        "paused_until",
        "publish",
        "publish_pause",
        "reason",
        "state",
    )

    def __init__(self, name: str, config: BreakerConfig) -> None:
        self.name = name
        self.config = config
        self.state: BreakerState = "closed"
        self.open_until = 0.0
        self.reason: str | None = None
        self.consecutive = 0
        self.opened_total = 0
        self.publish: float | None = None  # an open period not yet sent to Redis
        self.paused_until = 0.0  # a provider's Retry-After: no call before then, and nothing else changes
        self.pause_reason: str | None = None
        self.publish_pause: float | None = None  # a pause not yet sent to Redis
        self._cooldown = config.cooldown_s
        self._probing = False
        self._since_close = 0  # outcomes since the last close: the error-rate rule waits for min_requests of them

    def allow(self, now: float) -> bool:
        """May a call be sent now? In half-open, the first caller is the probe and later ones are refused until
        its outcome is known: call exactly once per attempt, and report the outcome (or ``release``)."""
        if now < self.paused_until:
            return False
        if self.state == "closed":
            return True
        if self.state == "open":
            if now < self.open_until:
                return False
            self.state = "half_open"
            self._probing = False
        if self._probing:
            return False
        self._probing = True
        return True

    def release(self) -> None:
        """The allowed call ended without an outcome (the client left): let the next caller probe."""
        self._probing = False

    def on_success(self) -> None:
        self.consecutive = 0
        self._since_close += 1
        if self.state != "closed":
            self._close()

    def on_failure(self, now: float, health: Stats, reason: str) -> None:
        self.consecutive += 1
        self._since_close += 1
        if self.state == "half_open":
            self._cooldown = min(self._cooldown * 2, self.config.max_cooldown_s)
            self._open(now, self._cooldown, f"probe failed: {reason}")
            return
        if self.state == "open":
            return
        config = self.config
        if self.consecutive >= config.failures:
            self._open(now, self._cooldown, f"{self.consecutive} consecutive failures ({reason})")
            return
        if self._since_close >= config.min_requests:
            ok, failed = health.counts(now)
            if ok + failed >= config.min_requests and failed / (ok + failed) >= config.error_rate:
                self._open(now, self._cooldown, f"error rate {failed / (ok + failed):.0%} over {health.window_s:g}s")

    def reconfigure(self, config: BreakerConfig) -> None:
        """A reloaded config: new thresholds apply from the next outcome; the current state is kept."""
        if config != self.config:
            self.config = config
            self._cooldown = min(max(self._cooldown, config.cooldown_s), config.max_cooldown_s)

    def cool_down(self, now: float, seconds: float, reason: str) -> None:
        """Keep calls away for exactly ``seconds`` (a provider's Retry-After, capped at ``max_cooldown_s``). Not a
        trip: the state, the consecutive failures and the cooldown stay as they were, so nothing escalates."""
        seconds = min(seconds, self.config.max_cooldown_s)
        if seconds > 0 and now + seconds > self.paused_until:
            self.paused_until = now + seconds
            self.pause_reason = reason
            self.publish_pause = self.paused_until
        if self.state == "half_open":
            self._probing = False  # the probe ended without a verdict: the next caller after the pause probes

    def paused(self, now: float) -> bool:
        """Held back by a provider's Retry-After (rather than by failures)."""
        return now < self.paused_until

    def adopt_pause(self, paused_until: float, now: float, reason: str | None) -> None:
        """Another worker was told to wait until ``paused_until``."""
        if paused_until > now and paused_until > self.paused_until:
            self.paused_until = paused_until
            self.pause_reason = reason or "rate limited (another worker)"

    def adopt(self, open_until: float, now: float, reason: str | None) -> None:
        """Another worker opened this breaker until ``open_until``."""
        if open_until > now and open_until > self.open_until:
            self.state = "open"
            self.open_until = open_until
            self.reason = reason or "opened by another worker"
            self._probing = False

    def _open(self, now: float, seconds: float, reason: str) -> None:
        self.state = "open"
        self.open_until = now + seconds
        self.reason = reason
        self.opened_total += 1
        self._probing = False
        self.publish = self.open_until

    def _close(self) -> None:
        self.state = "closed"
        self.reason = None
        self._cooldown = self.config.cooldown_s
        self._probing = False
        self._since_close = 0

    def current_state(self, now: float) -> BreakerState:
        """The state as a caller would find it now (an open period that has ended reads as half-open)."""
        if self.state == "open" and now >= self.open_until:
            return "half_open"
        return self.state

    def snapshot(self, now: float) -> dict[str, Any]:
        state = self.current_state(now)
        paused = self.paused(now)
        open_until = self.open_until if state == "open" else None
        if paused and (open_until is None or self.paused_until > open_until):
            state, open_until = "open", self.paused_until  # held back either way; the reason says which
        return {
            "state": state,
            "open_until": open_until,
            "paused_until": self.paused_until if paused else None,
            "reason": self.pause_reason if paused and open_until == self.paused_until else self.reason,
            "consecutive_failures": self.consecutive,
            "opened_total": self.opened_total,
        }
