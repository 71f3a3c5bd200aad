"""The store writer process: a worker's ledger and audit batches written by a child process of their own
(``ledger.writer: process``, decision 063).

A worker hands each batch over a socket as plain tuples, pickled; this process turns them into the driver's rows,
folds the roll-ups, computes the audit chain's MACs and runs the statements, so none of that CPU (nor the SQLite
driver thread's GIL holds) is spent on the worker's event loop. It is the same code as the inline writer
(``insert_events``, ``AuditLog``), only in another process: the chain is ordered by the store's lock as before.

Protocol (``remote_writes.py`` is the other end): frames of a 4-byte big-endian length and a pickle. The first frame
is the ``Opening``; then requests ``(id, op, payload)`` with ``op`` one of ``"ledger"``, ``"audit"``, ``"close"``,
each answered ``(id, None)`` when committed or ``(id, (summary, unreachable))`` when it failed. ``close`` signs the
audit head, closes the store and is answered last. End of input (the worker is gone) closes the same way; SIGINT and
SIGTERM are ignored, so a signal sent to the whole process group cannot end it before its worker has drained.

Run as ``python -m wardgate.store.writer_process FD`` with the socket inherited as file descriptor ``FD``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import signal
import socket
import struct
import sys
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("wardgate.store.writer")
HEADER = struct.Struct(">I")
LedgerRow = tuple[Any, ...]  # a UsageEvent's fields, in declaration order
AuditRow = tuple[Any, ...]  # an AuditEntry's fields, in declaration order


@dataclass(frozen=True, slots=True)
class Opening:
    """What the writer needs of the worker's settings (sent on the socket: the audit key never is in argv or env)."""

    store: str
    audit_key: bytes | None
    checkpoint_interval_s: float
    nice: int


def frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(body)) + body


async def read_frame(reader: asyncio.StreamReader) -> Any:
    """The next message; raises ``asyncio.IncompleteReadError`` at the end of input."""
    size = HEADER.unpack(await reader.readexactly(HEADER.size))[0]
    return pickle.loads(await reader.readexactly(size))  # noqa: S301  # our own worker, over a private socketpair


async def serve(sock: socket.socket) -> None:
    from wardgate.core.batching import error_summary, unreachable
    from wardgate.store.audit import AuditEntry, AuditLog
    from wardgate.store.driver_insert import prepare_every
    from wardgate.store.engine import create_engine
    from wardgate.store.usage import UsageEvent, insert_events

    reader, writer = await asyncio.open_unix_connection(sock=sock)
    opening: Opening = await read_frame(reader)
    if opening.nice:
        os.nice(opening.nice)  # the worker's requests come first; the writes only have to keep up
    engine = create_engine(opening.store)
    prepare_every(engine.dialect)
    audit_log = AuditLog(engine, opening.audit_key, checkpoint_interval_s=opening.checkpoint_interval_s)
    audit_log.start()

    async def handle(ident: int, op: str, payload: Any) -> None:
        try:
            if op == "ledger":
                rows, maybe_written = payload
                events = [UsageEvent(*row) for chunk in rows for row in pickle.loads(chunk)]  # noqa: S301
                await insert_events(engine, events, maybe_written)
            elif op == "audit":
                await audit_log.append([AuditEntry(*row) for chunk in payload for row in pickle.loads(chunk)])  # noqa: S301
            else:
                raise ValueError(f"unknown request {op!r}")
        except Exception as exc:  # any failure goes back to the worker's BatchWriter, which retries or bisects
            writer.write(frame((ident, (error_summary(exc), unreachable(exc)))))
        else:
            writer.write(frame((ident, None)))

    tasks: set[asyncio.Task[None]] = set()
    closing: int | None = None
    try:
        while True:
            try:
                ident, op, payload = await read_frame(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                break  # the worker is gone: finish what was asked, then close
            if op == "close":
                closing = ident
                break
            task = asyncio.create_task(handle(ident, op, payload))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
    finally:
        await audit_log.close()  # the final head, signed
        await engine.dispose()
        if closing is not None:
            writer.write(frame((closing, None)))
            await writer.drain()
        writer.close()


def main() -> None:
    # a Ctrl-C in the terminal, or a service manager signalling every process of the group, reaches this process
    # too: it ends when its worker says so (close) or is gone (end of input), after the worker's queues have drained
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s[%(process)d]: %(message)s")
    sock = socket.socket(fileno=int(sys.argv[1]))
    try:
        import uvloop

        uvloop.run(serve(sock))
    except ImportError:  # uvloop is optional: the standard loop works the same
        asyncio.run(serve(sock))


if __name__ == "__main__":
    main()
