"""The circuit breaker of one deployment: stop sending it calls while it is failing, then let one probe through.

closed ──(N consecutive failures, or an error rate over the health window)──▶ open ──(cooldown over)──▶ half-open
half-open ──(the probe succeeds)──▶ closed;  half-open ──(the probe fails)──▶ open, for twice as long (capped)

A 429 with Retry-After opens it for that long (a cooldown), so no other call is sent where the provider said not to.
With Redis, the end of an open period is merged across workers (the latest wins), so one worker's evidence keeps
every worker away; each worker then sends its own probe. Times are wall-clock seconds, injected by the caller.
"""

from __future__ import annotations

from typing import Any, Literal

from wardgate.config.routing import BreakerConfig
from wardgate.routing.health import Stats

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    __slots__ = (
        "_config",
        "_cooldown",
        "_probing",
        "_since_close",
        "consecutive",
        "name",
        "open_until",
        "opened_total",
        "publish",
        "reason",
        "state",
    )

    def __init__(self, name: str, config: BreakerConfig) -> None:
        self.name = name
        self._config = config
        self.state: BreakerState = "closed"
        self.open_until = 0.0
        self.reason: str | None = None
        self.consecutive = 0
        self.opened_total = 0
        self.publish: float | None = None  # an open period not yet sent to Redis
        self._cooldown = config.cooldown_s
        self._probing = False
        self._since_close = 0  # outcomes since the last close: the error-rate rule waits for min_requests of them

    def allow(self, now: float) -> bool:
        """May a call be sent now? In half-open, the first caller is the probe and later ones are refused until
        its outcome is known: call exactly once per attempt, and report the outcome (or ``release``)."""
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
            self._cooldown = min(self._cooldown * 2, self._config.max_cooldown_s)
            self._open(now, self._cooldown, f"probe failed: {reason}")
            return
        if self.state == "open":
            return
        config = self._config
        if self.consecutive >= config.failures:
            self._open(now, self._cooldown, f"{self.consecutive} consecutive failures ({reason})")
            return
        if self._since_close >= config.min_requests:
            ok, failed = health.counts(now)
            if ok + failed >= config.min_requests and failed / (ok + failed) >= config.error_rate:
                self._open(now, self._cooldown, f"error rate {failed / (ok + failed):.0%} over {health.window_s:g}s")

    def cool_down(self, now: float, seconds: float, reason: str) -> None:
        """Keep calls away for ``seconds`` (a provider's Retry-After), without counting it as a breaker trip."""
        seconds = min(seconds, self._config.max_cooldown_s)
        if seconds > 0 and now + seconds > self.open_until:
            self.state = "open"
            self.open_until = now + seconds
            self.reason = reason
            self._probing = False
            self.publish = self.open_until

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
        self._cooldown = self._config.cooldown_s
        self._probing = False
        self._since_close = 0

    def current_state(self, now: float) -> BreakerState:
        """The state as a caller would find it now (an open period that has ended reads as half-open)."""
        if self.state == "open" and now >= self.open_until:
            return "half_open"
        return self.state

    def snapshot(self, now: float) -> dict[str, Any]:
        state = self.current_state(now)
        return {
            "state": state,
            "open_until": self.open_until if state == "open" else None,
            "reason": self.reason,
            "consecutive_failures": self.consecutive,
            "opened_total": self.opened_total,
        }
