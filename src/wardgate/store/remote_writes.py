"""The worker's end of its store writer process (``writer_process.py``; decision 063).

The worker's BatchWriters keep their queues, retries, bisection and drain as with the inline writer; only their sink
changes: a batch is pickled as plain tuples (~3 µs a row, ``STEP`` rows per step of the loop), sent over a socket
and awaited until the writer process answers that it committed. Until then the rows stay queued in the worker, so:

- a writer process that dies (killed, crashed) fails the writes in flight with ``ConnectionResetError``, an
  "unreachable store" to the BatchWriter, which backs off and retries; the retry starts a new process. A ledger batch
  retried that way is written as one whose commit may have happened (``LedgerWrites``: no row or roll-up twice);
- stopping drains the BatchWriters through the process, then ``close`` has it sign the audit head and exit.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import subprocess
import sys
from collections.abc import Callable, Container, Sequence
from operator import attrgetter
from typing import Any

from wardgate.store.audit import AuditEntry
from wardgate.store.usage import UsageEvent, event_row
from wardgate.store.writer_process import Opening, frame, read_frame

log = logging.getLogger("wardgate.store.writer")
STEP = 50  # rows pickled per step of the loop: ~0.1-0.2 ms
_AUDIT_ROW = attrgetter("actor", "action", "target", "details", "ts")  # AuditEntry's fields, in order


class StoreWriteRefused(Exception):
    """The writer process reached the store and the store refused the batch (the BatchWriter bisects it)."""


class StoreUnreachable(ConnectionError):
    """The writer process could not reach the store (the BatchWriter keeps the batch and retries)."""


class WriterProcess:
    """Starts the writer process, hands it batches, and starts a new one when it has died."""

    def __init__(self, opening: Opening) -> None:
        self._opening = opening
        self._proc: subprocess.Popen[bytes] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._starting = asyncio.Lock()
        self._closed = False
        self.started = 0  # processes started (1 + restarts)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        async with self._starting:
            if self._writer is not None:
                return
            if self._closed:
                raise ConnectionResetError("the store writer process is closed")
            ours, theirs = socket.socketpair()
            try:  # not the loop's subprocess support: uvloop's keeps every inheritable descriptor open in the child,
                # the worker's listening socket among them (a drained worker's port then kept accepting connections)
                self._proc = await asyncio.to_thread(
                    subprocess.Popen,
                    [sys.executable, "-m", "wardgate.store.writer_process", str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    close_fds=True,
                    stdin=subprocess.DEVNULL,
                )
            finally:
                theirs.close()
            reader, self._writer = await asyncio.open_unix_connection(sock=ours)
            self._writer.write(frame(self._opening))
            self.started += 1
            if self.started > 1:
                log.warning("store writer process restarted (pid %d)", self._proc.pid)
            self._reader_task = asyncio.create_task(self._answers(reader), name="store-writer-answers")

    async def _answers(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                ident, error = await read_frame(reader)
                future = self._pending.pop(ident, None)
                if future is not None and not future.done():
                    future.set_result(error)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the process exited
        finally:
            self._lost()

    def _lost(self) -> None:
        """The process is gone: fail what it had not answered (the BatchWriters retry it) and forget it."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
        pending, self._pending = self._pending, {}
        code = self._proc.poll() if self._proc is not None else None
        if pending and not self._closed:
            log.error("store writer process exited (code %s) with %d writes unanswered; retrying", code, len(pending))
        for future in pending.values():
            if not future.done():
                future.set_exception(ConnectionResetError("the store writer process exited"))
        proc = self._proc
        if proc is not None and proc.poll() is None:  # the socket broke but the process lives: end it
            proc.kill()
        if proc is not None and not self._closed:
            asyncio.get_running_loop().run_in_executor(None, proc.wait)  # reaped, not left a zombie

    async def _request(self, op: str, payload: Any) -> None:
        if self._writer is None:
            await self.start()
        writer = self._writer
        if writer is None:
            raise ConnectionResetError("the store writer process exited")
        self._next_id += 1
        ident = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        writer.write(frame((ident, op, payload)))
        error = await future
        if error is not None:
            summary, unreachable = error
            raise StoreUnreachable(summary) if unreachable else StoreWriteRefused(summary)

    async def insert_events(self, events: Sequence[UsageEvent], maybe_written: Container[str] | None) -> None:
        """``store.usage.insert_events`` in the writer process."""
        chunks = await _pickled(events, event_row)
        suspects = None
        if maybe_written is not None:
            suspects = frozenset(e.request_id for e in events if e.request_id in maybe_written)
        await self._request("ledger", (chunks, suspects))

    async def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        """``AuditLog.append`` in the writer process."""
        await self._request("audit", await _pickled(entries, _AUDIT_ROW))

    async def close(self, timeout_s: float = 30.0) -> None:
        """Have the process sign the audit head and exit (after the BatchWriters have drained through it)."""
        self._closed = True
        proc = self._proc
        if proc is None:
            return
        try:
            if self._writer is not None:
                await asyncio.wait_for(self._request("close", None), timeout_s)
            await asyncio.to_thread(proc.wait, timeout_s)
        except (TimeoutError, subprocess.TimeoutExpired, ConnectionError) as exc:
            log.error("store writer process did not close cleanly (%s); ending it", type(exc).__name__)
            proc.kill()
            await asyncio.to_thread(proc.wait)
        finally:
            if self._reader_task is not None:
                await asyncio.gather(self._reader_task, return_exceptions=True)


async def _pickled(items: Sequence[Any], row: Callable[[Any], tuple[Any, ...]]) -> list[bytes]:
    """``items`` as tuples, pickled ``STEP`` at a time with the loop free in between."""
    chunks = []
    for start in range(0, len(items), STEP):
        if start:
            await asyncio.sleep(0)
        chunks.append(pickle.dumps(list(map(row, items[start : start + STEP])), protocol=pickle.HIGHEST_PROTOCOL))
    return chunks
