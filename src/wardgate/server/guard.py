"""Connection hygiene for one worker: a cap on open connections and a deadline for reading a request's headers.

uvicorn keeps no limit on connections and arms no timer before a connection's first request, so a client that opens
connections and sends nothing, or sends its headers a byte at a time (slowloris), can hold every file descriptor of a
worker, and then even ``/health/live`` goes unanswered. The guard keeps two orders, each maintained with a dict
insert or pop per request (no timer per request):

- ``idle``: connections with no request in the application (new, between two requests, or still sending headers),
  least recently active first. At the cap a new connection closes the first of them: a client holding a connection
  without using it loses it before anyone is refused.
- ``reading``: connections whose request line and headers are under way, by when they began. One timer per worker,
  armed for the oldest of them, closes those past ``header_timeout_s``.

Only when every connection has a request in flight is a new one refused, after a small reserve that only
``/health/*`` may use, so probes are answered even then.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Protocol

HEALTH_RESERVE = 16  # connections past the cap that may only ask /health/*, when no idle one can be closed


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_connections: int  # per worker, already kept under the file-descriptor limit (fds.py)
    header_timeout_s: float
    max_header_bytes: int
    max_headers: int


class Guarded(Protocol):
    def evict(self) -> None:
        """Close now: the cap needs this idle connection's slot."""

    def header_timeout(self) -> None:
        """Close now: the request line and headers took longer than ``header_timeout_s``."""


class Admission(enum.Enum):
    ADMITTED = "admitted"
    HEALTH_ONLY = "health_only"  # in the reserve past the cap: only /health/* is served
    REFUSED = "refused"


class ConnectionGuard:
    """One worker's connections. Single-threaded: called from the event loop's protocol callbacks only."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.open: set[Guarded] = set()
        self.idle: dict[Guarded, None] = {}
        self.reading: dict[Guarded, float] = {}
        self._timer: asyncio.TimerHandle | None = None

    def __reduce__(self) -> tuple[type[ConnectionGuard], tuple[ConnectionLimits]]:
        return ConnectionGuard, (self.limits,)  # each worker process starts with its own, empty guard

    def admit(self, conn: Guarded, now: float) -> Admission:
        admission = Admission.ADMITTED
        if len(self.open) >= self.limits.max_connections:
            victim = next(iter(self.idle), None)
            if victim is not None:
                self.forget(victim)
                victim.evict()
            elif len(self.open) >= self.limits.max_connections + HEALTH_RESERVE:
                return Admission.REFUSED
            else:
                admission = Admission.HEALTH_ONLY
        self.open.add(conn)
        self.idle[conn] = None
        self.reading[conn] = now
        self._arm()
        return admission

    def headers_started(self, conn: Guarded, now: float) -> None:
        """The first bytes of a request arrived on a kept-alive connection."""
        self.idle.pop(conn, None)
        self.idle[conn] = None  # most recently active: evicted last
        self.reading[conn] = now
        self._arm()

    def busy(self, conn: Guarded) -> None:
        """The headers are complete: the request is the application's now."""
        self.idle.pop(conn, None)
        self.reading.pop(conn, None)

    def idle_again(self, conn: Guarded) -> None:
        if conn in self.open:
            self.idle[conn] = None

    def forget(self, conn: Guarded) -> None:
        """The connection is closing: its slot is free."""
        self.open.discard(conn)
        self.idle.pop(conn, None)
        self.reading.pop(conn, None)

    def _arm(self) -> None:
        """One timer for the worker, due when the oldest reader's deadline passes."""
        if self._timer is None:
            since = next(iter(self.reading.values()))
            self._timer = asyncio.get_running_loop().call_at(since + self.limits.header_timeout_s, self._expire)

    def _expire(self) -> None:
        self._timer = None
        reading = self.reading
        if not reading:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() - self.limits.header_timeout_s
        while reading:
            conn, since = next(iter(reading.items()))
            if since > deadline:
                break
            self.forget(conn)
            conn.header_timeout()
        if reading:
            self._arm()
