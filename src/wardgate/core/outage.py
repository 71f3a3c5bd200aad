"""One log line when a backend goes down and one when it recovers, not a traceback per request.

Every edge that talks to a shared backend (Redis, PostgreSQL) reports each failure and each success to the
backend's ``Outage``; only transitions are logged. The state is per process: each worker says it once.
"""

from __future__ import annotations

import logging
import time

_MAX_DETAIL = 200


class Outage:
    """Tracks whether one backend is down and logs only the transitions (bounded lines, no tracebacks)."""

    __slots__ = ("_last_failure", "_log", "_since", "failures", "name", "quiet_s")

    def __init__(self, name: str, log: logging.Logger, *, quiet_s: float = 0.0) -> None:
        self.name = name
        self._log = log
        self._since: float | None = None
        self.failures = 0  # failures during the current outage
        self.quiet_s = quiet_s  # recovered only after this long without a failure (a flapping pool: no line storm)
        self._last_failure = 0.0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        self._last_failure = time.monotonic()
        if self._since is None:
            self._since = time.monotonic()
            detail = f"{type(exc).__name__}: {exc}"[:_MAX_DETAIL]
            self._log.error("%s unavailable (%s); answering 503 until it recovers", self.name, detail)

    def recovered(self) -> None:
        if self._since is not None and time.monotonic() - self._last_failure >= self.quiet_s:
            seconds = time.monotonic() - self._since
            self._log.warning(
                "%s recovered after %.1f s (%d requests failed meanwhile)", self.name, seconds, self.failures
            )
            self._since = None
            self.failures = 0
