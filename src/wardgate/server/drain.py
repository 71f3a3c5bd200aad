"""Graceful drain for one worker: what happens between SIGTERM and the process exiting.

uvicorn does most of it: at SIGTERM (its next 0.1 s tick) it closes the listening socket, so new connections are
refused and readiness probes fail at once; it closes idle kept-alive connections, asks busy ones to close after
their response, waits for the in-flight requests, then runs the lifespan shutdown, which flushes the usage and audit
queues (``Worker.close``). What uvicorn lacks is a clean end: past its ``timeout_graceful_shutdown`` it cancels the
requests and moves on to the shutdown at once, so a stream is cut mid-event and its ledger row may be queued after
the last flush.

So the drain has its own deadline, ``server.drain_timeout_s``, armed when uvicorn asks the first connection to shut
down. Past it, every request still running is cancelled with ``DRAIN_EXPIRED``: the pipeline and the relay turn that
into a 503 ``server_shutting_down`` (core/drain.py), so a stream ends with an error event in its client's shape and
its ledger row is queued, and uvicorn still waits for those requests to answer before the shutdown flushes.
uvicorn's own timeout is kept ``END_GRACE_S`` later, as a backstop for a request that does not end when told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
from types import FrameType

from uvicorn.config import Config
from uvicorn.supervisors.multiprocess import Multiprocess

from wardgate.core.drain import DRAIN_EXPIRED

log = logging.getLogger("wardgate.server")
END_GRACE_S = 5.0  # after the drain timeout: time for cancelled requests to send their error and be accounted


def graceful_shutdown_s(drain_timeout_s: float) -> int:
    """uvicorn's ``timeout_graceful_shutdown`` (whole seconds): the drain, then the grace for its end."""
    return math.ceil(drain_timeout_s + END_GRACE_S)


class Drain:
    """One worker's drain deadline. Picklable (``--workers N`` spawns processes): each worker gets its own."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.draining = False
        self._timer: asyncio.TimerHandle | None = None

    def __reduce__(self) -> tuple[type[Drain], tuple[float]]:
        return Drain, (self.timeout_s,)

    def begin(self, tasks: set[asyncio.Task[None]]) -> None:
        """uvicorn began its shutdown; ``tasks`` is its live set of the worker's request tasks."""
        if self.draining:
            return
        self.draining = True
        log.info("draining: %d requests in flight, %.0f s to finish", len(tasks), self.timeout_s)
        self._timer = asyncio.get_running_loop().call_later(self.timeout_s, self._expire, tasks)

    def _expire(self, tasks: set[asyncio.Task[None]]) -> None:
        running = [task for task in tasks if not task.done()]
        if running:
            log.warning(
                "drain timeout (%.0f s) passed: ending %d requests still in flight with server_shutting_down",
                self.timeout_s,
                len(running),
            )
        for task in running:
            task.cancel(DRAIN_EXPIRED)


class Supervisor(Multiprocess):
    """uvicorn's supervisor of ``--workers N``, which keeps the listening socket open until the last worker exits:
    the kernel would go on completing connections into its backlog that no worker accepts any more, and reset them
    at exit. Closed first here, so a draining server refuses new connections at once."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        # uvicorn only queues a signal here and looks at the queue every 0.5 s; a drain starts at once
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_exit_signal)

    def _on_exit_signal(self, sig: int, frame: FrameType | None) -> None:
        """In the handler, only what is safe there: close the listening socket, pass SIGTERM on. uvicorn's loop
        then handles the queued signal as usual (no pipe is closed and nothing logged here, so a health ping it may
        be in the middle of cannot fail and get a draining worker killed)."""
        self.signal_queue.append(sig)
        for sock in self.sockets:
            sock.close()
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()  # the workers close their copies as their shutdown begins
        super().terminate_all()

    def handle_hup(self) -> None:
        """SIGHUP re-reads the config inside each worker (hot reload), instead of uvicorn's restart of every
        worker process."""
        for process in self.processes:
            if process.pid is not None and process.exitcode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGHUP)
